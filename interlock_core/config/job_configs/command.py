"""A local command job (DESIGN.md §8)."""

from pydantic import Field, field_validator

from interlock_core.config.jobs import EnvName, JobConfigBase, PositiveSeconds


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
