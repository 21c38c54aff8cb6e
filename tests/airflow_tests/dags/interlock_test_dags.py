"""DAGs the provider tests run with ``dag.test()`` (Airflow runs DAGs from its DAGs folder).

Every DAG takes its store from INTERLOCK_STORE or the ``interlock_default`` connection,
which each test sets, so one file serves every test.
"""

from datetime import UTC, datetime

from airflow.sdk import DAG, task

from integrations.airflow.hooks import InterlockHook
from integrations.airflow.operators import (
    InterlockEmitOperator,
    InterlockReportOperator,
    emit,
    on_failure_callback,
    on_success_callback,
)
from integrations.airflow.sensors import InterlockSensor

START = datetime(2026, 1, 1, tzinfo=UTC)
MODES = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
}
# Short enough to keep the suite fast; the timeout cases wait this long.
POKE_INTERVAL = 0.02
SHORT_TIMEOUT = 0.3


# Every DAG of this file by id, for the tests (Airflow itself finds them by auto-registration).
DAGS: dict[str, DAG] = {}


def register(dag: DAG) -> None:
    DAGS[dag.dag_id] = dag


def gate(mode: str, **kwargs) -> InterlockSensor:
    kwargs.setdefault("pipeline_id", "inventory")
    kwargs.setdefault("poke_interval", POKE_INTERVAL)
    return InterlockSensor(task_id="gate", **MODES[mode], **kwargs)


@task
def work(**context) -> str:
    """The gated work: it runs while Interlock shows the run CLAIMED by this DAG run."""
    period = context["ti"].xcom_pull(task_ids="gate")["period"]
    run = InterlockHook().get_conn().run("inventory", period)
    dag_run = context["dag_run"]
    expected = f"airflow:{dag_run.dag_id}/{dag_run.run_id}"
    if run is None or run.status != "CLAIMED" or run.owner != expected:
        raise RuntimeError(f"expected a claim by {expected}, found {run}")
    return run.status.value


@task
def failing_work() -> None:
    raise RuntimeError("the gated work broke")


for mode in MODES:
    # sensor -> work -> report: CLAIMED during the run, SUCCEEDED after it
    with DAG(f"interlock_happy_{mode}", schedule=None, start_date=START) as dag:
        (
            gate(mode, timeout=60)
            >> work()
            >> InterlockReportOperator(task_id="report", pipeline_id="inventory")
        )
    register(dag)

    # the mode x soft_fail x timeout matrix
    for soft_fail in (False, True):
        with DAG(
            f"interlock_matrix_{mode}_{'soft' if soft_fail else 'hard'}",
            schedule=None,
            start_date=START,
        ) as dag:
            # exponential_backoff too (capped by max_wait to stay fast): same in every mode
            gate(
                mode,
                timeout=SHORT_TIMEOUT,
                soft_fail=soft_fail,
                exponential_backoff=True,
                max_wait=POKE_INTERVAL,
            )
        register(dag)

    # infrastructure errors with soft_fail on: never a skip
    with DAG(f"interlock_unreachable_{mode}", schedule=None, start_date=START) as dag:
        gate(mode, timeout=30, soft_fail=True)
    register(dag)
    with DAG(f"interlock_unknown_{mode}", schedule=None, start_date=START) as dag:
        gate(mode, timeout=30, soft_fail=True, pipeline_id="no-such-pipeline")
    register(dag)


# outcome reporting by DAG callbacks instead of a report task
with DAG(
    "interlock_callbacks_success",
    schedule=None,
    start_date=START,
    on_success_callback=on_success_callback("inventory"),
    on_failure_callback=on_failure_callback("inventory"),
) as dag:
    gate("poke", timeout=30) >> work()
register(dag)

with DAG(
    "interlock_callbacks_failure",
    schedule=None,
    start_date=START,
    on_success_callback=on_success_callback("{{ params.pipeline }}"),
    on_failure_callback=on_failure_callback("{{ params.pipeline }}"),
    params={"pipeline": "inventory"},
) as dag:
    gate("poke", timeout=30) >> failing_work()
register(dag)


# a producer DAG: templated sensor data and the emit() helper
with DAG(
    "interlock_producer",
    schedule=None,
    start_date=START,
    params={"rows": 1204},
) as dag:

    @task
    def export_stock(period: str) -> dict:
        return emit("inventory", "stock", {"status": "done", "rows": 1204}, period)

    period = "{{ data_interval_start.strftime('%Y-%m-%d') }}"
    export_stock(period) >> InterlockEmitOperator(
        task_id="feed",
        pipeline_id="inventory",
        sensor_key="feed",
        data={"state": "complete", "rows": "{{ params.rows }}"},
        period=period,
    )
register(dag)
