"""Whole DAG runs with real Airflow (``dag.test()``) in poke, reschedule and deferrable mode."""

import json
import threading
from datetime import UTC, datetime

import pytest

from integrations.airflow.engines import engine_for
from tests.airflow_tests.dags import interlock_test_dags as dags
from tests.airflow_tests.test_triggers import CountingEvaluate

pytestmark = pytest.mark.usefixtures("airflow_db")

MODES = ["poke", "reschedule", "deferrable"]


def run_dag(dag_id: str) -> tuple[str, dict[str, str], str, str]:
    """Run a DAG of the test DAGs file now; its state, task states, run id and period."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    dag = dags.DAGS[dag_id]
    logical_date = datetime.now(UTC)
    dag_run = dag.test(logical_date=logical_date)
    with create_session() as session:
        stored = session.query(DagRun).filter_by(dag_id=dag_id, run_id=dag_run.run_id).one()
        states = {ti.task_id: str(ti.state) for ti in stored.get_task_instances(session=session)}
        return str(stored.state), states, stored.run_id, logical_date.strftime("%Y-%m-%d")


@pytest.mark.parametrize("mode", MODES)
def test_the_gate_passes_after_sensors_arrive_and_the_claim_is_reported(
    mode, interlock, monkeypatch
) -> None:
    # The store comes from the Airflow connection this time, not INTERLOCK_STORE.
    monkeypatch.delenv("INTERLOCK_STORE")
    connection = {"conn_type": "interlock", "extra": {"store": interlock.url}}
    monkeypatch.setenv("AIRFLOW_CONN_INTERLOCK_DEFAULT", json.dumps(connection))
    period = datetime.now(UTC).strftime("%Y-%m-%d")
    # The sensor has looked twice (and waited) before another thread writes the sensors.
    spy = CountingEvaluate(engine_for(interlock.url), signal_after=2)

    def producer() -> None:
        if spy.reached.wait(60):
            interlock.make_ready(period)

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    state, tasks, run_id, period = run_dag(f"interlock_happy_{mode}")
    thread.join(5)

    assert (state, tasks) == (
        "success",
        {"gate": "success", "work": "success", "report": "success"},
    )
    assert spy.calls >= 3
    run = interlock.engine().run("inventory", period)
    assert run.status == "SUCCEEDED"
    assert run.owner == f"airflow:interlock_happy_{mode}/{run_id}"
    kinds = [event.type.value for event in interlock.engine().events("inventory")]
    assert "RUN_CLAIMED" in kinds and "CLAIM_REPORTED" in kinds


# The outcome of each case is fixed by the case alone: every mode must give the same one.
MATRIX = [
    ("passes", "hard", "success"),
    ("times out", "hard", "failed"),
    ("times out", "soft", "skipped"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("case", "soft", "outcome"), MATRIX)
def test_mode_soft_fail_timeout_matrix(mode, case, soft, outcome, interlock) -> None:
    if case == "passes":
        interlock.make_ready(datetime.now(UTC).strftime("%Y-%m-%d"))
    else:
        # Sensors that exist but fail their rules (not just missing ones).
        engine = interlock.engine()
        engine.emit("inventory", "stock", {"status": "exporting", "rows": 0})
    _, tasks, _, period = run_dag(f"interlock_matrix_{mode}_{soft}")
    assert tasks == {"gate": outcome}
    run = interlock.engine().run("inventory", period)
    if case == "passes":
        assert run.status == "CLAIMED"
    else:
        assert run is None  # a gate that never passed opens and claims nothing


@pytest.mark.parametrize("mode", MODES)
def test_an_unreachable_store_fails_the_task_with_soft_fail_on(mode, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{garbage}")
    state, tasks, _, _ = run_dag(f"interlock_unreachable_{mode}")
    assert (state, tasks) == ("failed", {"gate": "failed"})


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_pipeline_fails_the_task_with_soft_fail_on(mode, interlock) -> None:
    state, tasks, _, _ = run_dag(f"interlock_unknown_{mode}")
    assert (state, tasks) == ("failed", {"gate": "failed"})


def test_callbacks_report_success(interlock) -> None:
    interlock.make_ready(datetime.now(UTC).strftime("%Y-%m-%d"))
    state, _, run_id, period = run_dag("interlock_callbacks_success")
    assert state == "success"
    run = interlock.engine().run("inventory", period)
    assert run.status == "SUCCEEDED"
    assert run.owner == f"airflow:interlock_callbacks_success/{run_id}"


def test_callbacks_report_failure(interlock) -> None:
    interlock.make_ready(datetime.now(UTC).strftime("%Y-%m-%d"))
    state, tasks, _, period = run_dag("interlock_callbacks_failure")
    assert state == "failed" and tasks["failing_work"] == "failed"
    run = interlock.engine().run("inventory", period)
    assert run.status == "FAILED"
    assert "DAG run failed" in run.message


def test_a_producer_dag_writes_the_sensors_that_open_the_gate(interlock) -> None:
    state, tasks, _, period = run_dag("interlock_producer")
    assert (state, tasks) == ("success", {"export_stock": "success", "feed": "success"})
    readiness = interlock.engine().evaluate("inventory", period)
    assert readiness.ready, readiness.evaluation.summary()
