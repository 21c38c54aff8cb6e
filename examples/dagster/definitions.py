"""Dagster definitions gating the warehouse inventory snapshot on Interlock.

The pipeline ``warehouse-inventory`` (``examples/pipelines/warehouse-inventory.yaml``) is
job-less: Interlock only gates it, Dagster does the work. Here

- ``stock_export`` is materialized in Dagster; the emit sensor writes each materialization to
  Interlock as the ``stock-export`` sensor of its period (its metadata is the sensor data);
- ``warehouse_feed`` lands outside Dagster; its producer runs
  ``interlock emit warehouse-inventory warehouse-feed state=complete``;
- the readiness sensor claims the period's run once the gate passes and launches
  ``inventory_job`` for that day's partition;
- the blocking check on ``warehouse_feed`` re-checks the gate inside every run of the job (a
  manual "Materialize" in the UI included), so the snapshot never runs on unsafe inputs;
- the run-status sensors report each run's outcome to the claim, so Interlock's SLA
  (07:00 London), watchdog and ``interlock status`` follow Dagster's runs.

Try it::

    export INTERLOCK_STORE=sqlite:///$PWD/interlock.db
    dagster dev -f examples/dagster/definitions.py
"""

import os
from pathlib import Path

import dagster as dg

from integrations.dagster import (
    InterlockResource,
    build_interlock_asset_checks,
    build_interlock_emit_sensor,
    build_interlock_run_status_sensors,
    build_interlock_sensor,
)

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
PIPELINE = "warehouse-inventory"

# Interlock's period of a daily pipeline is the local date in its timezone; end_offset=1 makes
# today's partition exist, so the period is the partition key.
DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="Europe/London", end_offset=1)

warehouse_feed = dg.AssetSpec(
    "warehouse_feed",
    partitions_def=DAYS,
    description="Warehouse feed, landed outside Dagster (its producer emits to Interlock).",
)


@dg.asset(partitions_def=DAYS)
def stock_export(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Pulls the stock export; its metadata becomes the Interlock sensor ``stock-export``."""
    rows = 48210  # a real asset would count what it pulled
    context.log.info("stock export for %s: %s rows", context.partition_key, rows)
    return dg.MaterializeResult(metadata={"status": "done", "rows": rows})


@dg.asset(partitions_def=DAYS, deps=[stock_export, warehouse_feed])
def inventory_snapshot(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The gated work: the nightly inventory snapshot."""
    context.log.info("building the inventory snapshot for %s", context.partition_key)
    return dg.MaterializeResult(metadata={"period": context.partition_key})


@dg.asset(partitions_def=DAYS, deps=[inventory_snapshot])
def inventory_report() -> None:
    """Downstream of the snapshot."""


interlock_checks = build_interlock_asset_checks(assets_to_pipelines=[(warehouse_feed, PIPELINE)])

inventory_job = dg.define_asset_job(
    "inventory_job",
    selection=dg.AssetSelection.assets(inventory_snapshot, inventory_report)
    | dg.AssetSelection.checks(*interlock_checks),
)

defs = dg.Definitions(
    assets=[warehouse_feed, stock_export, inventory_snapshot, inventory_report],
    asset_checks=interlock_checks,
    jobs=[inventory_job],
    sensors=[
        build_interlock_sensor(pipeline_id=PIPELINE, target=inventory_job),
        build_interlock_emit_sensor(pipeline_id=PIPELINE, assets={stock_export: "stock-export"}),
        *build_interlock_run_status_sensors(monitored_jobs=[inventory_job]),
    ],
    resources={
        "interlock": InterlockResource(
            store=os.environ.get("INTERLOCK_STORE", "sqlite:///interlock.db"),
            pipelines=str(PIPELINES),
        )
    },
)
