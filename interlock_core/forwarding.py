"""Alert forwarding: the store's event log, from every process, to the alert channels.

``interlock emit`` opening a run, an orchestrator's ``interlock report ... failed``, a rerun
from the CLI: they all land in the store's event log, not in the controller's process. Every
controller reads the log, prints each new event on its console, and delivers it to the
channels only if it wins that event's put-if-absent marker ``alerted#<event id>``, so several
controllers on one store send each alert once.

Markers are claimed a batch at a time (:meth:`Store.put_markers`, one transaction), then the
batch's won events are published. A crash after a batch's claim committed and before its
events reached the channels drops those alerts (at most :data:`BATCH_SIZE` of them); the
per-event claim this replaces dropped at most one. Publishing is in-process (the dispatcher
queues), so that window is short; the batch bound keeps the worst case bounded.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from interlock_core.alerts.base import AlertSink
from interlock_core.engine import Interlock
from interlock_core.events import Event

log = logging.getLogger("interlock.forwarding")

# Markers claimed per transaction: bounds what a crash between claim and publish can drop.
BATCH_SIZE = 500
MARKER_PREFIX = "alerted#"


def marker_name(event: Event) -> str:
    """The name of the put-if-absent marker that decides who delivers ``event``."""
    return f"{MARKER_PREFIX}{event.id}"


class AlertForwarder:
    """Forwards the event log to the alert channels — events from every process.

    Every runtime reads the log, prints each new event on its console, and delivers it to
    the channels only if it wins that event's put-if-absent marker, so several
    ``interlock run`` processes on one store send each alert once.

    Args:
        engine: whose store holds the log.
        console: where every new event is printed (None: nowhere).
        channels: the alert dispatcher (deduplicated delivery).
        replay: at start, events this recent are (re)considered — markers stop repeats.
        overlap: how far back each pass looks again, for writers whose clocks or ids lag.
        batch_size: markers claimed per transaction (see the module's note on crashes).
    """

    MARKER_TTL = timedelta(days=7)

    def __init__(
        self,
        engine: Interlock,
        console: AlertSink | None,
        channels: AlertSink,
        *,
        replay: timedelta = timedelta(hours=1),
        overlap: timedelta = timedelta(seconds=10),
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.engine = engine
        self.console = console
        self.channels = channels
        self.overlap = overlap
        self.batch_size = batch_size
        self._since = engine.clock.now() - replay
        self._seen: dict[str, None] = {}
        self._started = engine.clock.now()

    def pump(self) -> int:
        """Forward every event not seen yet; returns how many were new."""
        now = self.engine.clock.now()
        events = self.engine.store.query_events(since=self._since)
        fresh = [event for event in events if event.id not in self._seen]
        for start in range(0, len(fresh), self.batch_size):
            self._forward(fresh[start : start + self.batch_size], now)
        if events:
            self._since = max(self._since, events[-1].at - self.overlap)
        while len(self._seen) > 50_000:  # bounded: the oldest ids are long out of the window
            self._seen.pop(next(iter(self._seen)))
        return len(fresh)

    def _forward(self, batch: Sequence[Event], now: datetime) -> None:
        """Claim the markers of ``batch`` in one transaction, then print and deliver.

        Nothing of the batch counts as seen before the claim returned: a failed claim is
        simply tried again next pass (the markers make that safe).
        """
        won = self.engine.store.put_markers(
            [(event.pipeline_id, marker_name(event)) for event in batch],
            now,
            expires_at=now + self.MARKER_TTL,
        )
        failure: Exception | None = None
        for event in batch:
            self._seen[event.id] = None
            if self.console is not None and event.at >= self._started:
                self.console.publish(event)
            if (event.pipeline_id, marker_name(event)) not in won:
                continue
            try:
                self.channels.publish(event)
            except Exception as exc:  # one bad publish must not drop the rest of the batch
                log.warning("alert %s for %r not published: %s", event.type.value, event.id, exc)
                failure = failure or exc
        if failure is not None:
            raise failure
