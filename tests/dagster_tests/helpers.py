"""Helpers shared by the Dagster integration tests."""

from interlock_core import Interlock


def ready(engine: Interlock, pipeline_id: str = "inventory", rows: int = 120) -> str:
    """Write passing sensors for the current period; returns the period."""
    engine.emit(pipeline_id, "stock-export", {"status": "done", "rows": rows})
    return engine.evaluate(pipeline_id).period
