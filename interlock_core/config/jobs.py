"""Typed job configs, one model per job type (DESIGN.md §8). Secrets are named, never inline."""

import urllib.parse
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# Environment variable names, e.g. ``tokenEnv: DATABRICKS_TOKEN``.
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads ``timeout: true`` as 1 second; a bool here is a typo.
    if isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    return value


PositiveSeconds = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=86_400)]


class JobType(StrEnum):
    """Every supported job type."""

    COMMAND = "command"
    HTTP = "http"
    AIRFLOW = "airflow"
    DATABRICKS = "databricks"
    GLUE = "glue"
    EMR = "emr"
    EMR_SERVERLESS = "emr-serverless"
    STEP_FUNCTION = "step-function"
    LAMBDA = "lambda"


class JobConfigBase(BaseModel):
    """Common settings: camelCase keys, unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, frozen=True
    )


def _reject_inline_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if name.lower() in {"authorization", "x-api-key", "proxy-authorization"} and (
            "$" not in value
        ):
            raise ValueError(
                f"header {name!r} holds an inline secret; put it in an environment variable "
                "and name it with tokenEnv (or reference ${INTERLOCK_...})"
            )
    return headers


# Header maps; an inline Authorization/API-key value is refused (secrets come from env).
Headers = Annotated[dict[str, str], AfterValidator(_reject_inline_secret_headers)]


def _http_url(value: str, *, base: bool = False, credentials: str = "tokenEnv") -> str:
    """``value`` when it is an http(s) URL without user info (and, for a ``base`` URL to which
    API paths are appended, without a query or fragment).

    The messages about credentials say what they got themselves, so the config loader does not
    append the value: the URL may be the secret.
    """
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    try:
        parts = urllib.parse.urlsplit(value)
        has_user_info = parts.username is not None or parts.password is not None
    except ValueError as exc:
        raise ValueError(f"is not a valid URL (got a malformed one: {exc})") from None
    if has_user_info:
        raise ValueError(
            "must not contain credentials (got user:password@ in the URL): they would be "
            "stored with every run and are never sent; put the token in an environment "
            f"variable and name it with {credentials}"
        )
    if base and (parts.query or parts.fragment):
        raise ValueError(
            "must be a base URL (got a query string or fragment): the API paths are appended to it"
        )
    return value


class CommandJob(JobConfigBase):
    """A local command, run without a shell.

    ``command`` is an argv list, or a string split with shlex (Go configs). ``env`` is the
    allow-list of parent environment variables the child may see; ``environment`` adds fixed
    non-secret values. ``timeout`` is in seconds.
    """

    command: str | list[str]
    env: list[EnvName] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    timeout: PositiveSeconds | None = None
    cwd: str | None = None

    @field_validator("command")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("command must not be empty")
        elif not value or not all(isinstance(part, str) and part for part in value):
            raise ValueError("command must be a non-empty list of non-empty strings")
        return value


class HttpJob(JobConfigBase):
    """An HTTP call. Without ``statusUrl`` it is synchronous (2xx = success)."""

    url: str
    method: str = "POST"
    headers: Headers = Field(default_factory=dict)
    body: str | dict[str, Any] | list[Any] | None = None
    timeout: PositiveSeconds = 30
    token_env: EnvName | None = None
    status_url: str | None = None
    status_field: str = "state"
    success_values: list[str] = Field(default_factory=lambda: ["success", "succeeded"])
    failure_values: list[str] = Field(default_factory=lambda: ["failed", "error"])
    run_id_field: str = "run_id"
    allow_private_network: StrictBool = False

    @field_validator("url", "status_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


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
        return _http_url(value, base=True, credentials="tokenEnv (or usernameEnv/passwordEnv)")

    @model_validator(mode="after")
    def _target(self) -> "AirflowJob":
        if not self.url and not self.mwaa_environment:
            raise ValueError("set url (Airflow REST API) or mwaaEnvironment (MWAA)")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("usernameEnv and passwordEnv go together")
        return self


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
        return _http_url(value, base=True)


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


JOB_CONFIG_MODELS: dict[JobType, type[JobConfigBase]] = {
    JobType.COMMAND: CommandJob,
    JobType.HTTP: HttpJob,
    JobType.AIRFLOW: AirflowJob,
    JobType.DATABRICKS: DatabricksJob,
    JobType.GLUE: GlueJob,
    JobType.EMR: EmrJob,
    JobType.EMR_SERVERLESS: EmrServerlessJob,
    JobType.STEP_FUNCTION: StepFunctionJob,
    JobType.LAMBDA: LambdaJob,
}


def canonical_job_keys(model: type[JobConfigBase], data: dict[str, Any]) -> dict[str, Any]:
    """Rename keys that match a field case-insensitively (Go decoded ``clusterID`` as
    ``clusterId``); unknown keys are left for validation to report."""
    by_lower: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        by_lower[alias.lower()] = alias
    renamed: dict[str, Any] = {}
    for key, value in data.items():
        target = by_lower.get(key.lower(), key) if isinstance(key, str) else key
        if target in renamed:
            target = key
        renamed[target] = value
    return renamed
