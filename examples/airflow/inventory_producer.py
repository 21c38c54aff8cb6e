"""Feed Interlock: the stock export and warehouse feed write the sensors that
``warehouse-inventory`` waits for.

Each sensor carries a ``date`` (the London date of the data interval), so it counts for that
period only — yesterday's "done" never opens today's gate.
"""

import pendulum
from airflow.sdk import DAG, task

from integrations.airflow.operators import InterlockEmitOperator, emit

# The period of this DAG run in the pipeline's time zone (Europe/London).
PERIOD = "{{ data_interval_start.in_timezone('Europe/London').strftime('%Y-%m-%d') }}"

with DAG(
    dag_id="inventory_producer",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
    catchup=False,
    tags=["interlock"],
) as dag:

    @task
    def export_stock(period: str) -> None:
        rows = 1204  # ... run the export ...
        emit(
            "warehouse-inventory", "stock-export", {"status": "done", "rows": rows, "date": period}
        )

    feed_done = InterlockEmitOperator(
        task_id="warehouse_feed_complete",
        pipeline_id="warehouse-inventory",
        sensor_key="warehouse-feed",
        data={"state": "complete", "date": PERIOD},
    )

    export_stock(PERIOD) >> feed_done
