"""The run record: one per (pipeline, period), persisted by the Store, decided by the lifecycle."""

from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    """Every state a run can be in (DESIGN.md §5)."""

    WAITING = "WAITING"
    SUBMITTING = "SUBMITTING"
    RUNNING = "RUNNING"
    CLAIMED = "CLAIMED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    VALIDATION_EXHAUSTED = "VALIDATION_EXHAUSTED"
    TIMED_OUT = "TIMED_OUT"
    UNCERTAIN = "UNCERTAIN"

    @property
    def is_terminal(self) -> bool:
        """True when nothing more happens to the run without an outside request."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.VALIDATION_EXHAUSTED,
        RunStatus.TIMED_OUT,
        RunStatus.UNCERTAIN,
    }
)


class RunOrigin(StrEnum):
    """Why a run (or its current attempt) was opened."""

    CRON = "cron"
    TRIGGER = "trigger"
    INCLUSION = "inclusion"
    RERUN = "rerun"
    RETRY = "retry"
    LATE_TRIGGER = "late-trigger"
    RECOVERY = "recovery"
    MANUAL = "manual"


class NextAction(StrEnum):
    """What a controller must do next for a run, at ``Run.due_at``."""

    EVALUATE = "evaluate"
    SUBMIT = "submit"
    POLL = "poll"
    CANCEL = "cancel"
    CHECK_CLAIM = "check-claim"


class Run(BaseModel):
    """One run of a pipeline for one period, with the state of its current attempt.

    The Store keeps ``version`` for compare-and-set; every other field is the lifecycle's.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    pipeline_id: str
    period: str
    status: RunStatus
    attempt: int = 1
    version: int = 0
    origin: RunOrigin = RunOrigin.TRIGGER
    config_hash: str = ""
    opened_at: datetime
    attempt_started_at: datetime
    updated_at: datetime
    # Scheduling: what to do next and when (None when terminal or waiting on an outside party).
    next_action: NextAction | None = None
    due_at: datetime | None = None
    window_ends_at: datetime | None = None
    # Submission
    token: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    submit_failures: int = 0
    # Job
    job_run_id: str | None = None
    job_metadata: dict[str, Any] = Field(default_factory=dict)
    submitted_at: datetime | None = None
    poll_deadline: datetime | None = None
    # Claims
    owner: str | None = None
    claimed_at: datetime | None = None
    claim_deadline: datetime | None = None
    # Outcome
    finished_at: datetime | None = None
    succeeded_at: datetime | None = None
    failure_category: str | None = None
    message: str = ""
    # Gate bookkeeping
    last_evaluated_at: datetime | None = None
    last_sensor_version: int = 0
    last_reasons: list[str] = Field(default_factory=list)
    gate_passed_at: datetime | None = None
    trigger_arrived_at: datetime | None = None
    # Post-run
    baseline: dict[str, Any] | None = None
    dry_run: bool = False

    @property
    def is_terminal(self) -> bool:
        """True when the run is in a terminal status."""
        return self.status.is_terminal

    @property
    def is_dry_run_pass(self) -> bool:
        """A dry run whose gate passed: recorded SUCCEEDED, yet no job ran (not a success)."""
        return self.dry_run and self.status == RunStatus.SUCCEEDED

    @property
    def is_success(self) -> bool:
        """The period was delivered: SUCCEEDED by a real job or claim, never a dry run's pass.
        What anything waiting for another pipeline's success must read, not the status alone."""
        return self.status == RunStatus.SUCCEEDED and not self.dry_run

    def evolve(self, **changes: Any) -> "Run":
        """Return a copy with ``changes`` applied (validation is skipped for speed)."""
        return self.model_copy(update=changes)


def run_document(run: Run) -> str:
    """The JSON document a store keeps for ``run``: exactly what ``run.model_dump_json()``
    writes (fields in order, enums as values, datetimes in ISO 8601), tested field by field.

    pydantic-core serialises the field values directly, so writing a run never builds the
    model's schema: that build (and pydantic's plugin discovery with it, which imports and
    scans every installed distribution's metadata) cost an ``interlock emit`` that opens a run
    ~20 ms of its ~165 ms.

    Infinities and NaNs (a job's metadata, a baseline) are written as ``null``, as
    ``model_dump_json`` writes them: ``Infinity`` is not JSON, and PostgreSQL's ``json``
    column refuses it.
    """
    return pydantic_core.to_json(run.__dict__, inf_nan_mode="null").decode()
