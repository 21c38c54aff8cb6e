"""An HTTP call job (DESIGN.md §8)."""

from typing import Any

from pydantic import Field, StrictBool, field_validator

from interlock_core.config.jobs import (
    EnvName,
    Headers,
    JobConfigBase,
    PositiveSeconds,
    check_http_url,
)


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
        return None if value is None else check_http_url(value)
