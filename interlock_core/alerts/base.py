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
