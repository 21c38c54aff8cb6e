"""One row of the SQLite event log this version cannot read never blinds its readers."""

import io
import json
import sqlite3
from pathlib import Path

from interlock_core.alerts.base import AlertSink
from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.runtime import AlertForwarder, ConsoleEvents
from interlock_core.storage import open_store
from tests.core.isolation_clock import NOW


class Collect(AlertSink):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


def test_an_unreadable_event_row_does_not_stop_alert_forwarding(tmp_path: Path) -> None:
    # A newer Interlock sharing the store (an upgrade in progress) or a raw write added an
    # event of a type this version does not know: query_events raised on it, so every pass
    # of the alert forwarder failed and no alert went out any more.
    database = tmp_path / "interlock.db"
    engine = Interlock(open_store(f"sqlite:///{database}"), {}, ManualClock(NOW))
    channels = Collect()
    forwarder = AlertForwarder(engine, ConsoleEvents(io.StringIO()), channels)
    future = {
        "at": NOW.isoformat().replace("+00:00", "Z"),
        "attempt": None,
        "detail": {},
        "id": "0000000000001-0000000000-future",
        "message": "from a newer version",
        "period": None,
        "pipelineId": "orders",
        "type": "FUTURE_EVENT",
    }
    with sqlite3.connect(database) as raw:
        raw.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, NULL, NULL, ?)",
            (
                future["id"],
                int(NOW.timestamp() * 1_000_000),
                "FUTURE_EVENT",
                "orders",
                json.dumps(future),
            ),
        )
        raw.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, NULL, NULL, ?)",
            (
                "0000000000002-0000000000-broken",
                int(NOW.timestamp() * 1_000_000),
                "JOB_FAILED",
                "orders",
                "{not json",
            ),
        )
    engine.publish(EventType.JOB_FAILED, "orders", "the job failed", period="2026-03-04")
    assert forwarder.pump() == 1
    assert [e.type for e in channels.events] == [EventType.JOB_FAILED]
    assert [e.type for e in engine.store.query_events()] == [EventType.JOB_FAILED]
