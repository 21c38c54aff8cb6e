"""A run opened without validation (``lifecycle.open_run`` uses ``Run.model_construct``) is
the run validation would have built, field by field and type by type, on every path that opens
one: an emit, ``open_runs`` by hand, a claim, the watchdog closing a period, a direct
``open_run`` (an origin given as its value included)."""

import datetime as dt
from typing import Any

import pytest

from interlock_core import lifecycle
from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.runs import Run, RunOrigin, run_document
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
TRIGGERED = {
    "pipeline": {"id": "orders"},
    "schedule": {"trigger": {"key": "go", "check": "exists"}},
}
CRON = {"pipeline": {"id": "cron"}, "schedule": {"cron": "0 5 * * *", "timezone": "UTC"}}
CLAIMED = {"pipeline": {"id": "claimed"}, "schedule": {"trigger": {"key": "go", "check": "exists"}}}


def _typed(run: Run) -> dict[str, Any]:
    # ``==`` alone would pass a str for a StrEnum member: compare the types too.
    return {name: (type(value), value) for name, value in run.__dict__.items()}


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    runs: list[Run] = []
    constructed = lifecycle.open_run

    def checked(*args: Any, **kwargs: Any) -> Run:
        run = constructed(*args, **kwargs)
        validated = Run.model_validate(run.__dict__)
        assert _typed(run) == _typed(validated)
        assert run_document(run) == validated.model_dump_json()
        runs.append(run)
        return run

    monkeypatch.setattr(lifecycle, "open_run", checked)
    return runs


@pytest.mark.parametrize("store_url", ["memory://", "sqlite"])
def test_every_opening_path_builds_the_validated_run(
    opened: list[Run], store_url: str, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}" if store_url == "sqlite" else store_url
    clock = ManualClock(NOW)
    engine = Interlock(open_store(url), {}, clock)
    apply_documents(engine, TRIGGERED, CLAIMED, CRON)
    engine.emit("orders", "go", {"ok": True})  # a trigger opens the run
    engine.open_runs("orders", first="2026-03-01", last="2026-03-02")  # by hand
    engine.emit("claimed", "go", {})
    engine.claim("claimed", "2026-03-03", "airflow")
    engine.open_run("orders", "2026-02-27", "manual")  # type: ignore[arg-type]
    clock.set(NOW + dt.timedelta(hours=23, seconds=30))
    engine.watchdog()  # the 05:00 tick opens the cron run
    assert len(opened) >= 6
    assert ("cron", "2026-03-05") in {(run.pipeline_id, run.period) for run in opened}
    by_period = {(run.pipeline_id, run.period): run for run in opened}
    assert by_period["orders", "2026-02-27"].origin is RunOrigin.MANUAL
    stored = engine.store.get_run("orders", "2026-02-27")
    assert stored is not None and stored.origin is RunOrigin.MANUAL
