"""SLA deadlines, status and verdicts (DESIGN.md §6), as pure functions.

An absolute deadline (``sla.deadline``) is fixed per period: it is computed from the period's
schedule instant (:func:`interlock_core.schedule.schedule_instant`), never from the current
time. The Go reference rolled a past deadline forward relative to "now", so a daily run that
finished late was reported ``SLA_MET``; here a late run is ``SLA_BREACH`` (DESIGN.md §12).

Local deadline times follow the DST rule of :mod:`interlock_core.schedule`: a time inside a
spring-forward gap is shifted forward by the gap (02:30 on 2026-03-08 in America/New_York is
03:30 EDT), a time inside a fall-back overlap is its first occurrence (01:30 EDT on
2026-11-01).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from interlock_core.config.durations import format_duration
from interlock_core.config.models import SLA, Pipeline
from interlock_core.schedule import next_deadline, schedule_instant

SlaStatus = Literal["ok", "warning", "breach"]
Verdict = Literal["SLA_MET", "SLA_BREACH"]


@dataclass(frozen=True)
class SlaDeadlines:
    """When a run's SLA warning and breach fall due (aware UTC datetimes).

    Attributes:
        warning_at: the warning instant; None when the SLA has no ``expectedDuration``
            (absolute deadlines) — relative deadlines always have one.
        breach_at: the breach instant.
    """

    warning_at: dt.datetime | None
    breach_at: dt.datetime


def absolute_deadlines(pipeline: Pipeline, period: str) -> SlaDeadlines | None:
    """The absolute SLA deadlines of ``period``'s run.

    ``sla.deadline`` is read in ``sla.timezone`` from the period's schedule instant: ``HH:MM``
    on the schedule date (the tick's date for cron pipelines, T+1 for sensor-driven daily
    pipelines), ``:MM`` in the schedule hour (H+1 for hourly periods, so ``2026-03-03T23``
    with ``:30`` breaches at 2026-03-04T00:30Z). A deadline that would fall before the
    schedule instant moves to the next day (``HH:MM``) or hour (``:MM``), once. The warning
    is ``breach - sla.expectedDuration``, or None without ``expectedDuration``.

    Args:
        pipeline: the pipeline config.
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``.

    Returns:
        The deadlines, or None when the pipeline has no ``sla.deadline``.

    Raises:
        ValueError: the period is invalid.
    """
    sla = pipeline.sla
    if sla is None or sla.deadline is None:
        return None
    breach = next_deadline(schedule_instant(pipeline, period), sla.deadline, sla.tz)
    warning = breach - sla.expected_duration if sla.expected_duration is not None else None
    return SlaDeadlines(warning_at=warning, breach_at=breach)


def relative_deadlines(sla: SLA | None, first_arrival: dt.datetime) -> SlaDeadlines | None:
    """The relative SLA deadlines, counted from the first trigger-sensor arrival.

    breach = ``first_arrival + sla.maxDuration``; warning = ``breach - sla.expectedDuration``
    when that is set, else at 75 % of ``maxDuration`` (``breach - maxDuration / 4``).

    Args:
        sla: the pipeline's SLA section (None is accepted and gives None).
        first_arrival: when the first trigger sensor for the period arrived (aware).

    Returns:
        The deadlines, or None when there is no ``sla.maxDuration``.

    Raises:
        ValueError: ``first_arrival`` is naive.
    """
    if sla is None or sla.max_duration is None:
        return None
    breach = _utc(first_arrival, "first_arrival") + sla.max_duration
    if sla.expected_duration is not None:
        warning = breach - sla.expected_duration
    else:
        warning = breach - sla.max_duration / 4
    return SlaDeadlines(warning_at=warning, breach_at=breach)


def sla_status(deadlines: SlaDeadlines, now: dt.datetime) -> SlaStatus:
    """Where ``now`` stands against the deadlines of a run that has not completed.

    Args:
        deadlines: the run's deadlines.
        now: the current instant (aware).

    Returns:
        ``"breach"`` from ``breach_at`` on, ``"warning"`` from ``warning_at`` on, else
        ``"ok"``.

    Raises:
        ValueError: ``now`` is naive.
    """
    now = _utc(now, "now")
    if now >= deadlines.breach_at:
        return "breach"
    if deadlines.warning_at is not None and now >= deadlines.warning_at:
        return "warning"
    return "ok"


def completion_verdict(deadlines: SlaDeadlines, completed_at: dt.datetime) -> Verdict:
    """The SLA verdict of a completed run.

    As the Go reference's verdict: ``SLA_BREACH`` when the run completed at or after
    ``breach_at``, else ``SLA_MET``. The warning does not matter here.

    Args:
        deadlines: the run's deadlines.
        completed_at: when the run completed (aware).

    Returns:
        ``"SLA_MET"`` or ``"SLA_BREACH"``.

    Raises:
        ValueError: ``completed_at`` is naive.
    """
    if _utc(completed_at, "completed_at") >= deadlines.breach_at:
        return "SLA_BREACH"
    return "SLA_MET"


def dry_run_projection(
    pipeline: Pipeline, period: str, triggered_at: dt.datetime
) -> dict[str, Any] | None:
    """The SLA projection of a dry run (Go ``DRY_RUN_SLA_PROJECTION``).

    The estimated completion is ``triggered_at + sla.expectedDuration``, judged against the
    period's absolute breach deadline (the same fixed computation as real runs, T+1 and H+1
    included). ``status`` is ``"breach"`` when the estimate is at or after the deadline (the
    same boundary as :func:`completion_verdict`; Go used strictly after), ``"met"`` otherwise,
    and ``"n/a"`` when the SLA has no ``deadline``.

    Args:
        pipeline: the pipeline config.
        period: the run's period.
        triggered_at: when the dry run would have triggered the job (aware).

    Returns:
        The event detail, camelCase keys: ``triggeredAt``, ``estimatedCompletion``,
        ``expectedDuration``, ``status`` and, with a deadline, ``deadline`` and
        ``marginSeconds`` (deadline minus estimate, whole seconds, negative when late).
        None when the SLA has no ``expectedDuration`` (Go publishes no projection then).

    Raises:
        ValueError: ``triggered_at`` is naive or the period is invalid.
    """
    sla = pipeline.sla
    if sla is None or sla.expected_duration is None:
        return None
    triggered = _utc(triggered_at, "triggered_at")
    estimate = triggered + sla.expected_duration
    detail: dict[str, Any] = {
        "triggeredAt": _rfc3339(triggered),
        "estimatedCompletion": _rfc3339(estimate),
        "expectedDuration": format_duration(sla.expected_duration),
        "status": "n/a",
    }
    deadlines = absolute_deadlines(pipeline, period)
    if deadlines is not None:
        verdict = completion_verdict(deadlines, estimate)
        detail["status"] = "breach" if verdict == "SLA_BREACH" else "met"
        detail["deadline"] = _rfc3339(deadlines.breach_at)
        detail["marginSeconds"] = int((deadlines.breach_at - estimate).total_seconds())
    return detail


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(dt.UTC)


def _rfc3339(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
