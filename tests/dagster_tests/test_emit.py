"""Emitting Interlock sensors from Dagster: from asset code, and on materialization."""

import datetime as dt
import json
from typing import Any

import dagster as dg

from integrations.dagster import InterlockResource, build_interlock_emit_sensor
from interlock_core import Interlock
from tests.dagster_tests.helpers import NOW


@dg.asset(key_prefix="emit_tests")
def stock_export(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": "done", "rows": 120})


@dg.asset(key_prefix="emit_tests", partitions_def=dg.DailyPartitionsDefinition("2026-01-01"))
def daily_export(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": "done", "rows": 7})


EMIT = build_interlock_emit_sensor(
    pipeline_id="inventory", assets={stock_export: "stock-export", daily_export: "stock-export"}
)


def tick(interlock: InterlockResource, instance: dg.DagsterInstance, cursor: Any = None) -> Any:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"interlock": interlock}
    )
    return EMIT.evaluate_tick(context)


def test_a_materialization_becomes_an_interlock_sensor_that_opens_the_gate(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    # A materialization from before the sensor existed is history: never replayed.
    dg.materialize([stock_export], instance=instance)
    first = tick(interlock, instance)
    assert first.skip_message == "no new materializations"
    assert engine.store.get_sensors("inventory") == {}

    run = dg.materialize([stock_export], instance=instance)
    result = tick(interlock, instance, first.cursor)

    assert result.skip_message == "emitted inventory/stock-export v1"
    sensor = engine.store.get_sensors("inventory")["stock-export"]
    assert sensor.data["status"] == "done" and sensor.data["rows"] == 120
    provenance = sensor.data["dagster"]
    assert provenance["asset"] == "emit_tests/stock_export" and provenance["partition"] is None
    assert provenance["run_id"] == run.run_id
    # Dagster stamps the materialization with the wall clock; Interlock with its own clock.
    materialized_at = dt.datetime.fromisoformat(provenance["materialized_at"])
    assert abs(dt.datetime.now(dt.UTC) - materialized_at) < dt.timedelta(minutes=5)
    assert sensor.written_at == NOW
    assert engine.evaluate("inventory").ready

    idle = tick(interlock, instance, result.cursor)
    assert idle.skip_message == "no new materializations"


def test_a_partition_naming_a_period_is_written_for_that_period(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    first = tick(interlock, instance)
    dg.materialize([daily_export], instance=instance, partition_key="2026-03-04")
    dg.materialize([daily_export], instance=instance, partition_key="2026-03-05")
    tick(interlock, instance, first.cursor)

    sensors = engine.store.get_sensors("inventory")
    assert sensors["stock-export#2026-03-04"].data["rows"] == 7
    assert sensors["stock-export#2026-03-05"].data["dagster"]["partition"] == "2026-03-05"
    assert engine.evaluate("inventory", "2026-03-04").ready


def test_the_resource_emits_from_asset_code(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    @dg.asset
    def producer(interlock: InterlockResource) -> None:
        interlock.emit("inventory", "stock-export", {"status": "done", "rows": 3}, "2026-03-04")

    dg.materialize([producer], resources={"interlock": interlock}, instance=instance)
    assert engine.evaluate("inventory", "2026-03-04").ready
    assert engine.run("inventory", "2026-03-04") is not None  # the trigger opened the run


def test_data_interlock_refuses_is_logged_and_skipped_not_retried_forever(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    @dg.asset(key_prefix="emit_tests", partitions_def=dg.DailyPartitionsDefinition("2026-01-01"))
    def contradicting_export() -> dg.MaterializeResult:
        # Its date names another day than its partition: Interlock refuses the write.
        return dg.MaterializeResult(metadata={"status": "done", "date": "2026-03-09"})

    emit = build_interlock_emit_sensor(
        pipeline_id="inventory", assets=[contradicting_export], name="contradicting"
    )

    def run_tick(cursor: Any = None) -> Any:
        return emit.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"interlock": interlock}
            )
        )

    start = run_tick()
    dg.materialize([contradicting_export], instance=instance, partition_key="2026-03-04")
    refused = run_tick(start.cursor)

    assert refused.skip_message == ("refused 1 from emit_tests/contradicting_export (see log)")
    assert (
        json.loads(refused.cursor)["emit_tests/contradicting_export"]
        > json.loads(start.cursor)["emit_tests/contradicting_export"]
    )
    assert not any(
        k.startswith("emit_tests.contradicting_export")
        for k in engine.store.get_sensors("inventory")
    )


def test_rich_metadata_and_many_materializations_in_one_tick(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    counter = iter(range(1, 100))

    @dg.asset(key_prefix="emit_tests")
    def rich_export() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={
                "status": "done",
                "rows": next(counter),
                "ratio": float("nan"),
                "stats": dg.MetadataValue.json({"max": 3, "names": ["a"]}),
                "source": dg.MetadataValue.asset(dg.AssetKey(["raw", "stock"])),
                "at": dg.MetadataValue.timestamp(1773138600.0),
                "schema": dg.MetadataValue.table_schema(
                    dg.TableSchema(columns=[dg.TableColumn("sku", "string")])
                ),
                "dagster/row_count": 5,
            }
        )

    emit = build_interlock_emit_sensor(
        pipeline_id="inventory", assets={rich_export: "stock-export"}, name="rich"
    )

    def run_tick(cursor: Any = None) -> Any:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"interlock": interlock}
        )
        return emit.evaluate_tick(context)

    start = run_tick()
    for _ in range(3):
        dg.materialize([rich_export], instance=instance)
    result = run_tick(start.cursor)

    assert result.skip_message.count("inventory/stock-export v") == 3
    sensor = engine.store.get_sensors("inventory")["stock-export"]
    assert sensor.version == 3 and sensor.data["rows"] == 3  # the newest wins
    data = sensor.data
    assert data["ratio"] is None and data["stats"] == {"max": 3, "names": ["a"]}
    assert data["at"] == 1773138600.0 and data["dagster/row_count"] == 5
    assert data["source"] == "raw/stock" and "sku" in data["schema"]
    assert engine.evaluate("inventory").ready
    assert run_tick(result.cursor).skip_message == "no new materializations"
