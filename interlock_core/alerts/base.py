"""The alert port: where published events go besides the event log."""

from typing import Protocol

from interlock_core.events import Event


class AlertSink(Protocol):
    """Receives every published event; must never raise into the lifecycle or block it."""

    def publish(self, event: Event) -> None:
        """Hand over one event for delivery."""
        ...


class NullAlerts:
    """Drops every event (tests, and runtimes with no channels configured)."""

    def publish(self, event: Event) -> None:
        """Ignore ``event``."""


class CollectingAlerts:
    """Keeps every event in a list (tests, the demo)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        """Remember ``event``."""
        self.events.append(event)


class DeliveryError(Exception):
    """A channel could not deliver a message.

    The message must never contain a secret (token, signing secret, or a URL that may embed
    one): it is logged and ends up in ``ALERT_DEAD_LETTERED`` events.

    Attributes:
        retry_after: seconds the receiver asked us to wait (HTTP ``Retry-After``), if any.
        retryable: whether trying again later can succeed (timeouts, 429, 5xx); ``False`` for
            failures that will repeat (4xx, a missing environment variable), which are
            dead-lettered without retries.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.retryable = retryable


class AlertChannel(Protocol):
    """One destination for alerts (Slack, a webhook, the log).

    A channel is only ever called from one thread at a time (its dispatcher worker).
    """

    @property
    def name(self) -> str:
        """The channel's name in the alert config (used in logs and dead-letter reasons)."""
        ...

    def send(self, events: list[Event]) -> None:
        """Deliver ``events`` as one message: one event, or several as a digest.

        Raises:
            DeliveryError: the message was not delivered.
        """
        ...
