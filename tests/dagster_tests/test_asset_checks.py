"""Blocking asset checks whose result is the gate, executed by materialize()."""

import dagster as dg
import pytest

from integrations.dagster import InterlockResource, build_interlock_asset_checks, tags
from interlock_core import Interlock
from tests.dagster_tests.helpers import ready


@dg.asset
def stock_export() -> int:
    return 1


@dg.asset(deps=[stock_export])
def inventory_snapshot() -> int:
    return 2


CHECKS = build_interlock_asset_checks(assets_to_pipelines={stock_export: "inventory"})


def materialize(
    interlock: InterlockResource, instance: dg.DagsterInstance, **kwargs: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [stock_export, inventory_snapshot, *CHECKS],
        resources={"interlock": interlock},
        instance=instance,
        raise_on_error=False,
        **kwargs,  # type: ignore[arg-type]
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_a_failing_gate_stops_the_downstream_asset(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    engine.emit("inventory", "stock-export", {"status": "done", "rows": 0})
    result = materialize(interlock, instance)

    assert not result.success
    assert materialized(result) == {"stock_export"}  # inventory_snapshot never ran
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "interlock_inventory" and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR and evaluation.blocking
    metadata = {key: value.value for key, value in evaluation.metadata.items()}
    assert metadata["period"] == engine.evaluate("inventory").period
    assert metadata["summary"].startswith("1 of 2 rules pass; failing: stock-export")
    rules = metadata["rules"]
    assert [(r["key"], r["check"], r["passed"]) for r in rules] == [
        ("stock-export", "equals", True),
        ("stock-export", "gte", False),
    ]
    assert rules[1]["actual"] == 0
    assert metadata["rule 2: stock-export.rows gte"].startswith("FAIL:")


def test_a_passing_gate_lets_the_downstream_asset_run(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    ready(engine)
    result = materialize(interlock, instance)

    assert result.success
    assert materialized(result) == {"stock_export", "inventory_snapshot"}
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    metadata = {key: value.value for key, value in evaluation.metadata.items()}
    assert metadata["summary"] == "2 of 2 rules pass"
    assert all(rule["passed"] for rule in metadata["rules"])


def test_the_partition_key_is_the_period(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")
    feed = dg.AssetSpec("warehouse_feed", partitions_def=daily)

    @dg.asset(partitions_def=daily, deps=[feed])
    def daily_snapshot() -> None: ...

    checks = build_interlock_asset_checks(assets_to_pipelines=[(feed, "inventory")])
    engine.emit("inventory", "stock-export", {"status": "done", "rows": 9}, period="2026-03-04")
    defs = dg.Definitions(
        assets=[feed, daily_snapshot],
        asset_checks=checks,
        jobs=[
            dg.define_asset_job(
                "gated",
                selection=dg.AssetSelection.assets(daily_snapshot)
                | dg.AssetSelection.checks(*checks),
            )
        ],
        resources={"interlock": interlock},
    )
    job = defs.resolve_job_def("gated")

    passed = job.execute_in_process(instance=instance, partition_key="2026-03-04")
    (evaluation,) = passed.get_asset_check_evaluations()
    assert passed.success and evaluation.passed
    assert evaluation.metadata["period"].value == "2026-03-04"

    # The next day has no data: the check fails on the external asset and the work stops.
    blocked = job.execute_in_process(
        instance=instance, partition_key="2026-03-05", raise_on_error=False
    )
    (evaluation,) = blocked.get_asset_check_evaluations()
    assert not blocked.success and not evaluation.passed
    assert evaluation.metadata["period"].value == "2026-03-05"
    assert blocked.get_asset_materialization_events() == []


def test_a_non_blocking_check_warns_and_stops_nothing(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    checks = build_interlock_asset_checks(
        assets_to_pipelines={"stock_export": "inventory"}, blocking=False
    )
    result = dg.materialize(
        [stock_export, inventory_snapshot, *checks],
        resources={"interlock": interlock},
        instance=instance,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert materialized(result) == {"stock_export", "inventory_snapshot"}


def test_an_unpartitioned_run_launched_for_a_period_checks_that_period(
    interlock: InterlockResource, engine: Interlock, instance: dg.DagsterInstance
) -> None:
    # A sensor with period_fn (a backfill), or one whose tick claimed just before midnight,
    # launches an unpartitioned run tagged with its period: the check must gate that period,
    # not the current one (not ready here), or it blocks the very run it claimed.
    engine.emit("inventory", "stock-export", {"status": "done", "rows": 9}, period="2026-03-04")
    run_tags = tags.run_tags("inventory", "2026-03-04", 1, owner=None, wait_for="ready")
    result = materialize(interlock, instance, tags=run_tags)

    assert result.success, result.get_asset_check_evaluations()
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["period"].value == "2026-03-04"

    # Tags naming another pipeline's period say nothing about this one: the current period.
    other = tags.run_tags("inventory-eu", "2026-03-04", 1, owner=None, wait_for="ready")
    result = materialize(interlock, instance, tags=other)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["period"].value == engine.evaluate("inventory").period


@pytest.mark.parametrize("entries", [["stock_export"], [("stock_export",)], [("stock_export", 3)]])
def test_entries_that_are_not_asset_pipeline_pairs_are_named(entries: list[object]) -> None:
    with pytest.raises(TypeError, match="each entry must be an \\(asset, pipeline_id\\) pair"):
        build_interlock_asset_checks(assets_to_pipelines=entries)  # type: ignore[arg-type]
