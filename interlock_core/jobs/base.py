"""The JobRunner port: how a run's job is submitted, polled and cancelled."""

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

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
    """A submit, poll or cancel failed; ``category`` says whether retrying can help."""

    def __init__(self, message: str, category: FailureCategory = FailureCategory.TRANSIENT) -> None:
        super().__init__(message)
        self.category = category


class JobRunner(Protocol):
    """Submits, polls and cancels one job type. Every network call has a timeout."""

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
