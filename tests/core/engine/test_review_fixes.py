"""Engine behaviours fixed after review that are not timelines: refusals leave nothing behind."""

import datetime as dt
from typing import Any

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import EventType
from interlock_core.lifecycle import ClaimRefused
from interlock_core.runs import RunStatus
from interlock_core.sensors import SensorError
from tests.core.engine.fixtures import apply_documents, recording_engine

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
JOBLESS: dict[str, Any] = {
    "pipeline": {"id": "marts"},
    "schedule": {"trigger": {"key": "staging", "check": "exists"}},
    "job": {"claimTimeout": "6h"},
}
HOURLY: dict[str, Any] = {
    "pipeline": {"id": "cdr"},
    "schedule": {"trigger": {"key": "landed", "check": "exists"}, "period": "hourly"},
    "job": {"type": "command", "config": {"command": "true"}, "maxRetries": 1},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def engine(clock: ManualClock, tmp_path: Any) -> Interlock:
    return recording_engine(clock, tmp_path / "jobs.log", JOBLESS, HOURLY)


def test_a_refused_claim_opens_no_run(engine: Interlock) -> None:
    with pytest.raises(ClaimRefused, match="gate not ready"):
        engine.claim("marts", None, "airflow:dag/1")
    with pytest.raises(ClaimRefused, match="has a job"):
        engine.claim("cdr", None, "airflow:dag/1")
    assert engine.status() == []
    assert engine.events(types=[EventType.RUN_OPENED]) == []


@pytest.mark.parametrize(
    ("pipeline", "period", "message"),
    [
        ("cdr", "2026-03-04", "cdr has hourly periods, but '2026-03-04' is daily"),
        ("marts", "2026-03-04T05", "marts has daily periods, but '2026-03-04T05' is hourly"),
        ("marts", "2026-13-01", "invalid period"),
    ],
)
def test_periods_must_match_the_pipelines_granularity(
    engine: Interlock, pipeline: str, period: str, message: str
) -> None:
    calls = [lambda: engine.evaluate(pipeline, period), lambda: engine.open_run(pipeline, period)]
    if pipeline == "marts":  # job-less: a claim opens runs too
        calls.append(lambda: engine.claim(pipeline, period, "airflow:x/1"))
    for call in calls:
        with pytest.raises(InterlockError, match=message):
            call()
    assert engine.status() == []


def test_a_trigger_naming_a_day_for_an_hourly_pipeline_is_refused(engine: Interlock) -> None:
    with pytest.raises(SensorError, match=r"names the daily period 2026-03-04.*add hour=HH"):
        engine.emit("cdr", "landed", {"date": "2026-03-04"})
    with pytest.raises(SensorError, match="names the daily period"):
        engine.emit("cdr", "landed", {"date": "2026-03-04", "hour": 25})  # hour ignored
    assert engine.store.sensor_versions() == {}
    engine.emit("cdr", "landed", {"date": "2026-03-04", "hour": 5})
    assert engine.run("cdr", "2026-03-04T05") is not None


def test_reserved_rerun_reasons_are_refused(engine: Interlock) -> None:
    for reason in ("late-data", "data-drift", "job-fail-retry"):
        with pytest.raises(InterlockError, match="reserved"):
            engine.request_rerun("cdr", "2026-03-04T05", reason)


def test_force_reruns_a_success_without_new_data(engine: Interlock, clock: ManualClock) -> None:
    engine.emit("cdr", "landed", {"date": "2026-03-04", "hour": 5})
    engine.advance_due()
    clock.advance(dt.timedelta(minutes=2))
    engine.advance_due()
    assert engine.run("cdr", "2026-03-04T05").status == RunStatus.SUCCEEDED  # type: ignore[union-attr]
    refused = engine.request_rerun("cdr", "2026-03-04T05", "code-fix")
    assert not refused.accepted and "no sensor changed" in refused.message
    forced = engine.request_rerun("cdr", "2026-03-04T05", "code-fix", force=True)
    assert forced.accepted and forced.run is not None and forced.run.attempt == 2
    [accepted] = engine.events("cdr", types=[EventType.RERUN_ACCEPTED])
    assert accepted.attempt == 2


def test_resolve_never_runs_a_second_job_beside_a_running_one(
    engine: Interlock, clock: ManualClock
) -> None:
    engine.emit("cdr", "landed", {"date": "2026-03-04", "hour": 5})
    engine.advance_due()
    assert engine.run("cdr", "2026-03-04T05").status == RunStatus.RUNNING  # type: ignore[union-attr]
    for resolution in ("retry", "failed", "succeeded"):
        with pytest.raises(InterlockError, match="has a running job"):
            engine.resolve("cdr", "2026-03-04T05", resolution)


def test_a_ready_jobless_run_is_re_evaluated_until_its_window_closes(
    engine: Interlock, clock: ManualClock
) -> None:
    engine.emit("marts", "staging", {})
    engine.advance_due()
    run = engine.run("marts", "2026-03-04")
    assert run is not None and run.gate_passed_at is not None
    assert run.due_at is not None  # still evaluated (not parked forever)
    clock.advance(dt.timedelta(hours=2))  # past the 1 h window, still ready
    engine.advance_due()
    run = engine.run("marts", "2026-03-04")
    assert run is not None and run.status == RunStatus.WAITING and run.due_at is None
    claimed = engine.claim("marts", "2026-03-04", "airflow:dag/1")
    assert claimed.status == RunStatus.CLAIMED


def test_a_retry_starts_with_the_current_config(engine: Interlock, clock: ManualClock) -> None:
    from tests.core.engine.recording import RecordingRunner as Base

    class FailOnce(Base):
        def status(self, handle):  # type: ignore[no-untyped-def]
            from interlock_core.jobs.base import FailureCategory, JobState, JobStatus

            if handle.metadata["token"] == first_token[0]:
                return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, "boom")
            return super().status(handle)

    first_token: list[str] = []
    engine.runners["command"] = FailOnce(engine.runners["command"].ledger)  # type: ignore[attr-defined]
    engine.emit("cdr", "landed", {"date": "2026-03-04", "hour": 5})
    engine.advance_due()
    run = engine.run("cdr", "2026-03-04T05")
    assert run is not None and run.token is not None
    first_token.append(run.token)
    old_hash = run.config_hash
    apply_documents(engine, {**HOURLY, "job": {**HOURLY["job"], "jobCheckIntervalSeconds": 30}})
    clock.advance(dt.timedelta(minutes=1, seconds=1))
    engine.advance_due()
    run = engine.run("cdr", "2026-03-04T05")
    assert run is not None and run.attempt == 2
    assert run.config_hash != old_hash
    assert run.config_hash == engine.config("cdr").hash  # type: ignore[union-attr]
