"""Emitting sensors and reporting claims from Airflow tasks and callbacks."""

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from integrations.airflow.errors import InterlockFatalError
from integrations.airflow.operators import (
    InterlockEmitOperator,
    InterlockReportOperator,
    emit,
    on_failure_callback,
    on_success_callback,
    report,
)
from tests.airflow_tests.conftest import FEED, STOCK
from tests.airflow_tests.helpers import owner, task_context

PERIOD = "2026-03-04"


def test_emit_writes_a_sensor_for_a_period(interlock) -> None:
    written = emit("inventory", "stock", STOCK, PERIOD)
    assert written["key"] == f"stock#{PERIOD}" and written["version"] >= 1
    assert written["written_at"].endswith("+00:00")
    emit("inventory", "feed", '{"state": "complete"}', PERIOD)  # JSON text, as templates give
    assert interlock.engine().evaluate("inventory", PERIOD).ready


def test_the_emit_operator_writes_and_returns_the_sensor(interlock) -> None:
    operator = InterlockEmitOperator(
        task_id="emit", pipeline_id="inventory", sensor_key="feed", data=FEED, period=PERIOD
    )
    assert operator.execute(task_context())["key"] == f"feed#{PERIOD}"
    assert set(InterlockEmitOperator.template_fields) == {
        "pipeline_id",
        "sensor_key",
        "data",
        "period",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": ["not", "an", "object"]}, "must be a JSON object"),
        ({"data": "{broken"}, "not JSON"),
        ({"pipeline_id": "nope"}, "unknown pipeline 'nope'"),
        ({"sensor_key": "bad key!"}, "sensor key"),
        ({"period": "someday"}, "period"),
    ],
)
def test_bad_sensor_writes_fail_without_retries(interlock, kwargs, message) -> None:
    arguments = {"pipeline_id": "inventory", "sensor_key": "feed", "data": FEED, **kwargs}
    with pytest.raises(AirflowFailException, match=message):
        InterlockEmitOperator(task_id="emit", **arguments).execute(task_context())


def claimed(interlock) -> None:
    interlock.make_ready(PERIOD)
    interlock.engine().claim("inventory", PERIOD, owner())


def test_the_report_operator_reports_this_dag_runs_claim(interlock) -> None:
    claimed(interlock)
    result = InterlockReportOperator(task_id="report", pipeline_id="inventory").execute(
        task_context()
    )
    assert result == {
        "pipeline_id": "inventory",
        "period": PERIOD,
        "attempt": 1,
        "status": "SUCCEEDED",
        "owner": owner(),
    }
    # a retried report task is a no-op
    again = InterlockReportOperator(task_id="report", pipeline_id="inventory")
    assert again.execute(task_context())["status"] == "SUCCEEDED"


def test_reporting_failure_with_an_explicit_period(interlock) -> None:
    claimed(interlock)
    operator = InterlockReportOperator(
        task_id="report", pipeline_id="inventory", period=PERIOD, outcome="failed"
    )
    assert operator.execute(task_context())["status"] == "FAILED"


def test_reporting_without_a_claim_fails(interlock) -> None:
    with pytest.raises(AirflowFailException, match="no run of inventory is claimed by"):
        InterlockReportOperator(task_id="report", pipeline_id="inventory").execute(task_context())


def test_reporting_another_owners_claim_fails(interlock) -> None:
    interlock.make_ready(PERIOD)
    interlock.engine().claim("inventory", PERIOD, "dagster:someone")
    with pytest.raises(InterlockFatalError, match="claimed by dagster:someone"):
        report(task_context(), "inventory", "success", PERIOD)


def test_a_bad_outcome_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="outcome"):
        InterlockReportOperator(task_id="report", pipeline_id="inventory", outcome="ok")
    with pytest.raises(ValueError, match="outcome"):
        on_success_callback("inventory").__class__("inventory", "ok")


def test_callbacks_report_with_a_dag_callbacks_small_context(interlock) -> None:
    claimed(interlock)
    # DAG callbacks may get only the DAG and the run id.
    context = task_context()
    small = {"dag": context["dag"], "run_id": context["run_id"], "reason": "success"}
    on_success_callback("inventory")(small)
    assert interlock.engine().run("inventory", PERIOD).status == "SUCCEEDED"


def test_the_failure_callback_renders_templates(interlock) -> None:
    claimed(interlock)
    context = task_context(params={"pipeline": "inventory"}, reason="task_failure")
    on_failure_callback("{{ params.pipeline }}")(context)
    run = interlock.engine().run("inventory", PERIOD)
    assert run.status == "FAILED" and "task_failure" in run.message


def test_callbacks_of_a_dag_run_that_never_claimed_have_nothing_to_report(interlock) -> None:
    # e.g. the sensor timed out with soft_fail: the DAG run succeeds without a claim
    on_success_callback("inventory")(task_context())
    on_failure_callback("inventory")(task_context())
    assert interlock.engine().run("inventory", PERIOD) is None


def test_a_backfill_run_reports_its_claim_behind_two_hundred_newer_runs(interlock) -> None:
    # A backfill DAG run claims an old period; by the time it reports, more than 200 newer
    # periods have runs. The report (and the callbacks) must still find this DAG run's claim.
    from datetime import date, timedelta

    engine = interlock.engine()
    engine.emit("upstream", "ready", {"ok": True}, "2025-01-01")
    engine.claim("upstream", "2025-01-01", owner(run_id="backfill__2025-01-01"))
    first = date(2025, 2, 1)
    for day in range(201):
        engine.open_run("upstream", (first + timedelta(days=day)).isoformat())

    context = task_context(run_id="backfill__2025-01-01")
    result = InterlockReportOperator(task_id="report", pipeline_id="upstream").execute(context)

    assert (result["period"], result["status"]) == ("2025-01-01", "SUCCEEDED")


def test_a_failure_report_after_a_gate_that_never_claimed_skips_instead_of_failing(
    interlock,
) -> None:
    # The documented pattern `gate >> work >> [report_success, report_failure(one_failed)]`:
    # when the gate itself fails (timeout, unknown pipeline, another DAG run's claim), the
    # failure report runs with nothing to report. It used to fail with "gate the DAG with
    # InterlockSensor first" — a second, misleading error on a DAG that was gated.
    operator = InterlockReportOperator(
        task_id="report_failure", pipeline_id="inventory", outcome="failed"
    )
    with pytest.raises(AirflowSkipException, match="nothing to report"):
        operator.execute(task_context())
    # Another DAG run's claim is left alone.
    interlock.make_ready(PERIOD)
    interlock.engine().claim("inventory", PERIOD, "airflow:other/run")
    with pytest.raises(AirflowSkipException, match="nothing to report"):
        operator.execute(task_context())
    assert interlock.engine().run("inventory", PERIOD).status == "CLAIMED"
    # A success report without a claim is still an error: the work ran ungated.
    with pytest.raises(AirflowFailException, match="no run of inventory is claimed by"):
        InterlockReportOperator(task_id="report", pipeline_id="inventory").execute(task_context())
