"""Watchdog checks that the scenario files do not reach: failures, raw writes, stale runs."""

import datetime as dt
from typing import Any

import pytest

from interlock_core import schedule, watchdog
from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runs import RunStatus
from tests.core.engine.fixtures import recording_engine

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
SENSOR_DRIVEN: dict[str, Any] = {
    "pipeline": {"id": "orders"},
    "schedule": {
        "trigger": {"key": "upstream", "check": "equals", "field": "status", "value": "ok"}
    },
    "sla": {"deadline": "10:00", "expectedDuration": "30m"},
    "job": {"type": "command", "config": {"command": "true"}},
}
CRON: dict[str, Any] = {
    "pipeline": {"id": "report"},
    "schedule": {"cron": "0 7 * * *"},
    "job": {"type": "command", "config": {"command": "true"}},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def engine(clock: ManualClock, tmp_path: Any) -> Interlock:
    return recording_engine(clock, tmp_path / "jobs.log", SENSOR_DRIVEN, CRON)


def test_a_failing_check_degrades_the_watchdog_without_stopping_the_others(
    engine: Interlock, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cron library exploded")

    monkeypatch.setattr(schedule, "schedule_ticks", broken)
    clock.set(dt.datetime(2026, 3, 5, 9, 45, tzinfo=dt.UTC))  # orders 03-04 is due 03-05 10:00
    events = engine.watchdog()
    types = [e.type for e in events]
    assert EventType.SLA_WARNING in types  # the SLA check still ran
    [degraded] = [e for e in events if e.type == EventType.WATCHDOG_DEGRADED]
    assert degraded.pipeline_id == ""
    assert degraded.detail["failedChecks"] == ["scheduled-runs (1 pipeline)"]
    # dedup: the SLA warning is not repeated on the next pass, the degradation is
    again = [e.type for e in engine.watchdog()]
    assert again == [EventType.WATCHDOG_DEGRADED]


def test_a_raw_trigger_write_is_recovered_once(engine: Interlock, clock: ManualClock) -> None:
    # a producer wrote straight into the store; no engine saw the write
    engine.store.put_sensor("orders", "upstream#2026-03-04", {"status": "ok"}, clock.now())
    engine.store.put_sensor("orders", "upstream#2026-03-03", {"status": "failed"}, clock.now())
    events = engine.watchdog()
    assert [e.type for e in events] == [EventType.TRIGGER_RECOVERED]
    assert events[0].period == "2026-03-04"
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.origin.value == "recovery"
    assert engine.run("orders", "2026-03-03") is None
    assert engine.watchdog() == []


def test_a_run_nobody_polls_is_alerted_stale_once_per_attempt(
    engine: Interlock, clock: ManualClock
) -> None:
    engine.emit("orders", "upstream", {"status": "ok"})
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.RUNNING
    clock.advance(watchdog.STALE_GRACE + dt.timedelta(minutes=2))  # no controller polled
    stale = [e for e in engine.watchdog() if e.type == EventType.STALE_RUN]
    assert len(stale) == 1 and stale[0].attempt == 1
    assert [e for e in engine.watchdog() if e.type == EventType.STALE_RUN] == []


def test_missed_ticks_are_not_alerted_for_before_the_pipeline_existed(
    engine: Interlock, clock: ManualClock
) -> None:
    # applied at 06:00 on 03-04; the 07:00 ticks of earlier days were never this pipeline's
    clock.set(dt.datetime(2026, 3, 4, 7, 0, 30, tzinfo=dt.UTC))
    events = engine.watchdog()
    assert EventType.SCHEDULE_MISSED not in [e.type for e in events]
    assert engine.run("report", "2026-03-04") is not None
