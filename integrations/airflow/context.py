"""What Interlock tasks read from an Airflow task (or callback) context."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def owner_of(context: Mapping[str, Any]) -> str:
    """The claim owner for this DAG run: ``airflow:<dag id>/<run id>``.

    Every task and every retry of one DAG run gets the same owner, so a retried sensor finds
    its own claim and the report (task or callback) matches it. Works with a task's context
    and with the smaller context of a DAG-level callback.
    """
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", None)
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
    if not dag_id or not run_id:
        raise ValueError("the Airflow context names no DAG id and run id")
    return f"airflow:{dag_id}/{run_id}"


def interval_start(context: Mapping[str, Any]) -> datetime | None:
    """The DAG run's data interval start, or None (manual and asset-triggered runs)."""
    start = context.get("data_interval_start")
    if start is None:
        start = getattr(context.get("dag_run"), "data_interval_start", None)
    return start if isinstance(start, datetime) else None


def triggering_period(context: Mapping[str, Any], pipeline_id: str) -> str | None:
    """The period an Interlock AssetWatcher event named for ``pipeline_id``, when this DAG run
    was triggered by one (:class:`~integrations.airflow.triggers.InterlockEventTrigger`).

    Airflow may fold several asset events into one DAG run; the latest one wins.
    """
    try:
        events = context.get("triggering_asset_events")
        if not events:
            return None
        found: list[tuple[Any, str]] = []
        for asset_events in events.values():
            for event in asset_events:
                payload = (getattr(event, "extra", None) or {}).get("payload")
                if (
                    isinstance(payload, Mapping)
                    and payload.get("source") == "interlock"
                    and payload.get("pipeline_id") == pipeline_id
                    and isinstance(payload.get("period"), str)
                ):
                    found.append((getattr(event, "timestamp", None), payload["period"]))
    except Exception:
        # Outside a real task (tests, callbacks) the accessor may not be able to load events.
        return None
    if not found:
        return None
    found.sort(key=lambda item: (item[0] is not None, item[0] or 0))
    return found[-1][1]
