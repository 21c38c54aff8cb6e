"""Interlock for Dagster: gate assets and jobs on Interlock natively (DESIGN.md §10).

- ``InterlockResource`` — the engine as a resource (key ``interlock``): evaluate, emit,
  claim, report, status, events.
- ``build_interlock_sensor`` / ``build_interlock_sensors`` — launch work when a gate passes,
  claiming the job-less run (one run per attempt, the period as partition key).
- ``build_interlock_asset_checks`` — blocking asset checks whose result is the gate.
- ``build_interlock_run_status_sensors`` — report run outcomes to the claims.
- ``build_interlock_emit_sensor`` — emit Interlock sensors when assets materialize.

Requires the ``dagster`` extra (``pip install 'interlock[dagster]'``).
"""

from integrations.dagster.asset_checks import build_interlock_asset_checks
from integrations.dagster.emit import build_interlock_emit_sensor
from integrations.dagster.engines import close_engines, interlock_engine
from integrations.dagster.resources import InterlockResource
from integrations.dagster.run_status import build_interlock_run_status_sensors
from integrations.dagster.sensors import (
    InterlockSensorError,
    InterlockSensorSpec,
    build_interlock_sensor,
    build_interlock_sensors,
)
from integrations.dagster.tags import (
    ATTEMPT_TAG,
    OWNER_TAG,
    PERIOD_TAG,
    PIPELINE_TAG,
    WAIT_FOR_TAG,
)

__all__ = [
    "ATTEMPT_TAG",
    "OWNER_TAG",
    "PERIOD_TAG",
    "PIPELINE_TAG",
    "WAIT_FOR_TAG",
    "InterlockResource",
    "InterlockSensorError",
    "InterlockSensorSpec",
    "build_interlock_asset_checks",
    "build_interlock_emit_sensor",
    "build_interlock_run_status_sensors",
    "build_interlock_sensor",
    "build_interlock_sensors",
    "close_engines",
    "interlock_engine",
]
