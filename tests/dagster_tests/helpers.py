"""Helpers shared by the Dagster integration tests."""

from datetime import UTC, datetime

from interlock_core import Interlock

# Every test runs at this instant, never at the wall clock's: a test must not pass or fail by
# the calendar day (an excluded date) or the hour (a period boundary between two calls) it
# runs in. It lies in the past, so Dagster's time-window partitions hold its key.
NOW = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)


def ready(engine: Interlock, pipeline_id: str = "inventory", rows: int = 120) -> str:
    """Write passing sensors for the current period; returns the period."""
    engine.emit(pipeline_id, "stock-export", {"status": "done", "rows": rows})
    return engine.evaluate(pipeline_id).period
