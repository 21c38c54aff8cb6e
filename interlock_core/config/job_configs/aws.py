"""The AWS job types: Glue, EMR, EMR Serverless, Step Functions, Lambda (DESIGN.md §8)."""

from typing import Any

from pydantic import Field, StrictBool

from interlock_core.config.jobs import JobConfigBase


class GlueJob(JobConfigBase):
    """An AWS Glue job run."""

    job_name: str
    arguments: dict[str, str] = Field(default_factory=dict)
    region: str | None = None
    verify_success: StrictBool = False  # the false-success check of the driver log
    log_group: str | None = None


class EmrJob(JobConfigBase):
    """An EMR step on a running cluster."""

    cluster_id: str
    step_name: str
    command: str
    arguments: dict[str, str] | list[str] = Field(default_factory=list)
    region: str | None = None


class EmrServerlessJob(JobConfigBase):
    """An EMR Serverless job run."""

    application_id: str
    job_name: str
    execution_role_arn: str | None = None
    job_driver: dict[str, Any] = Field(default_factory=dict)
    configuration_overrides: dict[str, Any] = Field(default_factory=dict)
    region: str | None = None


class StepFunctionJob(JobConfigBase):
    """A Step Functions execution (named from the attempt's idempotency token)."""

    state_machine_arn: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    region: str | None = None


class LambdaJob(JobConfigBase):
    """A synchronous Lambda invocation."""

    function_name: str
    payload: str | dict[str, Any] | None = None
    region: str | None = None
