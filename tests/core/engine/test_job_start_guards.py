"""No job starts where it must not: ``resolve --retry`` beside a job that may have started
(DESIGN §5 "Never two jobs for one period"), or a submit for a pipeline just removed (§2)."""

import datetime as dt

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import EventType
from interlock_core.runs import RunOrigin, RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
PERIOD = "2026-03-04"


def _crashed_mid_submit() -> Interlock:
    """A run left SUBMITTING by a controller that died during the submit (lease expired)."""
    engine = Interlock(open_store("memory://"), {}, ManualClock(NOW))
    apply_documents(engine, {"pipeline": {"id": "orders"}, "schedule": {"trigger": {
        "key": "go", "check": "exists"}}, "job": {"type": "command", "config": {
        "command": "true"}}})  # fmt: skip
    opened = engine.open_run("orders", PERIOD, RunOrigin.TRIGGER)
    assert opened is not None
    crashed = opened.evolve(
        status=RunStatus.SUBMITTING,
        lease_owner="controller-that-died",
        lease_expires_at=NOW - dt.timedelta(seconds=1),
        next_action=None,
        due_at=None,
    )
    assert engine.store.update_run(crashed, opened.version) is not None
    return engine


def test_a_retry_of_a_submit_cut_off_by_a_crash_is_refused_unless_forced() -> None:
    engine = _crashed_mid_submit()
    with pytest.raises(InterlockError, match="may have started"):
        engine.resolve("orders", PERIOD, "retry")
    run = engine.run("orders", PERIOD)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUBMITTING, 1)

    forced = engine.resolve("orders", PERIOD, "retry", force=True)
    assert forced.attempt == 2
    (resolved,) = engine.events(types=[EventType.RUN_RESOLVED])
    assert resolved.detail["forced"] is True
    assert "may have started" in resolved.detail["previousJobUnconfirmed"]


def test_ending_a_cut_off_submit_as_failed_or_succeeded_starts_nothing_and_needs_no_force() -> None:
    engine = _crashed_mid_submit()
    assert engine.resolve("orders", PERIOD, "failed").status == RunStatus.FAILED


def test_a_removal_landing_while_the_gate_passes_starts_no_job() -> None:
    # The controller read the config and won WAITING -> SUBMITTING just as the file was
    # deleted (its removal found no WAITING run to end): the submit must still not happen.
    submitted: list[str] = []

    class Runner:
        job_type = "command"
        dedups_on_token = False

        def submit(self, job: object, run: object, token: str) -> object:
            submitted.append(token)
            raise AssertionError("a removed pipeline submitted a job")

    engine = Interlock(open_store("memory://"), {"command": Runner()}, ManualClock(NOW))  # type: ignore[dict-item]
    apply_documents(engine, {"pipeline": {"id": "orders"}, "schedule": {"trigger": {
        "key": "go", "check": "exists"}}, "job": {"type": "command", "config": {
        "command": "true"}}})  # fmt: skip
    store = engine.store
    update_run = store.update_run

    def update_then_remove(run, expected_version):  # type: ignore[no-untyped-def]
        stored = update_run(run, expected_version)
        if stored is not None and stored.status == RunStatus.SUBMITTING:
            store.remove_config("orders", NOW)  # the removal lands right after the CAS
        return stored

    store.update_run = update_then_remove  # type: ignore[method-assign]
    engine.emit("orders", "go", {})
    engine.advance_due()
    run = engine.run("orders", PERIOD)
    assert submitted == []
    assert run is not None and run.status == RunStatus.FAILED
    assert "pipeline removed" in run.message


def test_a_returning_pipeline_reruns_no_period_it_no_longer_has() -> None:
    # Removed, then back as an hourly pipeline: the daily period its removal ended is not one
    # of its periods any more, so it is not reopened.
    engine = Interlock(open_store("memory://"), {}, ManualClock(NOW))
    trigger = {"key": "go", "check": "exists"}
    daily = {
        "pipeline": {"id": "orders"},
        "schedule": {"trigger": trigger},
        "validation": {"rules": [{"key": "go", "check": "age_gt", "value": "5m"}]},
    }
    keep = {"pipeline": {"id": "keep"}, "schedule": {"trigger": {"key": "go", "check": "exists"}}}
    apply_documents(engine, daily, keep)
    engine.emit("orders", "go", {})
    engine.apply(_stub(keep), remove_missing=True)
    ended = engine.run("orders", PERIOD)
    assert ended is not None and ended.status == RunStatus.FAILED
    hourly = {**daily, "schedule": {**daily["schedule"], "period": "hourly"}}
    engine.apply(_stub(keep, hourly), remove_missing=True)
    run = engine.run("orders", PERIOD)
    assert run is not None and (run.status, run.attempt) == (RunStatus.FAILED, 1)
    assert engine.config("orders") is not None


def _stub(*documents: dict[str, object]) -> object:
    from interlock_core.config.models import Pipeline
    from tests.scenarios.harness import PipelineSetStub

    pipelines = {doc["pipeline"]["id"]: Pipeline.model_validate(doc) for doc in documents}  # type: ignore[index]
    return PipelineSetStub(pipelines, {})
