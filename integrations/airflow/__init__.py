"""The Interlock provider for Apache Airflow 3.

Gate DAGs on Interlock (:class:`~integrations.airflow.sensors.InterlockSensor`, in poke,
reschedule or deferrable mode), schedule DAGs on readiness with an ``AssetWatcher``
(:class:`~integrations.airflow.triggers.InterlockEventTrigger`), write sensors
(:class:`~integrations.airflow.operators.InterlockEmitOperator`, :func:`emit`) and report the
outcome of claimed runs (:class:`~integrations.airflow.operators.InterlockReportOperator`,
:func:`on_success_callback`, :func:`on_failure_callback`). See ``docs/airflow.md``.

Importing this package (or its ``sensors``, ``operators``, ``hooks`` and ``triggers``
modules) loads neither the engine nor a store: DAG files are parsed often, and the engine is
built on first use, once per process and store URL.
"""

import importlib
from typing import Any

from integrations.airflow.provider_info import get_provider_info

_LAZY = {
    "InterlockHook": "integrations.airflow.hooks",
    "InterlockSensor": "integrations.airflow.sensors",
    "InterlockTrigger": "integrations.airflow.triggers",
    "InterlockEventTrigger": "integrations.airflow.triggers",
    "InterlockEmitOperator": "integrations.airflow.operators",
    "InterlockReportOperator": "integrations.airflow.operators",
    "InterlockReportCallback": "integrations.airflow.operators",
    "emit": "integrations.airflow.operators",
    "report": "integrations.airflow.operators",
    "on_success_callback": "integrations.airflow.operators",
    "on_failure_callback": "integrations.airflow.operators",
    "InterlockFatalError": "integrations.airflow.errors",
    "InterlockNoClaimError": "integrations.airflow.errors",
    "InterlockUnavailableError": "integrations.airflow.errors",
}

__all__ = ["get_provider_info", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    # Airflow is imported only when a name that needs it is used.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'integrations.airflow' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
