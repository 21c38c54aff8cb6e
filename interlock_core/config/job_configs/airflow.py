"""An Airflow DAG run job (DESIGN.md §8)."""

from typing import Any

from pydantic import Field, StrictBool, field_validator, model_validator

from interlock_core.config.jobs import (
    EnvName,
    Headers,
    JobConfigBase,
    PositiveSeconds,
    check_http_url,
)


class AirflowJob(JobConfigBase):
    """An Airflow 3 DAG run through REST API v2 (or MWAA's InvokeRestApi)."""

    url: str | None = None
    dag_id: str
    conf: dict[str, Any] = Field(default_factory=dict)
    body: str | dict[str, Any] | None = None  # Go configs: JSON text of the conf
    headers: Headers = Field(default_factory=dict)
    timeout: PositiveSeconds = 30
    token_env: EnvName | None = None
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    mwaa_environment: str | None = None
    region: str | None = None
    allow_private_network: StrictBool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_http_url(value, base=True, credentials="tokenEnv (or usernameEnv/passwordEnv)")

    @model_validator(mode="after")
    def _target(self) -> "AirflowJob":
        if not self.url and not self.mwaa_environment:
            raise ValueError("set url (Airflow REST API) or mwaaEnvironment (MWAA)")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("usernameEnv and passwordEnv go together")
        return self
