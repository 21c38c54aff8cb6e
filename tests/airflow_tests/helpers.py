"""Small helpers shared by the Airflow tests."""

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any


def task_context(
    dag_id: str = "inventory_dag",
    run_id: str = "manual__1",
    interval_start: datetime | None = datetime(2026, 3, 4, tzinfo=UTC),
    **extra: Any,
) -> dict[str, Any]:
    """The parts of an Airflow task context the provider reads."""
    dag_run = SimpleNamespace(dag_id=dag_id, run_id=run_id, data_interval_start=interval_start)
    return {
        "dag_run": dag_run,
        "dag": SimpleNamespace(dag_id=dag_id),
        "run_id": run_id,
        "data_interval_start": interval_start,
        **extra,
    }


def owner(dag_id: str = "inventory_dag", run_id: str = "manual__1") -> str:
    """The claim owner the provider uses for a DAG run."""
    return f"airflow:{dag_id}/{run_id}"
