"""Job runners: how a run's job is submitted, polled and cancelled (DESIGN.md §8).

Names are loaded on first use so that ``python -m interlock_core.jobs.command_wrapper``, which
starts for every command job, imports nothing but the standard library.
"""

from typing import TYPE_CHECKING

from interlock_core.lazy import lazy_exports

if TYPE_CHECKING:
    from interlock_core.jobs.airflow import AirflowRunner
    from interlock_core.jobs.aws import (
        EmrRunner,
        EmrServerlessRunner,
        GlueRunner,
        LambdaRunner,
        StepFunctionRunner,
    )
    from interlock_core.jobs.base import (
        FailureCategory,
        JobError,
        JobHandle,
        JobRunner,
        JobState,
        JobStatus,
        RunContext,
        idempotency_token,
    )
    from interlock_core.jobs.command import CommandRunner
    from interlock_core.jobs.databricks import DatabricksRunner
    from interlock_core.jobs.http import HttpRunner
    from interlock_core.jobs.netguard import HttpClient, forbidden_reason
    from interlock_core.jobs.registry import default_runners, runner_for

_EXPORTS = {
    "AirflowRunner": "interlock_core.jobs.airflow",
    "CommandRunner": "interlock_core.jobs.command",
    "DatabricksRunner": "interlock_core.jobs.databricks",
    "EmrRunner": "interlock_core.jobs.aws",
    "EmrServerlessRunner": "interlock_core.jobs.aws",
    "FailureCategory": "interlock_core.jobs.base",
    "GlueRunner": "interlock_core.jobs.aws",
    "HttpClient": "interlock_core.jobs.netguard",
    "HttpRunner": "interlock_core.jobs.http",
    "JobError": "interlock_core.jobs.base",
    "JobHandle": "interlock_core.jobs.base",
    "JobRunner": "interlock_core.jobs.base",
    "JobState": "interlock_core.jobs.base",
    "JobStatus": "interlock_core.jobs.base",
    "LambdaRunner": "interlock_core.jobs.aws",
    "RunContext": "interlock_core.jobs.base",
    "StepFunctionRunner": "interlock_core.jobs.aws",
    "default_runners": "interlock_core.jobs.registry",
    "forbidden_reason": "interlock_core.jobs.netguard",
    "idempotency_token": "interlock_core.jobs.base",
    "runner_for": "interlock_core.jobs.registry",
}

__all__ = [
    "AirflowRunner",
    "CommandRunner",
    "DatabricksRunner",
    "EmrRunner",
    "EmrServerlessRunner",
    "FailureCategory",
    "GlueRunner",
    "HttpClient",
    "HttpRunner",
    "JobError",
    "JobHandle",
    "JobRunner",
    "JobState",
    "JobStatus",
    "LambdaRunner",
    "RunContext",
    "StepFunctionRunner",
    "default_runners",
    "forbidden_reason",
    "idempotency_token",
    "runner_for",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__, globals(), keep=False)
