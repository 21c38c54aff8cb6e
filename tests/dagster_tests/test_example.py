"""examples/dagster: Dagster's own validator accepts it, and its whole loop works — emit on
materialization, readiness sensor, blocking check, real run, run reporting."""

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from integrations.dagster import OWNER_TAG, close_engines
from interlock_core import Interlock, RunStatus
from interlock_core.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dagster" / "definitions.py"


def test_dagster_definitions_validate_accepts_the_example(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "INTERLOCK_STORE": f"sqlite:///{tmp_path / 'interlock.db'}"}
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-f", str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{tmp_path / 'interlock.db'}")
    spec = importlib.util.spec_from_file_location("interlock_dagster_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    close_engines()


def at(example: Any, instant: datetime) -> Interlock:
    """The example's engine with its clock frozen at ``instant`` (never the wall clock's day:
    the pipeline excludes 25 December)."""
    engine: Interlock = example.defs.resources["interlock"].get_engine()
    engine.clock = ManualClock(instant)
    return engine


def test_the_example_gates_launches_and_reports(example: Any, instance: dg.DagsterInstance) -> None:
    defs: dg.Definitions = example.defs
    # 01:30 UTC on 10 March 2026 is 01:30 in London: the period is that day.
    engine = at(example, datetime(2026, 3, 10, 1, 30, tzinfo=UTC))
    period = engine.evaluate("warehouse-inventory").period
    assert period == "2026-03-10"

    def tick(name: str, cursor: str | None = None) -> Any:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
        )
        return defs.resolve_sensor_def(name).evaluate_tick(context)

    reporting = tick("interlock_run_succeeded").cursor
    emitting = tick("interlock_emit_warehouse_inventory").cursor
    waiting = tick("interlock_warehouse_inventory")
    assert waiting.run_requests == [] and "stock-export" in waiting.skip_message

    # The producers: a Dagster asset (emitted by the sensor) and one outside Dagster.
    dg.materialize([example.stock_export], instance=instance, partition_key=period)
    assert "stock-export#" in tick("interlock_emit_warehouse_inventory", emitting).skip_message
    engine.emit("warehouse-inventory", "warehouse-feed", {"state": "complete"})

    (request,) = tick("interlock_warehouse_inventory").run_requests
    assert request.partition_key == period
    assert request.run_key == f"warehouse-inventory:{period}:1"

    run = defs.resolve_job_def("inventory_job").execute_in_process(
        instance=instance, partition_key=period, tags=request.tags
    )
    assert run.success
    (check,) = run.get_asset_check_evaluations()
    assert check.passed and check.metadata["period"].value == period
    tick("interlock_run_succeeded", reporting)

    record = engine.run("warehouse-inventory", period)
    assert record is not None and record.status == RunStatus.SUCCEEDED
    assert record.owner == request.tags[OWNER_TAG]


def test_the_example_launches_nothing_on_an_excluded_day(
    example: Any, instance: dg.DagsterInstance
) -> None:
    defs: dg.Definitions = example.defs
    # 23:30 UTC on 24 December is 23:30 in London: still the 24th; half an hour later the 25th.
    engine = at(example, datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    engine.emit("warehouse-inventory", "stock-export", {"status": "done", "rows": 5})
    engine.emit("warehouse-inventory", "warehouse-feed", {"state": "complete"})
    engine.clock = ManualClock(datetime(2026, 12, 25, 0, 30, tzinfo=UTC))
    engine.emit("warehouse-inventory", "stock-export", {"status": "done", "rows": 5})
    engine.emit("warehouse-inventory", "warehouse-feed", {"state": "complete"})

    context = dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
    result = defs.resolve_sensor_def("interlock_warehouse_inventory").evaluate_tick(context)
    assert result.run_requests == []
    assert "2026-12-25 is excluded" in result.skip_message
    assert engine.run("warehouse-inventory", "2026-12-25") is None
