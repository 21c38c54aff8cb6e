"""What a sensor write did (``Interlock.emit_with_outcome``, ``handle_sensor_write``)."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runs import RunStatus
from tests.core.engine.fixtures import recording_engine

NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
ORDERS: dict[str, Any] = {
    "pipeline": {"id": "orders"},
    "schedule": {"trigger": {"key": "landed", "check": "equals", "field": "ok", "value": True}},
    "validation": {
        "trigger": "ALL",
        "rules": [{"key": "rows", "check": "gte", "field": "n", "value": 10}],
    },
    "job": {"type": "command", "config": {"command": "true"}, "maxDriftReruns": 1},
}
REPORT: dict[str, Any] = {
    "pipeline": {"id": "report"},
    "schedule": {"cron": "0 18 * * *", "trigger": {"key": "ready", "check": "exists"}},
    "job": {"type": "command", "config": {"command": "true"}},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def engine(clock: ManualClock, tmp_path: Path) -> Interlock:
    return recording_engine(clock, tmp_path / "jobs.log", ORDERS, REPORT)


def test_a_trigger_opens_a_rule_sensor_wakes_and_a_repeat_after_success_is_late_data(
    engine: Interlock, clock: ManualClock
) -> None:
    opened = engine.emit_with_outcome("orders", "landed", {"ok": True})
    assert opened.kind == "opened"
    assert opened.opened == ["2026-03-04"]
    assert opened.sensor.key == "landed" and opened.sensor.version == 1
    assert opened.lines()[0].startswith("opened the run of 2026-03-04 (trigger)")
    assert [e.type for e in opened.events] == [EventType.RUN_OPENED]

    engine.advance_due()  # evaluated: rows missing, back to waiting for the interval
    woke = engine.emit_with_outcome("orders", "rows", {"n": 3})
    assert woke.kind == "woke"
    assert [run.period for run in woke.woke] == ["2026-03-04"]
    assert woke.lines() == [
        "woke the waiting run of 2026-03-04: gates are evaluated now (by `interlock run`)"
    ]

    engine.emit("orders", "rows", {"n": 30})
    engine.advance_due()
    clock.advance(dt.timedelta(minutes=2))
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUCCEEDED

    clock.advance(dt.timedelta(minutes=1))
    late = engine.emit_with_outcome("orders", "landed", {"ok": True, "batch": 2})
    assert late.kind == "late-data"
    assert late.late_data == ["2026-03-04"]
    assert any(line.startswith("late data 2026-03-04: ") for line in late.lines())
    document = late.to_dict()
    assert document["outcome"] == "late-data"
    assert EventType.LATE_DATA_ARRIVAL.value in [e["type"] for e in document["events"]]


def test_a_write_that_does_nothing_says_why(engine: Interlock) -> None:
    idle = engine.emit_with_outcome("orders", "rows", {"n": 3})
    assert idle.kind == "nothing"
    assert idle.lines() == ["no effect: no run waits for this sensor and it opens none"]

    unknown = engine.emit_with_outcome("nowhere", "k", {"a": 1}, allow_unknown=True)
    assert unknown.kind == "nothing" and not unknown.configured
    assert unknown.lines() == ["no effect: nowhere is not configured, so the sensor is only stored"]

    early = engine.emit_with_outcome("report", "ready", {"at": "noon"})
    assert early.kind == "nothing"
    assert "runs open at its schedule's ticks" in early.lines()[0]
    assert "interlock evaluate report" in early.lines()[0]


def test_a_raw_write_handled_later_reports_its_outcome(
    engine: Interlock, clock: ManualClock
) -> None:
    sensor = engine.store.put_sensor("orders", "landed#2026-03-03", {"ok": True}, clock.now())
    outcome = engine.handle_sensor_write("orders", sensor)
    assert outcome.opened == ["2026-03-03"]
    assert outcome.sensor == sensor
