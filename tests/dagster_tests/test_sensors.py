"""Readiness sensors, evaluated by Dagster itself (build_sensor_context + evaluate_tick)."""

import json
from collections import Counter
from typing import Any

import dagster as dg
import pytest

from integrations.dagster import (
    ATTEMPT_TAG,
    OWNER_TAG,
    PERIOD_TAG,
    PIPELINE_TAG,
    InterlockResource,
    InterlockSensorSpec,
    build_interlock_sensor,
    build_interlock_sensors,
)
from interlock_core import Interlock, RunStatus
from tests.dagster_tests.helpers import NOW, ready


@dg.asset
def inventory_snapshot() -> None:
    """The gated work (never executed here: the sensor only requests it)."""


def tick(
    defs: dg.Definitions,
    name: str,
    interlock: InterlockResource,
    instance: dg.DagsterInstance,
    cursor: str | None = None,
) -> Any:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"interlock": interlock}, definitions=defs
    )
    return defs.resolve_sensor_def(name).evaluate_tick(context)


def definitions(
    *sensors: dg.SensorDefinition, assets: list[object] | None = None
) -> dg.Definitions:
    return dg.Definitions(assets=assets or [inventory_snapshot], sensors=list(sensors))


def test_skip_names_the_failing_rules_and_claims_nothing(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    defs = definitions(sensor)

    result = tick(defs, "interlock_inventory", interlock, instance)
    assert result.run_requests == []
    assert "not ready" in result.skip_message and "stock-export" in result.skip_message

    engine.emit("inventory", "stock-export", {"status": "done", "rows": 0})
    result = tick(defs, "interlock_inventory", interlock, instance)
    assert result.run_requests == []
    assert "rows" in result.skip_message and ">= 1" in result.skip_message
    run = engine.run("inventory", engine.evaluate("inventory").period)
    assert run is None or run.status == RunStatus.WAITING  # nothing claimed


def test_one_request_per_attempt_and_a_rerun_launches_again(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    defs = definitions(sensor)
    period = ready(engine)

    first = tick(defs, "interlock_inventory", interlock, instance)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_key == f"inventory:{period}:1"
    owner = f"dagster:interlock_inventory/inventory:{period}:1"
    assert request.tags[OWNER_TAG] == owner
    assert (request.tags[PIPELINE_TAG], request.tags[PERIOD_TAG]) == ("inventory", period)
    assert request.tags[ATTEMPT_TAG] == "1"
    assert request.partition_key is None  # the target is not partitioned
    run = engine.run("inventory", period)
    assert run is not None and run.status == RunStatus.CLAIMED and run.owner == owner

    # Same period, next tick: no second request.
    second = tick(defs, "interlock_inventory", interlock, instance, first.cursor)
    assert second.run_requests == []
    assert "already requested" in second.skip_message
    assert f"inventory:{period}:1" in json.loads(first.cursor)["requested"]

    # The Dagster run succeeded: still nothing to launch.
    engine.report("inventory", period, "success", owner)
    third = tick(defs, "interlock_inventory", interlock, instance, first.cursor)
    assert third.run_requests == [] and "SUCCEEDED" in third.skip_message

    # A rerun opens attempt 2, which launches again with a new run key.
    assert engine.request_rerun("inventory", period, "code-fix", force=True).accepted
    fourth = tick(defs, "interlock_inventory", interlock, instance, first.cursor)
    assert [r.run_key for r in fourth.run_requests] == [f"inventory:{period}:2"]
    rerun = engine.run("inventory", period)
    assert rerun is not None and rerun.attempt == 2 and rerun.status == RunStatus.CLAIMED
    assert rerun.owner == f"dagster:interlock_inventory/inventory:{period}:2"


def test_a_claim_whose_tick_was_lost_is_requested_again_with_the_same_key(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    defs = definitions(sensor)
    period = ready(engine)
    first = tick(defs, "interlock_inventory", interlock, instance)
    # The cursor of that tick never reached Dagster: the same request again (Dagster drops
    # a run key it already launched), and no second claim.
    again = tick(defs, "interlock_inventory", interlock, instance, cursor=None)
    assert [r.run_key for r in again.run_requests] == [first.run_requests[0].run_key]
    claimed = [e for e in engine.events("inventory", period=period) if e.type == "RUN_CLAIMED"]
    assert len(claimed) == 1


def test_a_partitioned_target_gets_the_period_as_partition_key(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    # end_offset=1: today's partition exists (Interlock's current daily period is today).
    daily = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)

    @dg.asset(partitions_def=daily)
    def daily_snapshot() -> None: ...

    sensor = build_interlock_sensor(pipeline_id="inventory", target=daily_snapshot)
    defs = definitions(sensor, assets=[daily_snapshot])
    period = ready(engine)

    result = tick(defs, "interlock_inventory", interlock, instance)
    assert [r.partition_key for r in result.run_requests] == [period]
    assert result.run_requests[0].tags["dagster/partition"] == period


def test_a_partitioned_target_without_the_periods_key_is_a_skip_not_a_claim(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    # The partitions end the day before the current period (end_date is exclusive), as
    # daily partitions without end_offset end yesterday: no key for today.
    daily = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date=NOW.date().isoformat())

    @dg.asset(partitions_def=daily)
    def late_snapshot() -> None: ...

    sensor = build_interlock_sensor(pipeline_id="inventory", target=late_snapshot)
    defs = definitions(sensor, assets=[late_snapshot])
    period = ready(engine)

    result = tick(defs, "interlock_inventory", interlock, instance)
    assert result.run_requests == []
    assert "no key for period" in result.skip_message and "end_offset=1" in result.skip_message
    run = engine.run("inventory", period)
    assert run is not None and run.status == RunStatus.WAITING


def test_period_fn_picks_the_period(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    engine.emit("inventory", "stock-export", {"status": "done", "rows": 5}, period="2026-03-04")
    sensor = build_interlock_sensor(
        pipeline_id="inventory",
        target=inventory_snapshot,
        name="inventory_backfill",
        period_fn=lambda context: "2026-03-04",
    )
    result = tick(definitions(sensor), "inventory_backfill", interlock, instance)
    assert [r.run_key for r in result.run_requests] == ["inventory:2026-03-04:1"]


def test_wait_for_succeeded_launches_after_another_pipelines_success(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(
        pipeline_id="inventory",
        target=inventory_snapshot,
        name="after_inventory",
        wait_for="succeeded",
    )
    defs = definitions(sensor)
    period = ready(engine)

    waiting = tick(defs, "after_inventory", interlock, instance)
    assert waiting.run_requests == [] and "has not succeeded" in waiting.skip_message

    engine.claim("inventory", period, "airflow:inventory/manual")
    engine.report("inventory", period, "success", "airflow:inventory/manual")
    launched = tick(defs, "after_inventory", interlock, instance)
    assert [r.run_key for r in launched.run_requests] == [f"inventory:{period}:1"]
    assert OWNER_TAG not in launched.run_requests[0].tags  # nothing claimed, nothing to report
    again = tick(defs, "after_inventory", interlock, instance, launched.cursor)
    assert again.run_requests == []


def test_one_sensor_for_many_pipelines_names_the_job_of_each_request(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    uk_job = dg.define_asset_job("uk_job", selection=[inventory_snapshot])
    eu_job = dg.define_asset_job("eu_job", selection=[inventory_snapshot])
    sensor = build_interlock_sensors(
        [InterlockSensorSpec("inventory", uk_job), InterlockSensorSpec("inventory-eu", eu_job)],
        name="all_inventories",
    )
    defs = dg.Definitions(assets=[inventory_snapshot], jobs=[uk_job, eu_job], sensors=[sensor])

    nothing = tick(defs, "all_inventories", interlock, instance)
    assert "inventory " in nothing.skip_message and "inventory-eu " in nothing.skip_message

    period = ready(engine, "inventory-eu")
    result = tick(defs, "all_inventories", interlock, instance)
    assert [(r.job_name, r.run_key) for r in result.run_requests] == [
        ("eu_job", f"inventory-eu:{period}:1")
    ]


def test_an_unreadable_cursor_is_reset(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    defs = definitions(sensor)
    skipped = tick(defs, "interlock_inventory", interlock, instance, cursor="not json")
    assert json.loads(skipped.cursor) == {"requested": []}
    period = ready(engine)
    result = tick(defs, "interlock_inventory", interlock, instance, cursor='{"requested": 3}')
    assert json.loads(result.cursor) == {"requested": [f"inventory:{period}:1"]}


def test_an_unknown_pipeline_fails_the_tick(
    interlock: InterlockResource, instance: dg.DagsterInstance
) -> None:
    sensor = build_interlock_sensor(pipeline_id="no-such-pipeline", target=inventory_snapshot)
    with pytest.raises(Exception, match="unknown pipeline 'no-such-pipeline'"):
        tick(definitions(sensor), "interlock_no_such_pipeline", interlock, instance)


def test_bad_arguments_are_refused_when_building() -> None:
    with pytest.raises(ValueError, match="wait_for"):
        build_interlock_sensor(pipeline_id="x", target=inventory_snapshot, wait_for="done")
    with pytest.raises(TypeError, match="must be a job"):
        build_interlock_sensors([InterlockSensorSpec("x", inventory_snapshot)])  # type: ignore[arg-type]


def test_claiming_a_pipeline_that_has_a_job_fails_the_tick(
    interlock: InterlockResource,
    engine: Interlock,
    pipelines_dir: Any,
    instance: dg.DagsterInstance,
) -> None:
    text = (pipelines_dir / "inventory.yaml").read_text()
    (pipelines_dir / "inventory.yaml").write_text(
        text.replace(
            "job:\n  claimTimeout: 6h", 'job:\n  type: command\n  config:\n    command: ["true"]'
        )
    )
    interlock.get_engine()  # the resource re-applies the changed file
    ready(engine)
    sensor = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    with pytest.raises(Exception, match="wait_for='succeeded'"):
        tick(definitions(sensor), "interlock_inventory", interlock, instance)


def test_an_hourly_period_is_dagsters_hourly_partition_key(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    hours = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00")

    @dg.asset(partitions_def=hours)
    def hourly_orders() -> None: ...

    engine.emit(
        "orders-hourly", "stock-export", {"status": "done", "rows": 1}, period="2026-03-04T10"
    )
    sensor = build_interlock_sensor(
        pipeline_id="orders-hourly",
        target=hourly_orders,
        period_fn=lambda context: "2026-03-04T10",
    )
    defs = definitions(sensor, assets=[hourly_orders])
    result = tick(defs, "interlock_orders_hourly", interlock, instance)
    assert [(r.run_key, r.partition_key) for r in result.run_requests] == [
        ("orders-hourly:2026-03-04T10:1", "2026-03-04-10:00")
    ]


def test_wait_for_succeeded_is_not_fooled_by_a_dry_run_pass(
    interlock: InterlockResource,
    engine: Interlock,
    pipelines_dir: Any,
    instance: dg.DagsterInstance,
) -> None:
    text = (pipelines_dir / "inventory.yaml").read_text()
    (pipelines_dir / "inventory.yaml").write_text(
        text.replace(
            "job:\n  claimTimeout: 6h", 'job:\n  type: command\n  config:\n    command: ["true"]'
        )
        + "dryRun: true\n"
    )
    interlock.get_engine()  # re-applies the changed file
    period = ready(engine)
    assert engine.advance("inventory", period).is_dry_run_pass  # type: ignore[union-attr]

    sensor = build_interlock_sensor(
        pipeline_id="inventory", target=inventory_snapshot, name="after", wait_for="succeeded"
    )
    result = tick(definitions(sensor), "after", interlock, instance)
    assert result.run_requests == []
    assert "a dry run's pass (no job ran)" in result.skip_message


def test_two_sensors_on_one_pipeline_launch_one_run(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    first = build_interlock_sensor(pipeline_id="inventory", target=inventory_snapshot)
    second = build_interlock_sensor(
        pipeline_id="inventory", target=inventory_snapshot, name="inventory_again"
    )
    defs = definitions(first, second)
    period = ready(engine)

    launched = tick(defs, "interlock_inventory", interlock, instance)
    assert len(launched.run_requests) == 1
    other = tick(defs, "inventory_again", interlock, instance)
    assert other.run_requests == []
    assert f"claimed by dagster:interlock_inventory/inventory:{period}:1" in other.skip_message
    # The owner prefix is the sensor name plus "/": a sensor whose name extends the other's
    # does not take its claim for its own.
    longer = build_interlock_sensor(
        pipeline_id="inventory", target=inventory_snapshot, name="interlock_inventory_2"
    )
    assert (
        tick(definitions(longer), "interlock_inventory_2", interlock, instance).run_requests == []
    )


def test_one_sensor_for_many_pipelines_reads_the_configs_once_per_tick(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    jobs = [dg.define_asset_job(f"job_{n}", selection=[inventory_snapshot]) for n in range(3)]
    pipelines = ["inventory", "inventory-eu", "orders-hourly"]
    sensor = build_interlock_sensors(
        [InterlockSensorSpec(p, job) for p, job in zip(pipelines, jobs, strict=True)],
        name="three",
    )
    defs = dg.Definitions(assets=[inventory_snapshot], jobs=jobs, sensors=[sensor])
    calls: Counter[str] = Counter()
    for name in ("get_config", "list_configs", "config_hashes", "get_sensors", "get_run"):
        method = getattr(engine.store, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(engine.store, name, counted)
    result = tick(defs, "three", interlock, instance)
    assert all(f"{p} " in result.skip_message for p in pipelines)  # every pipeline evaluated
    # One config listing for the tick (not a config read per pipeline): 1 + 2N reads, not 3N.
    # The listing names each current hash; documents parsed before are not read again.
    assert dict(calls) == {"config_hashes": 1, "get_sensors": 3, "get_run": 3}
