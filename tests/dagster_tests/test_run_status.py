"""Run reporting: real Dagster runs in a real instance, seen by the run-status sensors,
reach the Interlock claim."""

from typing import Any

import dagster as dg
import pytest

from integrations.dagster import (
    InterlockResource,
    build_interlock_run_status_sensors,
    build_interlock_sensor,
)
from interlock_core import EventType, Interlock, RunStatus
from tests.dagster_tests.helpers import ready


@dg.asset
def inventory_snapshot() -> None:
    """Succeeds."""


@dg.asset
def broken_snapshot() -> None:
    raise RuntimeError("warehouse API returned 503")


READINESS = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
SUCCEEDED, FAILED, CANCELED = build_interlock_run_status_sensors()
DEFS = dg.Definitions(
    assets=[inventory_snapshot, broken_snapshot], sensors=[READINESS, SUCCEEDED, FAILED, CANCELED]
)


def context(interlock: InterlockResource, instance: dg.DagsterInstance, cursor: Any = None) -> Any:
    # No definitions: runs from materialize() have no code location, like a sensor context
    # without one, so the sensors match them.
    return dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"interlock": interlock}
    )


def start_cursor(
    sensor: dg.SensorDefinition, interlock: InterlockResource, instance: dg.DagsterInstance
) -> str:
    """The first tick of a run-status sensor only records where the event log stands."""
    result = sensor.evaluate_tick(context(interlock, instance))
    assert result.cursor is not None
    return result.cursor


def claimed_run_tags(interlock: InterlockResource, instance: dg.DagsterInstance) -> dict[str, str]:
    result = READINESS.evaluate_tick(context(interlock, instance))
    (request,) = result.run_requests
    return dict(request.tags)


def test_a_succeeded_run_reports_success_to_its_claim(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(SUCCEEDED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)

    run = dg.materialize([inventory_snapshot], instance=instance, tags=tags)
    assert run.success
    result = SUCCEEDED.evaluate_tick(context(interlock, instance, cursor))

    assert result.cursor != cursor  # the run was processed
    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.SUCCEEDED
    reported = engine.events("inventory", types=[EventType.CLAIM_REPORTED], period=period)
    assert [e.detail.get("outcome") for e in reported] == ["success"]
    assert record.message == f"dagster run {run.run_id} succeeded"

    # The same run seen again (a replayed cursor) is a quiet no-op.
    SUCCEEDED.evaluate_tick(context(interlock, instance, cursor))
    assert len(engine.events("inventory", types=[EventType.CLAIM_REPORTED], period=period)) == 1


def test_a_failed_run_fails_its_claim_with_the_error(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(FAILED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)

    run = dg.materialize([broken_snapshot], instance=instance, tags=tags, raise_on_error=False)
    assert not run.success
    FAILED.evaluate_tick(context(interlock, instance, cursor))

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.FAILED
    assert record.message.startswith(f"dagster run {run.run_id} failed")
    failed = engine.events("inventory", types=[EventType.JOB_FAILED], period=period)
    assert len(failed) == 1 and "reported by dagster:interlock_inventory/" in failed[0].message


def test_runs_without_interlock_tags_are_ignored(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(SUCCEEDED, interlock, instance)
    period = ready(engine)
    claimed_run_tags(interlock, instance)

    dg.materialize([inventory_snapshot], instance=instance)  # a manual run, not the claim's
    SUCCEEDED.evaluate_tick(context(interlock, instance, cursor))

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.CLAIMED


def test_the_sensors_are_named_and_need_the_resource() -> None:
    assert [s.name for s in (SUCCEEDED, FAILED, CANCELED)] == [
        "interlock_run_succeeded",
        "interlock_run_failed",
        "interlock_run_canceled",
    ]
    assert all(s.required_resource_keys == {"interlock"} for s in (SUCCEEDED, FAILED, CANCELED))
    assert DEFS.resolve_sensor_def("interlock_run_failed") is not None


def test_a_run_that_fails_to_launch_fails_its_claim_visibly(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(FAILED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)
    # What Dagster's run queue does when a requested run cannot be launched.
    job = DEFS.resolve_implicit_global_asset_job_def()
    never_started = instance.create_run_for_job(job, tags=tags)
    instance.report_run_failed(never_started, "Run dequeue failed to reach the user code server")
    FAILED.evaluate_tick(context(interlock, instance, cursor))

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.FAILED
    assert "failed to reach the user code server" in record.message


def test_a_canceled_run_fails_its_claim(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(CANCELED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)
    job = DEFS.resolve_implicit_global_asset_job_def()
    canceled = instance.create_run_for_job(job, tags=tags)
    instance.report_run_canceled(canceled, "canceled from the UI")
    CANCELED.evaluate_tick(context(interlock, instance, cursor))

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.FAILED
    assert record.message == f"dagster run {canceled.run_id} was canceled: canceled from the UI"


def test_a_failed_run_that_dagster_will_retry_leaves_the_claim_to_the_retry(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    cursor = start_cursor(FAILED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)
    job = DEFS.resolve_implicit_global_asset_job_def()
    retried = instance.create_run_for_job(job, tags={**tags, "dagster/will_retry": "true"})
    instance.report_run_failed(retried, "step failed")
    FAILED.evaluate_tick(context(interlock, instance, cursor))

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.CLAIMED


def test_a_failed_re_execution_of_a_succeeded_run_is_a_warning_not_already_reported(
    interlock: InterlockResource,
    engine: Interlock,
    instance: dg.DagsterInstance,
    capfd: pytest.CaptureFixture[str],
) -> None:
    succeeded_cursor = start_cursor(SUCCEEDED, interlock, instance)
    failed_cursor = start_cursor(FAILED, interlock, instance)
    period = ready(engine)
    tags = claimed_run_tags(interlock, instance)
    assert dg.materialize([inventory_snapshot], instance=instance, tags=tags).success
    SUCCEEDED.evaluate_tick(context(interlock, instance, succeeded_cursor))

    # A manual re-execution copies the run's tags, owner included, and this one fails.
    rerun = dg.materialize([broken_snapshot], instance=instance, tags=tags, raise_on_error=False)
    capfd.readouterr()
    FAILED.evaluate_tick(context(interlock, instance, failed_cursor))
    # Dagster's sensor log handler writes to the process's stderr, not to caplog.
    logged = capfd.readouterr().err

    record = engine.run("inventory", period)
    assert record is not None and record.status == RunStatus.SUCCEEDED
    assert "already reported" not in logged
    assert f"WARNING - Interlock refused the report of dagster run {rerun.run_id}" in logged
