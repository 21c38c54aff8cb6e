"""Typed job configs, one model per job type (DESIGN.md §8). Secrets are named, never inline.

The models live in :mod:`interlock_core.config.job_configs` and are imported per type on
first use (:data:`JOB_CONFIG_MODELS`, or their names imported from here).
"""

import importlib
import urllib.parse
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from interlock_core.config.job_configs.airflow import AirflowJob as AirflowJob
    from interlock_core.config.job_configs.aws import EmrJob as EmrJob
    from interlock_core.config.job_configs.aws import EmrServerlessJob as EmrServerlessJob
    from interlock_core.config.job_configs.aws import GlueJob as GlueJob
    from interlock_core.config.job_configs.aws import LambdaJob as LambdaJob
    from interlock_core.config.job_configs.aws import StepFunctionJob as StepFunctionJob
    from interlock_core.config.job_configs.command import CommandJob as CommandJob
    from interlock_core.config.job_configs.databricks import DatabricksJob as DatabricksJob
    from interlock_core.config.job_configs.http import HttpJob as HttpJob

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
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        defer_build=True,
    )


# Headers whose values are credentials: never written inline in a pipeline file.
_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-api-token",
        "x-auth-token",
        "x-access-token",
        "api-key",
        "cookie",
    }
)


def _reject_inline_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS and "$" not in value:
            raise ValueError(
                f"header {name!r} holds an inline secret; put it in an environment variable "
                "and name it with tokenEnv (or reference ${INTERLOCK_...})"
            )
    return headers


# Header maps; an inline Authorization/API-key value is refused (secrets come from env).
Headers = Annotated[dict[str, str], AfterValidator(_reject_inline_secret_headers)]


def check_http_url(value: str, *, base: bool = False, credentials: str = "tokenEnv") -> str:
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


# Job type -> the module of its config model. A model is built (its module imported) when a
# config of its type is first parsed, not when this module is: ``interlock emit`` on a command
# pipeline builds CommandJob only (issue 13).
_MODEL_MODULES: dict[JobType, tuple[str, str]] = {
    JobType.COMMAND: ("command", "CommandJob"),
    JobType.HTTP: ("http", "HttpJob"),
    JobType.AIRFLOW: ("airflow", "AirflowJob"),
    JobType.DATABRICKS: ("databricks", "DatabricksJob"),
    JobType.GLUE: ("aws", "GlueJob"),
    JobType.EMR: ("aws", "EmrJob"),
    JobType.EMR_SERVERLESS: ("aws", "EmrServerlessJob"),
    JobType.STEP_FUNCTION: ("aws", "StepFunctionJob"),
    JobType.LAMBDA: ("aws", "LambdaJob"),
}
_MODULE_OF_MODEL = {name: module for module, name in _MODEL_MODULES.values()}


def _model(module: str, name: str) -> type[JobConfigBase]:
    module_name = f"interlock_core.config.job_configs.{module}"
    return cast(type[JobConfigBase], getattr(importlib.import_module(module_name), name))


class _JobConfigModels(Mapping[JobType, type[JobConfigBase]]):
    """Job type -> its config model, imported on first lookup (a read-only mapping)."""

    def __getitem__(self, kind: JobType) -> type[JobConfigBase]:
        return _model(*_MODEL_MODULES[kind])

    def __iter__(self) -> Iterator[JobType]:
        return iter(_MODEL_MODULES)

    def __len__(self) -> int:
        return len(_MODEL_MODULES)

    def __repr__(self) -> str:
        return f"JOB_CONFIG_MODELS({', '.join(name for _, name in _MODEL_MODULES.values())})"


JOB_CONFIG_MODELS: Mapping[JobType, type[JobConfigBase]] = _JobConfigModels()


def __getattr__(name: str) -> type[JobConfigBase]:
    """``from interlock_core.config.jobs import CommandJob`` still works (imported now)."""
    module = _MODULE_OF_MODEL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _model(module, name)


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
