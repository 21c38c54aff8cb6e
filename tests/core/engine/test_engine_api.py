"""Engine behaviour outside the scenario files: bad input, leases, resolve, evaluate, apply."""

import datetime as dt
from typing import Any

import pytest

from interlock_core.clock import ManualClock
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import EventType
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.lifecycle import SUBMIT_LEASE
from interlock_core.runs import RunStatus
from interlock_core.sensors import MAX_SENSOR_BYTES, SensorError
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents
from tests.scenarios.harness import PipelineSetStub

NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
ORDERS: dict[str, Any] = {
    "pipeline": {"id": "orders"},
    "schedule": {"trigger": {"key": "go", "check": "exists"}},
    "job": {"type": "command", "config": {"command": "true"}},
}


class DedupRunner:
    """A runner whose target dedups on the token: a repeat submit adopts the same job."""

    job_type = "command"
    dedups_on_token = True

    def __init__(self) -> None:
        self.jobs: dict[str, int] = {}

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        self.jobs[token] = self.jobs.get(token, 0) + 1
        return JobHandle(f"job-{token[:8]}", {"token": token})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


class CrashingRunner(DedupRunner):
    """Simulates a controller that dies inside submit: the exception never reaches a commit."""

    dedups_on_token = False

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        raise KeyboardInterrupt  # not an Exception: the engine must not swallow it


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def engine(clock: ManualClock) -> Interlock:
    engine = Interlock(open_store("memory://"), {"command": DedupRunner()}, clock)
    apply_documents(engine, ORDERS)
    return engine


@pytest.mark.parametrize(
    ("pipeline", "key", "data", "period", "error"),
    [
        ("orders", "rows", [1, 2], None, "data must be a JSON object"),
        ("orders", "rows", "text", None, "data must be a JSON object"),
        ("orders", "rows", {"blob": "x" * MAX_SENSOR_BYTES}, None, "more than the limit"),
        ("orders", "rows", {"n": float("nan")}, None, "not valid JSON"),
        ("orders", "bad key!", {}, None, "invalid sensor key"),
        ("orders", "", {}, None, "invalid sensor key"),
        ("bad id", "rows", {}, None, "invalid pipeline id"),
        ("orders", "rows", {}, "2026-13-01", "invalid period"),
        ("orders", "rows#2026-03-04", {"date": "2026-03-05"}, None, "2026-03-05"),
    ],
    ids=[
        "list",
        "string",
        "oversized",
        "nan",
        "bad-key",
        "empty-key",
        "bad-id",
        "bad-period",
        "suffix-date",
    ],
)
def test_bad_sensor_writes_are_refused_and_nothing_is_written(
    engine: Interlock, pipeline: str, key: str, data: Any, period: str | None, error: str
) -> None:
    with pytest.raises(SensorError, match=error):
        engine.emit(pipeline, key, data, period)
    assert engine.store.sensor_versions() == {}
    assert engine.status() == []


def test_unknown_pipeline_is_refused_unless_allowed(engine: Interlock) -> None:
    with pytest.raises(InterlockError, match="unknown pipeline 'nope'"):
        engine.emit("nope", "rows", {"n": 1})
    assert engine.store.sensor_versions() == {}
    engine.emit("nope", "rows", {"n": 1}, allow_unknown=True)
    assert engine.store.sensor_versions() == {"nope": 1}


def test_expired_lease_resubmits_with_the_same_token_where_the_target_dedups(
    engine: Interlock, clock: ManualClock
) -> None:
    runner = engine.runners["command"]
    assert isinstance(runner, DedupRunner)
    engine.runners["command"] = CrashingRunner()
    engine.emit("orders", "go", {})
    with pytest.raises(KeyboardInterrupt):
        engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUBMITTING and run.lease_owner
    engine.runners["command"] = runner
    # the crashed controller's lease still holds: nobody else submits yet
    assert engine.advance_due() == 0
    assert runner.jobs == {}
    clock.advance(SUBMIT_LEASE + dt.timedelta(seconds=1))
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.RUNNING
    assert list(runner.jobs.values()) == [1]
    assert run.token in runner.jobs


def test_expired_lease_without_dedup_becomes_uncertain_and_resolve_ends_it(
    engine: Interlock, clock: ManualClock
) -> None:
    engine.runners["command"] = CrashingRunner()
    engine.emit("orders", "go", {})
    with pytest.raises(KeyboardInterrupt):
        engine.advance_due()
    clock.advance(SUBMIT_LEASE + dt.timedelta(seconds=1))
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.UNCERTAIN
    [alert] = engine.events("orders", types=[EventType.TRIGGER_UNCERTAIN])
    assert "interlock resolve orders 2026-03-04" in alert.message
    engine.runners["command"] = DedupRunner()
    # No job id was recorded: the runner cannot confirm that no job runs.
    with pytest.raises(InterlockError, match="no job id was recorded"):
        engine.resolve("orders", "2026-03-04", "retry")
    resolved = engine.resolve("orders", "2026-03-04", "retry", note="job never started", force=True)
    assert resolved.status == RunStatus.WAITING and resolved.attempt == 2
    engine.advance_due()
    clock.advance(dt.timedelta(minutes=2))
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUCCEEDED
    with pytest.raises(InterlockError, match="nothing to resolve"):
        engine.resolve("orders", "2026-03-04", "failed")
    with pytest.raises(InterlockError, match="resolution must be one of"):
        engine.resolve("orders", "2026-03-04", "maybe")


def test_evaluate_reads_without_writing(engine: Interlock) -> None:
    readiness = engine.evaluate("orders")
    assert readiness.period == "2026-03-04"
    assert not readiness.ready
    assert readiness.evaluation.results[0].reason == 'sensor "go" not found'
    assert engine.status() == [] and engine.events(types=[EventType.RUN_OPENED]) == []


def test_all_or_nothing_apply_raises_and_writes_nothing(clock: ManualClock) -> None:
    engine = Interlock(open_store("memory://"), {}, clock)
    stub = PipelineSetStub({}, {})
    stub.errors = [ConfigError([ConfigIssue("unknown key 'cronn'", file="x.yaml", line=3)])]
    with pytest.raises(ConfigError, match=r"x\.yaml:3"):
        engine.apply(stub)
    assert engine.store.list_configs() == []
    assert engine.events() == []


def test_each_attempt_keeps_the_config_it_started_with(
    engine: Interlock, clock: ManualClock
) -> None:
    engine.emit("orders", "go", {})
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.RUNNING
    started_with = run.config_hash
    apply_documents(engine, {**ORDERS, "job": {**ORDERS["job"], "jobCheckIntervalSeconds": 600}})
    assert engine.config("orders").hash != started_with  # type: ignore[union-attr]
    clock.advance(dt.timedelta(minutes=1, seconds=1))
    engine.advance_due()
    # polled on the old config's 60 s interval, not the new 600 s one
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert run.config_hash == started_with


class FinishesBeforeCancel(DedupRunner):
    """Running at every poll, but done by the time the cancel arrives (targets confirm a cancel
    of a finished job)."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel_calls = 0
        self.after_cancel = False

    def status(self, handle: JobHandle) -> JobStatus:
        if self.after_cancel:
            return JobStatus(JobState.SUCCEEDED)
        return JobStatus(JobState.RUNNING)

    def cancel(self, handle: JobHandle) -> bool:
        self.cancel_calls += 1
        self.after_cancel = True
        return True


def test_a_job_that_succeeds_before_its_cancel_is_a_success_not_a_retry(clock: ManualClock) -> None:
    runner = FinishesBeforeCancel()
    engine = Interlock(open_store("memory://"), {"command": runner}, clock)
    apply_documents(
        engine,
        {**ORDERS, "job": {**ORDERS["job"], "maxRetries": 2, "jobPollWindowSeconds": 60}},
    )
    engine.emit("orders", "go", {})
    engine.advance_due()
    for _ in range(3):
        clock.advance(dt.timedelta(seconds=61))
        engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUCCEEDED and run.attempt == 1
    assert runner.cancel_calls == 1
    assert len(runner.jobs) == 1  # no second job for the period
    types = [e.type for e in engine.events("orders")]
    assert EventType.JOB_POLL_EXHAUSTED in types
    assert EventType.JOB_CANCELLED not in types and EventType.RETRY_SCHEDULED not in types


@pytest.mark.parametrize(
    ("job", "lease"),
    [
        ({"type": "command", "config": {"command": "true", "timeout": 3600}}, SUBMIT_LEASE),
        (
            {"type": "http", "config": {"url": "https://x.example/run", "timeout": 10}},
            SUBMIT_LEASE,
        ),
        (
            {"type": "http", "config": {"url": "https://x.example/run", "timeout": 30}},
            dt.timedelta(seconds=2 * 30 * 3 + 60),
        ),
        (
            {"type": "http", "config": {"url": "https://x.example/run", "timeout": 600}},
            dt.timedelta(seconds=2 * 600 * 3 + 60),
        ),
        ({"type": "lambda", "config": {"functionName": "f"}}, dt.timedelta(minutes=20)),
        (
            {"type": "airflow", "config": {"url": "https://af.example", "dagId": "d"}},
            dt.timedelta(seconds=12 * 30 + 60),
        ),
        ({"type": "glue", "config": {"jobName": "j"}}, dt.timedelta(minutes=10)),
    ],
    ids=["command", "http-short", "http-30s", "http-long", "lambda", "airflow", "glue"],
)
def test_the_submit_lease_outlasts_the_slowest_legitimate_submit(
    job: dict[str, Any], lease: dt.timedelta
) -> None:
    from interlock_core.config.models import Pipeline
    from interlock_core.lifecycle import submit_lease

    pipeline = Pipeline.model_validate({"pipeline": {"id": "p"}, "job": job})
    assert submit_lease(pipeline) == lease
