"""Pipeline configuration: models, loading, durations and calendars.

Names are loaded on first use (PEP 562): ``from interlock_core.config import parse_duration``
does not import pydantic or the loader.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interlock_core.config.calendars import Calendar, Weekday
    from interlock_core.config.durations import format_duration, parse_duration
    from interlock_core.config.errors import ConfigError, ConfigIssue
    from interlock_core.config.jobs import (
        JOB_CONFIG_MODELS,
        AirflowJob,
        CommandJob,
        DatabricksJob,
        EmrJob,
        EmrServerlessJob,
        GlueJob,
        HttpJob,
        JobConfigBase,
        JobType,
        LambdaJob,
        StepFunctionJob,
    )
    from interlock_core.config.loader import (
        LoadedPipeline,
        PipelineSet,
        config_hash,
        find_calendar_dirs,
        load_calendar,
        load_calendars,
        load_pipeline,
        load_pipeline_document,
        load_pipeline_files,
        load_pipeline_text,
        load_pipelines,
        parse_pipeline_text,
    )
    from interlock_core.config.models import (
        SLA,
        Check,
        EvaluationSettings,
        Exclude,
        Granularity,
        Include,
        Job,
        MatchMode,
        Pipeline,
        PipelineInfo,
        PostRun,
        PostRunEvaluation,
        Rule,
        Schedule,
        TriggerCondition,
        Validation,
    )

_EXPORTS = {
    "AirflowJob": "interlock_core.config.jobs",
    "Calendar": "interlock_core.config.calendars",
    "Check": "interlock_core.config.models",
    "CommandJob": "interlock_core.config.jobs",
    "ConfigError": "interlock_core.config.errors",
    "ConfigIssue": "interlock_core.config.errors",
    "DatabricksJob": "interlock_core.config.jobs",
    "EmrJob": "interlock_core.config.jobs",
    "EmrServerlessJob": "interlock_core.config.jobs",
    "EvaluationSettings": "interlock_core.config.models",
    "Exclude": "interlock_core.config.models",
    "GlueJob": "interlock_core.config.jobs",
    "Granularity": "interlock_core.config.models",
    "HttpJob": "interlock_core.config.jobs",
    "Include": "interlock_core.config.models",
    "JOB_CONFIG_MODELS": "interlock_core.config.jobs",
    "Job": "interlock_core.config.models",
    "JobConfigBase": "interlock_core.config.jobs",
    "JobType": "interlock_core.config.jobs",
    "LambdaJob": "interlock_core.config.jobs",
    "LoadedPipeline": "interlock_core.config.loader",
    "MatchMode": "interlock_core.config.models",
    "Pipeline": "interlock_core.config.models",
    "PipelineInfo": "interlock_core.config.models",
    "PipelineSet": "interlock_core.config.loader",
    "PostRun": "interlock_core.config.models",
    "PostRunEvaluation": "interlock_core.config.models",
    "Rule": "interlock_core.config.models",
    "SLA": "interlock_core.config.models",
    "Schedule": "interlock_core.config.models",
    "StepFunctionJob": "interlock_core.config.jobs",
    "TriggerCondition": "interlock_core.config.models",
    "Validation": "interlock_core.config.models",
    "Weekday": "interlock_core.config.calendars",
    "config_hash": "interlock_core.config.loader",
    "find_calendar_dirs": "interlock_core.config.loader",
    "format_duration": "interlock_core.config.durations",
    "load_calendar": "interlock_core.config.loader",
    "load_calendars": "interlock_core.config.loader",
    "load_pipeline": "interlock_core.config.loader",
    "load_pipeline_document": "interlock_core.config.loader",
    "load_pipeline_files": "interlock_core.config.loader",
    "load_pipeline_text": "interlock_core.config.loader",
    "load_pipelines": "interlock_core.config.loader",
    "parse_duration": "interlock_core.config.durations",
    "parse_pipeline_text": "interlock_core.config.loader",
}

__all__ = [
    "JOB_CONFIG_MODELS",
    "SLA",
    "AirflowJob",
    "Calendar",
    "Check",
    "CommandJob",
    "ConfigError",
    "ConfigIssue",
    "DatabricksJob",
    "EmrJob",
    "EmrServerlessJob",
    "EvaluationSettings",
    "Exclude",
    "GlueJob",
    "Granularity",
    "HttpJob",
    "Include",
    "Job",
    "JobConfigBase",
    "JobType",
    "LambdaJob",
    "LoadedPipeline",
    "MatchMode",
    "Pipeline",
    "PipelineInfo",
    "PipelineSet",
    "PostRun",
    "PostRunEvaluation",
    "Rule",
    "Schedule",
    "StepFunctionJob",
    "TriggerCondition",
    "Validation",
    "Weekday",
    "config_hash",
    "find_calendar_dirs",
    "format_duration",
    "load_calendar",
    "load_calendars",
    "load_pipeline",
    "load_pipeline_document",
    "load_pipeline_files",
    "load_pipeline_text",
    "load_pipelines",
    "parse_duration",
    "parse_pipeline_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        from interlock_core.lazy import submodule

        return submodule(__name__, name)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
