"""Opening runs by hand: ``interlock open`` (DESIGN.md §10) and the next tick of a schedule.

Catch-up after downtime, a backfill, or "run today's now": each period of the request opens as
a WAITING run through the engine's ordinary ``open_run`` path, so it submits its job only once
its gate passes, exactly as a tick- or trigger-opened run would. Periods excluded by the
pipeline's calendars are skipped and named, periods that have not started yet are refused
(their data cannot exist), and a period that already has a run keeps it untouched.
"""

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from interlock_core import periods, schedule
from interlock_core.config.calendars import Calendar
from interlock_core.config.models import Granularity, Pipeline
from interlock_core.runs import Run, RunOrigin

if TYPE_CHECKING:
    from interlock_core.engine import Interlock

# One request opens at most this many periods (about a year of days, or six weeks of hours).
MAX_OPEN_PERIODS = 1000


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A period of the request that opened no run, and why."""

    period: str
    reason: str


@dataclasses.dataclass(frozen=True)
class OpenResult:
    """What ``Interlock.open_runs`` did, period by period (oldest first in each list).

    Attributes:
        pipeline_id: the pipeline.
        opened: the new WAITING runs.
        existing: runs that were already there (left alone).
        excluded: periods the pipeline's calendars exclude (no run opens).
        unscheduled: periods of a range that no cron tick or inclusion date produces.
    """

    pipeline_id: str
    opened: list[Run]
    existing: list[Run]
    excluded: list[Skipped]
    unscheduled: list[Skipped]


def period_start(pipeline: Pipeline, period: str) -> dt.datetime:
    """When ``period`` begins: local midnight in ``schedule.timezone`` for a day, the UTC hour
    for an hour."""
    parsed = periods.parse_period(period)
    if parsed.hour is not None:
        return parsed.start_utc
    return schedule.local_instant(parsed.date, dt.time(0, 0), pipeline.schedule.tz)


def next_tick(
    pipeline: Pipeline,
    now: dt.datetime,
    calendars: Mapping[str, Calendar] | None = None,
) -> dt.datetime | None:
    """The first cron tick (or inclusion date) after ``now`` whose period is not excluded;
    None for sensor-driven pipelines and schedules that never fire again.

    Looks a day ahead, then a week, then a year, so a frequent cron computes few ticks.
    """
    for horizon in (dt.timedelta(days=1), dt.timedelta(days=8), dt.timedelta(days=366)):
        try:
            ticks = schedule.schedule_ticks(pipeline, now, now + horizon)
        except ValueError:
            return None
        for tick in ticks:
            period = schedule.period_of_tick(pipeline, tick)
            if schedule.is_excluded_period(pipeline, calendars or {}, period) is None:
                return tick
    return None


def next_tick_info(
    pipeline: Pipeline,
    now: dt.datetime,
    calendars: Mapping[str, Calendar] | None = None,
) -> dict[str, str] | None:
    """The next tick of a cron (or inclusion) pipeline as ``evaluate`` and ``status`` show it:
    ``at`` (UTC, ISO), ``local`` (``YYYY-MM-DD HH:MM`` in ``timezone``), ``timezone`` and the
    ``period`` it opens; None for sensor-driven pipelines and schedules that never fire again."""
    tick = next_tick(pipeline, now, calendars)
    if tick is None:
        return None
    return {
        "at": tick.isoformat(),
        "local": f"{tick.astimezone(pipeline.schedule.tz):%Y-%m-%d %H:%M}",
        "timezone": pipeline.schedule.timezone,
        "period": schedule.period_of_tick(pipeline, tick),
    }


def default_period(pipeline: Pipeline, now: dt.datetime) -> str:
    """The period ``interlock open PIPELINE`` opens: the one the next tick would open, when it
    has already begun ("run today's now", ahead of the tick), else the current period."""
    upcoming = schedule.next_period(pipeline, now)
    if upcoming is not None and period_start(pipeline, upcoming) <= now:
        return upcoming
    return schedule.current_period(pipeline, now)


def period_range(first: str, last: str, granularity: Granularity) -> list[str]:
    """Every period from ``first`` to ``last`` inclusive.

    Raises:
        ValueError: ``last`` is before ``first``, or the range is longer than
            ``MAX_OPEN_PERIODS``.
    """
    if periods.parse_period(last) < periods.parse_period(first):
        raise ValueError(f"--to {last} is before --from {first}")
    step = {"hours": 1} if granularity == Granularity.HOURLY else {"days": 1}
    result = [first]
    while result[-1] != last:
        if len(result) >= MAX_OPEN_PERIODS:
            raise ValueError(
                f"{first}..{last} holds more than {MAX_OPEN_PERIODS} periods: open it in parts"
            )
        result.append(periods.shift_period(result[-1], **step))
    return result


def scheduled_periods(pipeline: Pipeline, first: str, last: str) -> set[str] | None:
    """The periods of ``first..last`` that some tick produces; None when every period counts
    (sensor-driven pipelines) or the ticks are too many to list (a minutely cron)."""
    if not (pipeline.schedule.cron or pipeline.schedule.include):
        return None
    # A tick for P lies within a day of P shifted back by the period offset (DST, time zones).
    margin = dt.timedelta(days=2) + abs(pipeline.schedule.period_offset)
    start = period_start(pipeline, first) - margin
    end = period_start(pipeline, last) + margin
    try:
        ticks = schedule.schedule_ticks(pipeline, start, end)
    except ValueError:
        return None
    return {schedule.period_of_tick(pipeline, tick) for tick in ticks}


def window_for_manual_open(pipeline: Pipeline, period: str, now: dt.datetime) -> dt.datetime:
    """A run opened by hand gets a full evaluation window from now. The period's trigger
    deadline still bounds it while that deadline lies ahead; a backfill of a period whose
    deadline passed long ago would otherwise be exhausted the moment it opened."""
    end = schedule.evaluation_window_end(pipeline, period, now)
    return end if end > now else now + pipeline.schedule.evaluation.window


def open_runs(
    engine: "Interlock",
    pipeline_id: str,
    period: str | None = None,
    *,
    first: str | None = None,
    last: str | None = None,
) -> OpenResult:
    """Open WAITING runs for one period or an inclusive range (see ``Interlock.open_runs``)."""
    from interlock_core.engine import InterlockError

    active = engine._require_config(pipeline_id)
    pipeline = active.pipeline
    now = engine.clock.now()
    if period is not None and (first is not None or last is not None):
        raise InterlockError("give either a PERIOD or --from/--to, not both")
    if (first is None) != (last is None):
        raise InterlockError("give both --from and --to (the range is inclusive)")
    if first is not None and last is not None:
        first, last = engine._period_for(pipeline, first), engine._period_for(pipeline, last)
        try:
            wanted = period_range(first, last, pipeline.granularity)
        except ValueError as exc:
            raise InterlockError(str(exc)) from exc
        produced = scheduled_periods(pipeline, first, last)
    else:
        single = engine._period_for(pipeline, period) if period else default_period(pipeline, now)
        wanted, produced = [single], None
    future = [p for p in wanted if period_start(pipeline, p) > now]
    if future:
        # The latest period that may open, which is the next tick's once it has begun.
        current = default_period(pipeline, now)
        raise InterlockError(
            f"{future[0]} has not begun yet (now {now:%Y-%m-%d %H:%M}Z): a run can open for "
            f"periods up to {current}; nothing was opened"
        )
    opened: list[Run] = []
    existing: list[Run] = []
    excluded: list[Skipped] = []
    unscheduled: list[Skipped] = []
    for wanted_period in wanted:
        run = engine.store.get_run(pipeline_id, wanted_period)
        if run is not None:
            existing.append(run)
            continue
        reason = schedule.is_excluded_period(pipeline, active.calendars, wanted_period)
        if reason is not None:
            excluded.append(Skipped(wanted_period, reason))
            continue
        if produced is not None and wanted_period not in produced:
            unscheduled.append(Skipped(wanted_period, _unscheduled_reason(pipeline)))
            continue
        run = engine.open_run(
            pipeline_id,
            wanted_period,
            RunOrigin.MANUAL,
            window_ends_at=window_for_manual_open(pipeline, wanted_period, now),
        )
        if run is None:  # excluded after all (the config changed in between)
            excluded.append(Skipped(wanted_period, "excluded"))
        elif run.origin == RunOrigin.MANUAL and run.attempt == 1 and run.opened_at >= now:
            opened.append(run)
        else:  # another controller opened it first
            existing.append(run)
    return OpenResult(pipeline_id, opened, existing, excluded, unscheduled)


def _unscheduled_reason(pipeline: Pipeline) -> str:
    if pipeline.schedule.cron:
        return f"no tick of cron {pipeline.schedule.cron!r} opens it"
    return "not an inclusion date"
