"""The local runtime keeps the store in step with the pipelines directory, file by file."""

import datetime as dt
from pathlib import Path

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runtime import LocalRuntime
from interlock_core.storage import open_store

GOOD = """\
pipeline: {id: orders}
schedule:
  trigger: {key: go, check: exists}
validation:
  rules: [{key: rows, check: gte, field: count, value: 100}]
"""
CHANGED = GOOD.replace("value: 100", "value: 200")
BROKEN = GOOD.replace("check: gte", "check: gtee")


def _runtime(tmp_path: Path) -> tuple[LocalRuntime, Interlock, Path]:
    directory = tmp_path / "pipelines"
    directory.mkdir()
    engine = Interlock(
        open_store("memory://"), {}, ManualClock(dt.datetime(2026, 3, 4, tzinfo=dt.UTC))
    )
    return LocalRuntime(engine, directory), engine, directory


def test_changes_apply_and_a_broken_file_keeps_the_last_good_config(tmp_path: Path) -> None:
    runtime, engine, directory = _runtime(tmp_path)
    (directory / "orders.yaml").write_text(GOOD)
    assert runtime.run_once(force_checks=True).applied == ["orders: created"]
    first = engine.config("orders")
    assert first is not None
    assert runtime.run_once(force_checks=True).applied == []  # unchanged files are no-ops

    (directory / "orders.yaml").write_text(BROKEN)
    report = runtime.run_once(force_checks=True)
    assert len(report.applied) == 1 and report.applied[0].startswith("invalid: ")
    assert "orders.yaml:5" in report.applied[0] and "gtee" in report.applied[0]
    kept = engine.config("orders")
    assert kept is not None and kept.hash == first.hash
    [invalid] = engine.events(types=[EventType.CONFIG_INVALID])
    assert invalid.pipeline_id == "orders"
    assert engine.events(types=[EventType.PIPELINE_REMOVED]) == []

    (directory / "orders.yaml").write_text(CHANGED)
    assert runtime.run_once(force_checks=True).applied == ["orders: updated"]
    updated = engine.config("orders")
    assert updated is not None and updated.pipeline.validation.rules[0].value == 200

    # Deleting one file of several removes its pipeline ...
    (directory / "other.yaml").write_text(GOOD.replace("id: orders", "id: other"))
    assert runtime.run_once(force_checks=True).applied == ["other: created"]
    (directory / "orders.yaml").unlink()
    assert runtime.run_once(force_checks=True).applied == ["orders: removed"]
    assert engine.config("orders") is None
    assert len(engine.events(types=[EventType.PIPELINE_REMOVED])) == 1
    # ... but an emptied directory (a wrong mount, a bad checkout) removes nothing.
    (directory / "other.yaml").unlink()
    [line] = runtime.run_once(force_checks=True).applied
    assert line.startswith("not applied: no pipeline files to apply")
    assert engine.config("other") is not None


def test_a_sensor_written_straight_into_the_store_wakes_waiting_runs(tmp_path: Path) -> None:
    runtime, engine, directory = _runtime(tmp_path)
    (directory / "orders.yaml").write_text(GOOD)
    runtime.run_once(force_checks=True)
    engine.emit("orders", "go", {})
    runtime.run_once()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.due_at is not None and run.due_at > engine.clock.now()
    # a producer bypassing the engine (e.g. a raw store write from another tool)
    engine.store.put_sensor("orders", "rows", {"count": 150}, engine.clock.now())
    runtime.run_once()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.gate_passed_at is not None


def test_a_file_named_relatively_then_absolutely_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock_core.config.loader import load_pipelines

    _, engine, directory = _runtime(tmp_path)
    (directory / "orders.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    engine.apply(load_pipelines(Path("pipelines")), partial=True)
    (directory / "orders.yaml").write_text(BROKEN)
    result = engine.apply(load_pipelines(directory.resolve()), partial=True)
    assert [c.action for c in result.changes] == []
    assert engine.config("orders") is not None
    [invalid] = engine.events(types=[EventType.CONFIG_INVALID])
    assert invalid.pipeline_id == "orders"


def test_breaking_a_file_again_after_a_fix_alerts_again(tmp_path: Path) -> None:
    import os

    runtime, engine, directory = _runtime(tmp_path)
    path = directory / "orders.yaml"
    path.write_text(GOOD)
    runtime.run_once(force_checks=True)
    for edition in range(2):
        path.write_text(BROKEN)
        os.utime(path, ns=(10**18 + edition, 10**18 + edition))
        runtime.run_once(force_checks=True)
        runtime.run_once(force_checks=True)  # unchanged: no new alert
        path.write_text(GOOD)
        os.utime(path, ns=(2 * 10**18 + edition, 2 * 10**18 + edition))
        runtime.run_once(force_checks=True)
    invalid = engine.events(types=[EventType.CONFIG_INVALID])
    assert len(invalid) == 2
    assert "the last good config stays active" in invalid[0].message


def test_a_files_warnings_are_shown_when_it_is_applied(tmp_path: Path) -> None:
    runtime, _engine, directory = _runtime(tmp_path)
    no_id = GOOD.replace("pipeline: {id: orders}\n", "")
    (directory / "orders.yaml").write_text(no_id)
    first = runtime.run_once(force_checks=True).applied
    assert first[0] == "orders: created"
    [warning] = first[1:]
    assert warning.startswith("warning: ") and "orders.yaml" in warning
    assert "pipeline.id is missing" in warning
    assert runtime.run_once(force_checks=True).applied == []  # nothing changed: quiet
    (directory / "orders.yaml").write_text(no_id.replace("value: 100", "value: 200"))
    assert runtime.run_once(force_checks=True).applied == ["orders: updated", warning]
