"""``Interlock.open_runs`` (``interlock open``): catch-up, backfill and "run today's now"."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from interlock_core import opening
from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import EventType
from interlock_core.runs import RunOrigin, RunStatus
from tests.core.engine.fixtures import recording_engine
from tests.core.engine.recording import submissions

# Thursday 2026-03-12, 09:30 UTC (10:30 in Berlin).
NOW = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
GOLD: dict[str, Any] = {
    "pipeline": {"id": "gold"},
    "schedule": {
        "cron": "0 8 * * *",
        "timezone": "Europe/Berlin",
        "trigger": {
            "key": "upstream",
            "check": "equals",
            "field": "status",
            "value": "ready",
            "deadline": "11:00",
        },
        "exclude": {"weekends": True},
    },
    "job": {"type": "command", "config": {"command": "true"}},
}
ORDERS: dict[str, Any] = {
    "pipeline": {"id": "orders"},
    "schedule": {"trigger": {"key": "landed", "check": "exists"}},
    "validation": {
        "trigger": "ALL",
        "rules": [{"key": "rows", "check": "gte", "field": "n", "value": 10}],
    },
    "job": {"type": "command", "config": {"command": "true"}},
}
HOURLY: dict[str, Any] = {
    "pipeline": {"id": "clicks"},
    "schedule": {"cron": "5 * * * *", "trigger": {"key": "batch", "check": "exists"}},
    "job": {"type": "command", "config": {"command": "true"}},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "jobs.log"


@pytest.fixture
def engine(clock: ManualClock, ledger: Path) -> Interlock:
    return recording_engine(clock, ledger, GOLD, ORDERS, HOURLY)


def test_a_missed_week_is_caught_up_gated_and_without_its_weekend(
    engine: Interlock, clock: ManualClock, ledger: Path
) -> None:
    result = engine.open_runs("gold", first="2026-03-02", last="2026-03-11")
    opened = [run.period for run in result.opened]
    assert opened == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-09",
        "2026-03-10",
        "2026-03-11",
    ]
    assert [(s.period, s.reason) for s in result.excluded] == [
        ("2026-03-07", "weekend"),
        ("2026-03-08", "weekend"),
    ]
    assert result.existing == [] and result.unscheduled == []
    assert all(
        run.status == RunStatus.WAITING and run.origin == RunOrigin.MANUAL for run in result.opened
    )

    # Their trigger deadlines (11:00 on each tick's day) passed long ago, yet each waits for its
    # gate for a full window instead of ending VALIDATION_EXHAUSTED at once; nothing submits.
    engine.advance_due()
    for period in opened:
        run = engine.run("gold", period)
        assert run is not None and run.status == RunStatus.WAITING, (period, run)
    assert submissions(ledger) == []

    # Only the period whose trigger passes runs.
    engine.emit("gold", "upstream", {"status": "ready"}, period="2026-03-04")
    engine.advance_due()
    statuses = {p: engine.run("gold", p).status for p in opened}  # type: ignore[union-attr]
    assert statuses.pop("2026-03-04") == RunStatus.RUNNING
    assert set(statuses.values()) == {RunStatus.WAITING}
    assert len(submissions(ledger)) == 1


def test_existing_runs_are_left_alone_and_named(engine: Interlock, clock: ManualClock) -> None:
    first = engine.open_runs("gold", "2026-03-10")
    assert [run.period for run in first.opened] == ["2026-03-10"]
    before = engine.run("gold", "2026-03-10")
    again = engine.open_runs("gold", first="2026-03-10", last="2026-03-11")
    assert [run.period for run in again.opened] == ["2026-03-11"]
    assert [run.period for run in again.existing] == ["2026-03-10"]
    assert engine.run("gold", "2026-03-10") == before
    opened_events = engine.events("gold", [EventType.RUN_OPENED])
    assert [e.period for e in opened_events] == ["2026-03-10", "2026-03-11"]


def test_future_periods_are_refused_and_nothing_opens(engine: Interlock) -> None:
    with pytest.raises(InterlockError, match="2026-03-13 has not begun"):
        engine.open_runs("gold", first="2026-03-11", last="2026-03-13")
    with pytest.raises(InterlockError, match="has not begun"):
        engine.open_runs("clicks", "2026-03-12T10")
    assert engine.status() == []


def test_a_refused_future_period_names_the_latest_period_that_may_open(
    engine: Interlock, clock: ManualClock
) -> None:
    # 06:00 Berlin: the last tick opened 03-11, but 03-12 has begun and may open ahead of its
    # tick, so the refusal of 03-13 must name 03-12, not 03-11.
    clock.set(dt.datetime(2026, 3, 12, 5, 0, tzinfo=dt.UTC))
    with pytest.raises(InterlockError, match=r"up to 2026-03-12; nothing was opened"):
        engine.open_runs("gold", "2026-03-13")
    assert [run.period for run in engine.open_runs("gold", "2026-03-12").opened] == ["2026-03-12"]


def test_bad_requests_are_refused(engine: Interlock) -> None:
    with pytest.raises(InterlockError, match="before --from"):
        engine.open_runs("gold", first="2026-03-11", last="2026-03-10")
    with pytest.raises(InterlockError, match="both --from and --to"):
        engine.open_runs("gold", first="2026-03-11")
    with pytest.raises(InterlockError, match="hourly periods"):
        engine.open_runs("clicks", "2026-03-11")
    with pytest.raises(InterlockError, match="more than 1000 periods"):
        engine.open_runs("orders", first="2020-01-01", last="2026-03-01")
    with pytest.raises(InterlockError, match="unknown pipeline"):
        engine.open_runs("nope", "2026-03-11")
    assert engine.status() == []


def test_a_sensor_driven_period_opens_and_waits_for_trigger_and_rules(
    engine: Interlock, ledger: Path
) -> None:
    result = engine.open_runs("orders", "2026-03-01")
    assert [run.period for run in result.opened] == ["2026-03-01"]
    engine.emit("orders", "rows", {"n": 50}, period="2026-03-01")
    engine.advance_due()
    run = engine.run("orders", "2026-03-01")
    assert run is not None and run.status == RunStatus.WAITING  # the trigger has not landed
    assert submissions(ledger) == []
    engine.emit("orders", "landed", {"ok": True}, period="2026-03-01")
    engine.advance_due()
    run = engine.run("orders", "2026-03-01")
    assert run is not None and run.status == RunStatus.RUNNING
    assert len(submissions(ledger)) == 1


def test_without_a_period_today_opens_before_its_tick(
    engine: Interlock, clock: ManualClock
) -> None:
    # 06:00 Berlin on Thursday: the 08:00 tick opens today's period, which has begun.
    clock.set(dt.datetime(2026, 3, 12, 5, 0, tzinfo=dt.UTC))
    result = engine.open_runs("gold")
    assert [run.period for run in result.opened] == ["2026-03-12"]
    # The tick itself then finds the run and opens nothing new.
    clock.set(dt.datetime(2026, 3, 12, 7, 0, 30, tzinfo=dt.UTC))
    engine.watchdog()
    assert [run.period for run in engine.status("gold")] == ["2026-03-12"]
    # An hourly cron at 09:30: the next tick (10:05) opens T10, which has not begun; T09 opens.
    clock.set(NOW)
    assert [run.period for run in engine.open_runs("clicks").opened] == ["2026-03-12T09"]


def test_an_hourly_range(engine: Interlock) -> None:
    result = engine.open_runs("clicks", first="2026-03-12T05", last="2026-03-12T08")
    assert [run.period for run in result.opened] == [
        "2026-03-12T05",
        "2026-03-12T06",
        "2026-03-12T07",
        "2026-03-12T08",
    ]


def test_a_range_skips_days_the_cron_never_ticks(clock: ManualClock, ledger: Path) -> None:
    weekdays = {**GOLD, "pipeline": {"id": "weekdays"}}
    weekdays["schedule"] = {"cron": "0 8 * * 1-5", "timezone": "UTC"}
    engine = recording_engine(clock, ledger, weekdays)
    result = engine.open_runs("weekdays", first="2026-03-06", last="2026-03-09")
    assert [run.period for run in result.opened] == ["2026-03-06", "2026-03-09"]
    assert [s.period for s in result.unscheduled] == ["2026-03-07", "2026-03-08"]
    assert "0 8 * * 1-5" in result.unscheduled[0].reason


def test_schedule_missed_names_the_open_command(engine: Interlock, clock: ManualClock) -> None:
    # Applied at 09:30 on 03-12; the controller is down until 03-17 09:00 Berlin.
    clock.set(dt.datetime(2026, 3, 17, 8, 0, tzinfo=dt.UTC))
    missed = [
        e
        for e in engine.watchdog()
        if e.type == EventType.SCHEDULE_MISSED and e.pipeline_id == "gold"
    ]
    assert missed, "the ticks of 03-13 and 03-16 passed without a run"
    for event in missed:
        assert f"interlock open gold {event.period}" in event.detail["actionHint"]


def test_next_tick_is_in_the_pipeline_time_zone_and_skips_excluded_days() -> None:
    gold = Pipeline.model_validate(GOLD)
    friday_noon = dt.datetime(2026, 3, 13, 11, 0, tzinfo=dt.UTC)
    info = opening.next_tick_info(gold, friday_noon)
    assert info == {
        "at": "2026-03-16T07:00:00+00:00",  # Monday 08:00 CET; the weekend is excluded
        "local": "2026-03-16 08:00",
        "timezone": "Europe/Berlin",
        "period": "2026-03-16",
    }
    assert opening.next_tick_info(Pipeline.model_validate(ORDERS), friday_noon) is None


def test_the_gate_passed_event_counts_a_single_rule_in_the_singular(engine: Interlock) -> None:
    engine.open_runs("gold", "2026-03-11")  # gold's only rule is its trigger condition
    engine.emit("gold", "upstream", {"status": "ready"}, period="2026-03-11")
    engine.advance_due()
    [passed] = engine.events("gold", [EventType.VALIDATION_PASSED])
    assert passed.message == "gate passed for 2026-03-11 (1 rule)"
