"""Gate the nightly inventory snapshot on Interlock (pipeline ``warehouse-inventory``).

``warehouse-inventory`` is a job-less pipeline (examples/pipelines/warehouse-inventory.yaml):
Interlock only decides when it is safe to run; this DAG does the work. The sensor waits until
the pipeline's rules pass for the DAG run's period (the data interval start as a London date),
claims the Interlock run for this DAG run, and the report task (or the failure report) closes
the claim — so Interlock's SLA, watchdog and ``interlock status`` follow the DAG run.

Set up once: ``interlock apply examples/pipelines --store sqlite:////opt/airflow/interlock.db``
and an Airflow connection ``interlock_default`` of type ``interlock`` with extra
``{"store": "sqlite:////opt/airflow/interlock.db"}`` (or set INTERLOCK_STORE).
"""

import pendulum
from airflow.sdk import DAG, task

from integrations.airflow.operators import InterlockReportOperator
from integrations.airflow.sensors import InterlockSensor

with DAG(
    dag_id="warehouse_inventory",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
    catchup=False,
    tags=["interlock"],
) as dag:
    gate = InterlockSensor(
        task_id="wait_for_inventory_inputs",
        pipeline_id="warehouse-inventory",
        deferrable=True,  # waits in the triggerer, not in a worker slot
        poke_interval=300,
        timeout=4 * 3600,  # the trigger's deadline is 04:00; give up a little after
        exponential_backoff=False,
    )

    @task
    def snapshot_inventory(**context) -> int:
        evaluation = context["ti"].xcom_pull(task_ids="wait_for_inventory_inputs")
        print("inputs:", evaluation["summary"])
        return 42  # rows written

    done = InterlockReportOperator(task_id="report_success", pipeline_id="warehouse-inventory")
    failed = InterlockReportOperator(
        task_id="report_failure",
        pipeline_id="warehouse-inventory",
        outcome="failed",
        trigger_rule="one_failed",
    )

    work = snapshot_inventory()
    gate >> work >> [done, failed]
