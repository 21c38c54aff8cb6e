"""The event catalogue: everything Interlock does is published as one of these."""

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event Interlock publishes; the names are the Go reference's catalogue plus ours."""

    # Gate and run opening
    RUN_OPENED = "RUN_OPENED"
    VALIDATION_PASSED = "VALIDATION_PASSED"
    VALIDATION_EXHAUSTED = "VALIDATION_EXHAUSTED"
    # Job lifecycle
    JOB_TRIGGERED = "JOB_TRIGGERED"
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_FAILED = "JOB_FAILED"
    JOB_POLL_EXHAUSTED = "JOB_POLL_EXHAUSTED"
    JOB_CANCELLED = "JOB_CANCELLED"
    RETRY_SCHEDULED = "RETRY_SCHEDULED"
    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"
    INFRA_FAILURE = "INFRA_FAILURE"
    TRIGGER_UNCERTAIN = "TRIGGER_UNCERTAIN"
    RUN_RESOLVED = "RUN_RESOLVED"
    # Claims by external orchestrators
    RUN_CLAIMED = "RUN_CLAIMED"
    CLAIM_REPORTED = "CLAIM_REPORTED"
    # SLA
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACH = "SLA_BREACH"
    SLA_MET = "SLA_MET"
    RELATIVE_SLA_WARNING = "RELATIVE_SLA_WARNING"
    RELATIVE_SLA_BREACH = "RELATIVE_SLA_BREACH"
    # Watchdog
    STALE_RUN = "STALE_RUN"
    SCHEDULE_MISSED = "SCHEDULE_MISSED"
    IRREGULAR_SCHEDULE_MISSED = "IRREGULAR_SCHEDULE_MISSED"
    TRIGGER_RECOVERED = "TRIGGER_RECOVERED"
    SENSOR_DEADLINE_EXPIRED = "SENSOR_DEADLINE_EXPIRED"
    POST_RUN_SENSOR_MISSING = "POST_RUN_SENSOR_MISSING"
    WATCHDOG_DEGRADED = "WATCHDOG_DEGRADED"
    # Reruns, late data, post-run
    LATE_DATA_ARRIVAL = "LATE_DATA_ARRIVAL"
    RERUN_ACCEPTED = "RERUN_ACCEPTED"
    RERUN_REJECTED = "RERUN_REJECTED"
    PIPELINE_EXCLUDED = "PIPELINE_EXCLUDED"
    POST_RUN_BASELINE_CAPTURED = "POST_RUN_BASELINE_CAPTURED"
    BASELINE_CAPTURE_FAILED = "BASELINE_CAPTURE_FAILED"
    POST_RUN_PASSED = "POST_RUN_PASSED"
    POST_RUN_FAILED = "POST_RUN_FAILED"
    POST_RUN_DRIFT = "POST_RUN_DRIFT"
    POST_RUN_DRIFT_INFLIGHT = "POST_RUN_DRIFT_INFLIGHT"
    DATA_DRIFT = "DATA_DRIFT"
    # Dry run
    DRY_RUN_WOULD_TRIGGER = "DRY_RUN_WOULD_TRIGGER"
    DRY_RUN_LATE_DATA = "DRY_RUN_LATE_DATA"
    DRY_RUN_SLA_PROJECTION = "DRY_RUN_SLA_PROJECTION"
    DRY_RUN_COMPLETED = "DRY_RUN_COMPLETED"
    DRY_RUN_DRIFT = "DRY_RUN_DRIFT"
    DRY_RUN_WOULD_RERUN = "DRY_RUN_WOULD_RERUN"
    DRY_RUN_RERUN_REJECTED = "DRY_RUN_RERUN_REJECTED"
    DRY_RUN_WOULD_RETRY = "DRY_RUN_WOULD_RETRY"
    DRY_RUN_RETRY_EXHAUSTED = "DRY_RUN_RETRY_EXHAUSTED"
    # Configuration and infrastructure
    CONFIG_APPLIED = "CONFIG_APPLIED"
    CONFIG_INVALID = "CONFIG_INVALID"
    PIPELINE_REMOVED = "PIPELINE_REMOVED"
    INFRA_ALARM = "INFRA_ALARM"
    ALERT_DEAD_LETTERED = "ALERT_DEAD_LETTERED"
    CONTROLLER_ERROR = "CONTROLLER_ERROR"

    @property
    def meaning(self) -> str:
        """One line saying what the event means."""
        return EVENT_MEANINGS[self]


EVENT_MEANINGS: dict[EventType, str] = {
    EventType.RUN_OPENED: "a run was opened for a period (cron tick, trigger sensor, recovery)",
    EventType.VALIDATION_PASSED: "the gate passed: every rule needed for the run holds",
    EventType.VALIDATION_EXHAUSTED: "the evaluation window closed before the gate passed",
    EventType.JOB_TRIGGERED: "the job was submitted for this attempt (once per attempt)",
    EventType.JOB_COMPLETED: "the job finished successfully",
    EventType.JOB_FAILED: "the job finished with a failure",
    EventType.JOB_POLL_EXHAUSTED: "the job was still running when its poll window closed",
    EventType.JOB_CANCELLED: "the job was cancelled and the cancel was confirmed",
    EventType.RETRY_SCHEDULED: "a failed attempt will be retried (the gate is re-evaluated first)",
    EventType.RETRY_EXHAUSTED: "a failure could not be retried: its budget is spent",
    EventType.INFRA_FAILURE: "the job could not be submitted (infrastructure error)",
    EventType.TRIGGER_UNCERTAIN: "a submit was interrupted and its outcome is unknown; resolve it",
    EventType.RUN_RESOLVED: "an operator resolved an uncertain or stuck run",
    EventType.RUN_CLAIMED: "an external orchestrator claimed a job-less run",
    EventType.CLAIM_REPORTED: "the claim owner reported the outcome of its run",
    EventType.SLA_WARNING: "the SLA warning time passed and the run has not finished",
    EventType.SLA_BREACH: "the SLA deadline passed without a successful run",
    EventType.SLA_MET: "the run finished before its SLA deadline",
    EventType.RELATIVE_SLA_WARNING: "most of maxDuration since the first trigger sensor has passed",
    EventType.RELATIVE_SLA_BREACH: "maxDuration since the first trigger sensor passed unfinished",
    EventType.STALE_RUN: "a run stayed submitting, running or claimed past its time budget",
    EventType.SCHEDULE_MISSED: "a cron tick passed without a run",
    EventType.IRREGULAR_SCHEDULE_MISSED: "an inclusion date passed without a run",
    EventType.TRIGGER_RECOVERED: "a passing trigger sensor had no run; the watchdog opened one",
    EventType.SENSOR_DEADLINE_EXPIRED: "the trigger deadline passed without the trigger condition",
    EventType.POST_RUN_SENSOR_MISSING: "post-run sensors did not arrive within sensorTimeout",
    EventType.WATCHDOG_DEGRADED: "at least one watchdog check failed; the others still ran",
    EventType.LATE_DATA_ARRIVAL: "the trigger condition passed again after a successful run",
    EventType.RERUN_ACCEPTED: "a rerun was accepted and opened a new attempt",
    EventType.RERUN_REJECTED: "a rerun was refused (budget, circuit breaker or calendar)",
    EventType.PIPELINE_EXCLUDED: "the period is excluded by the calendar; no run opens",
    EventType.POST_RUN_BASELINE_CAPTURED: "the post-run sensors were recorded as the baseline",
    EventType.BASELINE_CAPTURE_FAILED: "the post-run baseline could not be captured",
    EventType.POST_RUN_PASSED: "the post-run rules passed",
    EventType.POST_RUN_FAILED: "the post-run rules failed",
    EventType.POST_RUN_DRIFT: "a post-run sensor drifted from its baseline after success",
    EventType.POST_RUN_DRIFT_INFLIGHT: "a post-run sensor drifted while the run was in flight",
    EventType.DATA_DRIFT: "legacy drift event (kept for Go-era alert routes)",
    EventType.DRY_RUN_WOULD_TRIGGER: "dry run: the gate passed and the job would have started",
    EventType.DRY_RUN_LATE_DATA: "dry run: the trigger passed again after the would-trigger",
    EventType.DRY_RUN_SLA_PROJECTION: "dry run: the projected completion against the SLA",
    EventType.DRY_RUN_COMPLETED: "dry run: the evaluation of this period is complete",
    EventType.DRY_RUN_DRIFT: "dry run: a post-run sensor drifted from its baseline",
    EventType.DRY_RUN_WOULD_RERUN: "dry run: a rerun would have been accepted",
    EventType.DRY_RUN_RERUN_REJECTED: "dry run: a rerun would have been refused",
    EventType.DRY_RUN_WOULD_RETRY: "dry run: a failure would have been retried",
    EventType.DRY_RUN_RETRY_EXHAUSTED: "dry run: a failure would not have been retried",
    EventType.CONFIG_APPLIED: "a pipeline config was applied to the store",
    EventType.CONFIG_INVALID: "a pipeline file is invalid; its last good config stays active",
    EventType.PIPELINE_REMOVED: "a pipeline's file was removed; its config was deleted",
    EventType.INFRA_ALARM: "an infrastructure alarm changed state",
    EventType.ALERT_DEAD_LETTERED: "an alert could not be delivered after its retries",
    EventType.CONTROLLER_ERROR: "a controller step failed for one pipeline or run; the others ran",
}


_SEQUENCE = itertools.count()
_PROCESS_TAG = uuid.uuid4().hex[:6]


def new_event_id(at: datetime) -> str:
    """A time-sortable unique id: ``<13-digit epoch ms>-<10-digit sequence>-<process tag>``.

    The per-process sequence keeps events published at the same instant in publication order
    (a simulated clock publishes many events at one instant).
    """
    millis = int(at.timestamp() * 1000)
    return f"{millis:013d}-{next(_SEQUENCE):010d}-{_PROCESS_TAG}"


@dataclass(frozen=True)
class Event:
    """One published event.

    Attributes:
        type: what happened.
        pipeline_id: the pipeline, or ``""`` for events about Interlock itself.
        period: the period the event is about, or ``None``.
        attempt: the run attempt the event is about, or ``None``.
        at: when it happened (timezone-aware UTC).
        message: one human sentence.
        detail: machine-readable extras (never secrets).
        id: a time-sortable unique id.
    """

    type: EventType
    pipeline_id: str
    period: str | None
    attempt: int | None
    at: datetime
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("Event.at must be timezone-aware")
        if not self.id:
            object.__setattr__(self, "id", new_event_id(self.at))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (camelCase keys, RFC 3339 time)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "pipelineId": self.pipeline_id,
            "period": self.period,
            "attempt": self.attempt,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "message": self.message,
            "detail": self.detail,
        }

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Event":
        """Inverse of :meth:`to_dict`."""
        at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
        return cls(
            type=EventType(data["type"]),
            pipeline_id=str(data.get("pipelineId", "")),
            period=data.get("period"),
            attempt=data.get("attempt"),
            at=at,
            message=str(data.get("message", "")),
            detail=dict(data.get("detail") or {}),
            id=str(data.get("id", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> "Event":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
