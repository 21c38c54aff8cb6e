"""The operator's limits on what pipeline files can make Interlock do (``interlock.yaml``).

Whoever can write a pipeline file chooses the jobs the controller starts. The operator — who
writes ``interlock.yaml`` and starts the controller — decides the limits, in its ``jobs``
section::

    jobs:
      env: [DATABRICKS_TOKEN, ORDERS_API_TOKEN]  # the only variables jobs may reference
      types: [http, databricks, glue]            # job types allowed (here: no command jobs)
      allowPrivateNetwork: false                 # refuse jobs that opt out of the SSRF guard
      commandLogBytes: 16777216                  # cap of each command job's log (default 16 MiB)

``env`` governs every way a job reads the controller's environment: ``tokenEnv``,
``${INTERLOCK_…}`` references in http/airflow/databricks headers and bodies, and a command
job's ``env`` list. Without it every variable is allowed except the reserved ones, which are
never available to jobs whatever the list says: Interlock's own settings (``INTERLOCK_STORE``,
``INTERLOCK_WEBHOOK_SECRET``, … see ``jobs.base.INTERLOCK_OWN_VARIABLES``) and the alert
channels' credentials (``SLACK_*``, every variable an alert channel of the file names) — a
pipeline file must not be able to post the Slack token to its URL.
"""

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.jobs import JobType
from interlock_core.jobs.base import (
    INTERLOCK_OWN_VARIABLES,
    FailureCategory,
    JobError,
    JobHandle,
    JobRunner,
    JobStatus,
    RunContext,
)
from interlock_core.jobs.log_limits import DEFAULT_MAX_LOG_BYTES

# Never readable by jobs (with INTERLOCK_OWN_VARIABLES): the Slack bot token and channel. The
# run's own INTERLOCK_PIPELINE/PERIOD/ATTEMPT/TOKEN values are passed by the runners.
RESERVED_PREFIXES = ("SLACK_",)
SECTION = "jobs"


@dataclass(frozen=True)
class JobPolicy:
    """What jobs may do, as the operator configured it.

    Attributes:
        env: the environment variables jobs may read (None: all but the reserved ones).
        types: the job types allowed (None: all).
        allow_private_network: whether a job config may opt out of the SSRF guard.
        reserved: extra variable names no job may read (the alert channels' variables).
        command_log_bytes: the cap of a command job's log (oldest output dropped beyond).
    """

    env: frozenset[str] | None = None
    types: frozenset[str] | None = None
    allow_private_network: bool = True
    reserved: frozenset[str] = field(default_factory=frozenset)
    command_log_bytes: int = DEFAULT_MAX_LOG_BYTES

    def env_refusal(self, name: str) -> str | None:
        """Why a job may not read ``name``, or None when it may."""
        if (
            name.startswith(RESERVED_PREFIXES)
            or name in INTERLOCK_OWN_VARIABLES
            or name in self.reserved
        ):
            return (
                f"environment variable {name} is reserved for Interlock itself and is never "
                "available to jobs"
            )
        if self.env is not None and name not in self.env:
            return (
                f"environment variable {name} is not in the jobs.env allow-list of "
                "interlock.yaml; the operator must add it there"
            )
        return None

    def type_refusal(self, job_type: str) -> str | None:
        """Why a job of ``job_type`` may not run, or None when it may."""
        if self.types is not None and job_type not in self.types:
            allowed = ", ".join(sorted(self.types)) or "none"
            return (
                f"job type {job_type!r} is switched off by the operator (jobs.types in "
                f"interlock.yaml allows: {allowed})"
            )
        return None

    def environ(self, parent: Mapping[str, str] | None = None) -> "PolicyEnviron":
        """A live view of ``parent`` (default ``os.environ``) holding only allowed names."""
        return PolicyEnviron(self, parent)


class PolicyEnviron(Mapping[str, str]):
    """An environment mapping that hides every variable the policy does not allow."""

    def __init__(self, policy: JobPolicy, parent: Mapping[str, str] | None = None) -> None:
        self.policy = policy
        self._parent = os.environ if parent is None else parent

    @property
    def parent(self) -> Mapping[str, str]:
        """The unfiltered environment (for the baseline names every process needs)."""
        return self._parent

    def refusal(self, name: str) -> str | None:
        """Why ``name`` is hidden, or None."""
        return self.policy.env_refusal(name)

    def __getitem__(self, name: str) -> str:
        if self.policy.env_refusal(name) is not None:
            raise KeyError(name)
        return self._parent[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in list(self._parent) if self.policy.env_refusal(name) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PolicyRunner:
    """Wraps a runner so a job type the operator switched off is refused at submit, and a
    job that opts out of the SSRF guard is refused when the operator does not allow it."""

    def __init__(self, inner: JobRunner, policy: JobPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.job_type = inner.job_type

    @property
    def dedups_on_token(self) -> bool:
        """The inner runner's (read when needed: a lazily built runner stays unbuilt)."""
        return bool(getattr(self.inner, "dedups_on_token", False))

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Submit through the inner runner unless the policy refuses the job."""
        reason = self.policy.type_refusal(self.job_type)
        opts_out = getattr(job, "allow_private_network", False)
        if reason is None and opts_out and not self.policy.allow_private_network:
            reason = (
                "allowPrivateNetwork is switched off by the operator "
                "(jobs.allowPrivateNetwork in interlock.yaml)"
            )
        if reason is not None:
            raise JobError(reason, FailureCategory.PERMANENT, may_have_started=False)
        return self.inner.submit(job, run, token)

    def status(self, handle: JobHandle) -> JobStatus:
        """The inner runner's status (a running job is followed whatever the policy)."""
        return self.inner.status(handle)

    def cancel(self, handle: JobHandle) -> bool:
        """The inner runner's cancel."""
        return self.inner.cancel(handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parse_job_policy(
    section: Any, *, source: str | None = None, reserved: Iterable[str] = ()
) -> JobPolicy:
    """The policy from the ``jobs`` section of ``interlock.yaml`` (None: the defaults).

    Raises:
        ConfigError: naming the key and what is wrong (values are not echoed).
    """
    extra = frozenset(reserved)
    if section is None:
        return JobPolicy(reserved=extra)
    if not isinstance(section, Mapping):
        raise ConfigError(ConfigIssue("must be a mapping", file=source, path=SECTION))
    known = {"env", "types", "allowPrivateNetwork", "commandLogBytes"}
    for key in section:
        if key not in known:
            raise ConfigError(
                ConfigIssue(
                    f"unknown key {str(key)[:40]!r}; known keys: {', '.join(sorted(known))}",
                    file=source,
                    path=SECTION,
                )
            )
    env = _names(section.get("env"), "env", source)
    types = _names(section.get("types"), "types", source)
    if types is not None:
        valid = {t.value for t in JobType}
        for name in types:
            if name not in valid:
                raise ConfigError(
                    ConfigIssue(
                        f"unknown job type {name[:40]!r}; use: {', '.join(sorted(valid))}",
                        file=source,
                        path=f"{SECTION}.types",
                    )
                )
    private = section.get("allowPrivateNetwork", True)
    if not isinstance(private, bool):
        raise ConfigError(
            ConfigIssue("must be true or false", file=source, path=f"{SECTION}.allowPrivateNetwork")
        )
    log_bytes = section.get("commandLogBytes", DEFAULT_MAX_LOG_BYTES)
    if isinstance(log_bytes, bool) or not isinstance(log_bytes, int) or log_bytes < 4096:
        raise ConfigError(
            ConfigIssue(
                "must be a number of bytes, at least 4096",
                file=source,
                path=f"{SECTION}.commandLogBytes",
            )
        )
    return JobPolicy(
        env=env,
        types=types,
        allow_private_network=private,
        reserved=extra,
        command_log_bytes=log_bytes,
    )


def _names(value: Any, key: str, source: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            ConfigIssue("must be a list of names", file=source, path=f"{SECTION}.{key}")
        )
    return frozenset(value)


def policy_runners(runners: Mapping[str, JobRunner], policy: JobPolicy) -> dict[str, JobRunner]:
    """``runners`` with those the policy restricts wrapped in :class:`PolicyRunner` (the
    others are left as they are)."""
    wrapped: dict[str, JobRunner] = {}
    for name, runner in runners.items():
        restricted = policy.type_refusal(name) is not None or not policy.allow_private_network
        wrapped[name] = PolicyRunner(runner, policy) if restricted else runner
    return wrapped


def load_job_policy(settings_file: str | os.PathLike[str] | None) -> JobPolicy:
    """The policy of a settings file (``interlock.yaml``); the defaults without one.

    The variables the file's alert channels read (``tokenEnv``, ``urlEnv``, ``secretEnv``,
    ``channelEnv``) are reserved too: they hold the operator's alerting credentials.

    Raises:
        ConfigError: the file or its ``jobs`` section is invalid.
    """
    if settings_file is None:
        # No settings file: the defaults, without loading the YAML reader (``interlock emit``).
        return parse_job_policy(None)
    from interlock_core.config.settings import read_settings

    document = read_settings(settings_file) or {}
    source = str(settings_file) if settings_file is not None else None
    reserved: set[str] = set()
    alerts = document.get("alerts")
    channels = alerts.get("channels") if isinstance(alerts, Mapping) else None
    if isinstance(channels, Mapping):
        for channel in channels.values():
            if isinstance(channel, Mapping):
                reserved.update(
                    value
                    for key, value in channel.items()
                    if str(key).endswith("Env") and isinstance(value, str)
                )
    return parse_job_policy(document.get(SECTION), source=source, reserved=reserved)
