"""A Databricks job run (DESIGN.md §8)."""

from pydantic import Field, StrictBool, StrictInt, field_validator

from interlock_core.config.jobs import (
    EnvName,
    Headers,
    JobConfigBase,
    PositiveSeconds,
    check_http_url,
)


class DatabricksJob(JobConfigBase):
    """A Databricks job run through Jobs API 2.1 ``run-now``."""

    workspace_url: str
    job_id: StrictInt | str
    token_env: EnvName = "DATABRICKS_TOKEN"  # noqa: S105  # the variable's name, not a secret
    headers: Headers = Field(default_factory=dict)
    arguments: dict[str, str] = Field(default_factory=dict)  # notebook_params (Go name)
    job_parameters: dict[str, str] = Field(default_factory=dict)
    timeout: PositiveSeconds = 30
    allow_private_network: StrictBool = False

    @field_validator("workspace_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value, base=True)
