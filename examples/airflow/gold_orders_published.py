"""Event-driven scheduling: publish gold orders as soon as Interlock reports the
``gold-orders-daily`` run of the day succeeded — no sensor holds a worker slot meanwhile.

The ``AssetWatcher`` runs ``InterlockEventTrigger`` in the triggerer; each success fires one
asset event, whose payload names the period. Limits: only the pipeline's current period is
watched, one event per period and attempt (see docs/airflow.md).
"""

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from integrations.airflow.triggers import InterlockEventTrigger

gold_orders = Asset(
    "interlock-gold-orders-daily",
    watchers=[
        AssetWatcher(
            name="gold-orders-daily-succeeded",
            trigger=InterlockEventTrigger(
                pipeline_id="gold-orders-daily", wait_for="succeeded", poke_interval=60
            ),
        )
    ],
)

with DAG(
    dag_id="gold_orders_published",
    schedule=[gold_orders],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["interlock"],
) as dag:

    @task
    def publish(**context) -> str:
        events = context["triggering_asset_events"][gold_orders]
        period = events[-1].extra["payload"]["period"]
        print("publishing gold orders for", period)
        return period

    publish()
