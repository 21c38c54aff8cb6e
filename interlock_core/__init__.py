"""Interlock: stops data pipelines from running when their preconditions are not met.

The public API (DESIGN.md §3) is exported here. Names are loaded on first use (PEP 562), so
``import interlock_core`` — and every ``interlock`` command that needs little, such as
``interlock --help`` — does not pay for pydantic, the engine or the alert channels;
``from interlock_core import Interlock`` works exactly as before.
"""

from typing import TYPE_CHECKING

from interlock_core.lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "ConfigError": "interlock_core.config.errors",
    "ConfigIssue": "interlock_core.config.errors",
    "Evaluation": "interlock_core.rules",
    "Event": "interlock_core.events",
    "EventType": "interlock_core.events",
    "Interlock": "interlock_core.engine",
    "InterlockError": "interlock_core.engine",
    "Pipeline": "interlock_core.config.models",
    "PipelineSet": "interlock_core.config.loader",
    "Readiness": "interlock_core.engine",
    "RerunResult": "interlock_core.engine",
    "RuleResult": "interlock_core.rules",
    "Run": "interlock_core.runs",
    "RunStatus": "interlock_core.runs",
    "Sensor": "interlock_core.sensors",
    "SensorError": "interlock_core.sensors",
    "evaluate_rules": "interlock_core.rules",
    "format_duration": "interlock_core.config.durations",
    "load_pipeline": "interlock_core.config.loader",
    "load_pipelines": "interlock_core.config.loader",
    "open_store": "interlock_core.storage",
    "parse_duration": "interlock_core.config.durations",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__, globals())
