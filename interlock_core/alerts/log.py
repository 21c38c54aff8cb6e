"""The log channel: one line per event on the ``interlock.alerts`` logger."""

import logging

from interlock_core.alerts.format import headline, is_severe
from interlock_core.events import Event
from interlock_core.redaction import printable

ALERT_LOGGER = "interlock.alerts"


class LogChannel:
    """Writes each event as one log line; never fails.

    Severe events (the red ones) are logged at WARNING, the rest at INFO, so a default
    ``logging`` setup still shows what needs an operator.
    """

    def __init__(self, name: str = "log", *, logger: logging.Logger | None = None) -> None:
        """Create the channel.

        Args:
            name: the channel's name in the alert config.
            logger: the logger to write to (default: ``interlock.alerts``).
        """
        self._name = name
        self._logger = logger or logging.getLogger(ALERT_LOGGER)

    @property
    def name(self) -> str:
        """The channel's name in the alert config."""
        return self._name

    def send(self, events: list[Event]) -> None:
        """Log every event of ``events`` (a digest is logged event by event)."""
        for event in events:
            try:
                level = logging.WARNING if is_severe(event.type) else logging.INFO
                self._logger.log(
                    level,
                    "alert %s: %s",
                    printable(headline(event, mrkdwn=False)),
                    # File names and job output reach messages: no raw ESC or newline in
                    # the operator's log (a forged line, a cleared terminal).
                    printable(event.message),
                    extra={"alert_event": event.to_dict()},
                )
            except Exception:  # noqa: S110 (a log channel that can fail would need alerts itself)
                pass
