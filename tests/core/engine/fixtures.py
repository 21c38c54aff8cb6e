"""Shared setup for engine tests: a pipeline applied to a store and runs opened in bulk."""

import datetime as dt
from pathlib import Path
from typing import Any

from interlock_core.clock import Clock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.periods import hourly_period
from interlock_core.storage import open_store
from tests.scenarios.harness import PipelineSetStub

BULK_PIPELINE: dict[str, Any] = {
    "pipeline": {"id": "bulk"},
    "schedule": {"period": "hourly"},
    "job": {"type": "command", "config": {"command": "true"}, "jobCheckIntervalSeconds": 60},
}


def recording_engine(clock: Clock, ledger: Path, *documents: dict[str, Any]) -> Interlock:
    """An engine on a fresh memory store whose command jobs are recorded in ``ledger``, with
    ``documents`` applied."""
    from tests.core.engine.recording import RecordingRunner

    engine = Interlock(open_store("memory://"), {"command": RecordingRunner(ledger)}, clock)
    apply_documents(engine, *documents)
    return engine


def apply_documents(engine: Interlock, *documents: dict[str, Any]) -> None:
    """Apply pipeline documents (already valid) to the engine's store."""
    pipelines = {doc["pipeline"]["id"]: Pipeline.model_validate(doc) for doc in documents}
    engine.apply(PipelineSetStub(pipelines, {}), remove_missing=False)


def open_bulk_runs(engine: Interlock, count: int, start: dt.datetime) -> list[str]:
    """Open ``count`` WAITING runs of the bulk pipeline, one per hour before ``start``."""
    periods = [hourly_period(start - dt.timedelta(hours=i + 1)) for i in range(count)]
    for period in periods:
        engine.open_run("bulk", period)
    return periods
