"""The JobRunner port: how a run's job is submitted, polled and cancelled."""

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel


class JobState(StrEnum):
    """Where a job is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FailureCategory(StrEnum):
    """Failure classes; they choose the retry budget (DESIGN.md §5)."""

    TRANSIENT = "TRANSIENT"
    PERMANENT = "PERMANENT"
    TIMEOUT = "TIMEOUT"


@dataclass(frozen=True)
class JobStatus:
    """The state of a job as its target reports it."""

    state: JobState
    category: FailureCategory | None = None
    message: str = ""


@dataclass(frozen=True)
class JobHandle:
    """What a submit returns and every later poll/cancel needs.

    ``metadata`` holds everything a runner needs to poll and cancel later, from any process
    (URLs, ids, the *names* of secret environment variables — never secret values).
    ``result`` is set by synchronous job types that finish inside ``submit``.
    """

    run_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    result: JobStatus | None = None


@dataclass(frozen=True)
class RunContext:
    """What a runner may know about the run it submits for."""

    pipeline_id: str
    period: str
    attempt: int


class JobError(Exception):
    """A submit, poll or cancel failed; ``category`` says whether retrying can help.

    ``may_have_started`` matters for submits: False when the request certainly never reached
    the target (connection refused, DNS failure, a refused address, a missing secret, a 4xx
    refusal), True when it may have (a timeout or reset after sending, a 5xx). A target that
    cannot deduplicate on the token must not be sent a submit again after a failure that may
    have started the job: the engine makes such a run UNCERTAIN instead.
    """

    def __init__(
        self,
        message: str,
        category: FailureCategory = FailureCategory.TRANSIENT,
        *,
        may_have_started: bool = True,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.may_have_started = may_have_started


class JobRunner(Protocol):
    """Submits, polls and cancels one job type. Every network call has a timeout.

    A runner may also set ``dedups_on_token = True`` when its target deduplicates on the
    attempt's token: then a submit interrupted by a crash is simply submitted again (the repeat
    adopts the job). Without it, the engine never re-submits blindly: the run becomes UNCERTAIN.
    """

    job_type: str

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Start the job for ``run`` with idempotency ``token``.

        Args:
            job: the typed job config of the pipeline (``Job.config``).
            run: which run and attempt.
            token: the attempt's idempotency token (see :func:`idempotency_token`); targets
                that dedup on it return the existing job on a repeat ("already exists").

        Raises:
            JobError: the job could not be started.
        """
        ...

    def status(self, handle: JobHandle) -> JobStatus:
        """Poll the job. Raises JobError when the target cannot be asked."""
        ...

    def cancel(self, handle: JobHandle) -> bool:
        """Ask the target to stop the job. True only when the stop is confirmed."""
        ...


def idempotency_token(pipeline_id: str, period: str, attempt: int) -> str:
    """``sha256(pipeline|period|attempt)[:40]``: lowercase hex, valid for every target."""
    digest = hashlib.sha256(f"{pipeline_id}|{period}|{attempt}".encode()).hexdigest()
    return digest[:40]


# --- Helpers shared by the runners (additive; no runner state) ------------------------------

ConfigT = TypeVar("ConfigT", bound=BaseModel)

# Interlock's own settings and credentials (the local runtime's and the AWS runtime's): never
# expanded into a job's request, whatever a pipeline file references.
INTERLOCK_OWN_VARIABLES = frozenset(
    {
        "INTERLOCK_STORE",
        "INTERLOCK_STATE_DIR",
        "INTERLOCK_PIPELINES",
        "INTERLOCK_CONTROLLER_ID",
        "INTERLOCK_SLACK_CHANNEL",
        "INTERLOCK_WEBHOOK_URL",
        "INTERLOCK_WEBHOOK_SECRET",
        "INTERLOCK_STATE_MACHINE_ARN",
        "INTERLOCK_EVENT_BUS",
        "INTERLOCK_SLACK_SECRET_ARN",
        "INTERLOCK_ALERTS",
        "INTERLOCK_SCHEDULER_GROUP",
        "INTERLOCK_SCHEDULER_ROLE_ARN",
    }
)
_INTERLOCK_REF = re.compile(r"\$\{(INTERLOCK_[A-Za-z0-9_]*)\}|\$(INTERLOCK_[A-Za-z0-9_]*)")


def run_variables(run: RunContext, token: str) -> dict[str, str]:
    """The ``INTERLOCK_*`` values a job sees for ``run``: pipeline, period, attempt and token."""
    return {
        "INTERLOCK_PIPELINE": run.pipeline_id,
        "INTERLOCK_PERIOD": run.period,
        "INTERLOCK_ATTEMPT": str(run.attempt),
        "INTERLOCK_TOKEN": token,
    }


def expand_interlock(value: Any, variables: Mapping[str, str], environ: Mapping[str, str]) -> Any:
    """Expand ``$INTERLOCK_X`` / ``${INTERLOCK_X}`` in strings, recursively through dicts/lists.

    Only ``INTERLOCK_``-prefixed names expand (the Go reference's rule): first from
    ``variables`` (the run's own values), then from ``environ``; an unset one becomes ``""``.
    Unlike Go, other ``$`` references are left as written rather than blanked, so a literal
    dollar sign in a body survives. Interlock's own variables (``INTERLOCK_STORE``, the alert
    credentials, …, :data:`INTERLOCK_OWN_VARIABLES`) are never read: they become ``""``.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name in variables:
                return variables[name]
            if name in INTERLOCK_OWN_VARIABLES:
                return ""
            return environ.get(name, "")

        return _INTERLOCK_REF.sub(replace, value)
    if isinstance(value, dict):
        return {key: expand_interlock(item, variables, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_interlock(item, variables, environ) for item in value]
    return value


def period_parts(period: str) -> tuple[str, str | None]:
    """``(par_day, par_hour)``: ``YYYYMMDD`` and, for hourly periods, ``HH`` (else None)."""
    match = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}))?$", period)
    if match is None:
        return re.sub(r"\D", "", period), None
    year, month, day, hour = match.groups()
    return f"{year}{month}{day}", hour


def env_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the environment variable ``name``, read now (never stored).

    Raises:
        JobError: PERMANENT, naming the variable (never a value), when it is unset or empty.
    """
    source = os.environ if environ is None else environ
    refusal = getattr(source, "refusal", None)
    reason = refusal(name) if callable(refusal) else None
    if reason is not None:  # the operator's policy hides it (see jobs.policy)
        raise JobError(str(reason), FailureCategory.PERMANENT)
    value = source.get(name)
    if not value:
        raise JobError(
            f"environment variable {name} is not set (it should hold the job's credential)",
            FailureCategory.PERMANENT,
        )
    return value


def expect_config(job: BaseModel, model: type[ConfigT]) -> ConfigT:
    """``job`` as ``model``, or a PERMANENT JobError when a runner got another type's config."""
    if not isinstance(job, model):
        raise JobError(
            f"expected a {model.__name__} config, got {type(job).__name__}",
            FailureCategory.PERMANENT,
        )
    return job


def encode_status(status: JobStatus) -> dict[str, str | None]:
    """``status`` as JSON-ready metadata (synchronous jobs keep their result in the handle's
    metadata too, so a process that only stored the metadata can still answer ``status``)."""
    return {
        "state": status.state.value,
        "category": status.category.value if status.category else None,
        "message": status.message,
    }


def decode_status(data: Any) -> JobStatus | None:
    """The JobStatus written by :func:`encode_status`, or None when ``data`` is not one."""
    if not isinstance(data, dict) or data.get("state") not in {s.value for s in JobState}:
        return None
    category = data.get("category")
    return JobStatus(
        JobState(data["state"]),
        FailureCategory(category) if category in {c.value for c in FailureCategory} else None,
        str(data.get("message") or ""),
    )
