"""Interlock: stops data pipelines from running when their preconditions are not met.

The public API (DESIGN.md §3) is exported here.
"""

from interlock_core.config.durations import format_duration, parse_duration
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.loader import PipelineSet, load_pipeline, load_pipelines
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock, InterlockError, Readiness, RerunResult
from interlock_core.events import Event, EventType
from interlock_core.rules import Evaluation, RuleResult, evaluate_rules
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor, SensorError
from interlock_core.storage import open_store

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "Evaluation",
    "Event",
    "EventType",
    "Interlock",
    "InterlockError",
    "Pipeline",
    "PipelineSet",
    "Readiness",
    "RerunResult",
    "RuleResult",
    "Run",
    "RunStatus",
    "Sensor",
    "SensorError",
    "evaluate_rules",
    "format_duration",
    "load_pipeline",
    "load_pipelines",
    "open_store",
    "parse_duration",
]
__version__ = "0.1.0"
