"""When runs are expected: calendar exclusions, cron and inclusion ticks, the period of a tick,
the schedule instant of a period and trigger deadlines (DESIGN.md §2, §4, §6).

Every function is pure: instants are passed in (timezone-aware) and returned as aware UTC
datetimes; nothing here reads the clock or the environment.

Local times and DST. A local wall-clock time is turned into an instant with PEP 495 ``fold=0``
semantics, the same rule for cron ticks, inclusion ticks, trigger deadlines and SLA deadlines:

* a time that does not exist (inside a spring-forward gap) is shifted forward by the length of
  the gap: 02:30 on 2026-03-08 in America/New_York is 03:30 EDT (07:30Z);
* a time that exists twice (in a fall-back overlap) is its first occurrence: 01:30 on
  2026-11-01 in America/New_York is 01:30 EDT (05:30Z).

Cron expressions follow Vixie cron's split between fixed-time and wildcard jobs:

* **fixed-time** crons (neither the minute nor the hour field starts with ``*``, e.g.
  ``30 2 * * *``, ``0 8 * * 1-5``) fire once per matching local time, by the rule above: a
  daily 02:30 tick fires at 03:30 EDT on spring-forward day, a daily 01:30 tick fires once on
  fall-back day;
* **wildcard** crons (``0 * * * *``, ``*/15 * * * *``) fire at every real instant whose local
  time matches: local times in a gap are skipped and local times in an overlap fire twice, so an
  hourly cron ticks exactly once per UTC hour (24 ticks in any 24 h) across both transitions.
"""

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from interlock_core.config.calendars import Calendar
from interlock_core.config.models import Granularity, Pipeline
from interlock_core.periods import daily_period, hourly_period, parse_period

if TYPE_CHECKING:
    from croniter import croniter

MAX_TICKS = 10_000
"""Default cap on the number of ticks one call may return (guards against huge ranges)."""

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)
_MIDNIGHT = dt.time(0, 0)
_MICROSECOND = dt.timedelta(microseconds=1)


# --------------------------------------------------------------------------- exclusions


def exclusion_reason(
    pipeline: Pipeline, calendars: Mapping[str, Calendar], day: dt.date
) -> str | None:
    """Why ``day`` is excluded for ``pipeline``, or None when it is not.

    Sources, checked in this order: ``schedule.exclude.weekends``, ``schedule.exclude.dates``,
    the named calendars in ``schedule.exclude.calendars``, then ``schedule.calendar`` (the Go
    reference's single calendar name, wired in here).

    Args:
        pipeline: the pipeline config.
        calendars: named calendars by name.
        day: the date to check.

    Returns:
        A short reason such as ``"weekend"``, ``"excluded date 2026-12-25"`` or
        ``"us-federal calendar: 2026-11-26"``; None when the date is not excluded.

    Raises:
        ValueError: the pipeline names a calendar that is not in ``calendars``.
    """
    exclude = pipeline.schedule.exclude
    if exclude.weekends and day.weekday() >= 5:
        return "weekend"
    if day in exclude.dates:
        return f"excluded date {day.isoformat()}"
    names = list(exclude.calendars)
    if pipeline.schedule.calendar is not None and pipeline.schedule.calendar not in names:
        names.append(pipeline.schedule.calendar)
    for name in names:
        calendar = calendars.get(name)
        if calendar is None:
            raise ValueError(f"pipeline {pipeline.id!r}: unknown calendar {name!r}")
        if day in calendar.dates:
            return f"{name} calendar: {day.isoformat()}"
        for weekday in calendar.days:
            if weekday.index == day.weekday():
                return f"{name} calendar: {weekday.value}"
    return None


def is_excluded_period(
    pipeline: Pipeline, calendars: Mapping[str, Calendar], period: str
) -> str | None:
    """Why the run for ``period`` is excluded, or None when it is not.

    The date checked is the period's own date. For an hourly period that is the date part of
    the UTC hour (``2026-03-07T02`` is checked as 2026-03-07 even when it is still Friday in
    the schedule time zone), as the Go execution-date check, which read the first ten
    characters of the run date.

    Args:
        pipeline: the pipeline config.
        calendars: named calendars by name.
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (compact forms accepted).

    Returns:
        The reason (see :func:`exclusion_reason`) or None.

    Raises:
        ValueError: the period is invalid, or a named calendar is unknown.
    """
    return exclusion_reason(pipeline, calendars, parse_period(period).date)


# --------------------------------------------------------------------------- local time


def local_instant(day: dt.date, time: dt.time, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time, by the module's DST rule.

    A time inside a spring-forward gap is shifted forward by the gap; a time inside a
    fall-back overlap is its first occurrence.

    Args:
        day: the local date.
        time: the local time of day (naive).
        tz: the time zone.

    Returns:
        An aware UTC datetime.
    """
    return dt.datetime.combine(day, time.replace(tzinfo=None), tzinfo=tz).astimezone(dt.UTC)


def next_deadline(anchor: dt.datetime, deadline: str, tz: dt.tzinfo) -> dt.datetime:
    """The first instant at or after ``anchor`` that matches a deadline in ``tz``.

    ``HH:MM``: that local time on the local date of ``anchor``, or on the next day when it
    would fall before ``anchor``. ``:MM``: minute MM of the local hour of ``anchor``, or of the
    next hour when it would fall before ``anchor`` (in whole-hour-offset zones, minute MM of
    the UTC hour). The result depends only on its arguments, never on the current time.

    Args:
        anchor: the schedule instant (aware).
        deadline: ``"HH:MM"`` or ``":MM"``.
        tz: the deadline's time zone.

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: the deadline is malformed or ``anchor`` is naive.
    """
    anchor = _utc(anchor, "anchor")
    hours, sep, minutes = deadline.partition(":")
    # As the config validator and Go: MM is exactly two digits, HH one or two.
    if not sep or len(minutes) != 2 or not minutes.isdigit() or int(minutes) > 59:
        raise ValueError(f"invalid deadline {deadline!r}: use 'HH:MM' or ':MM'")
    if hours == "":
        local = anchor.astimezone(tz)
        candidate = local.replace(minute=int(minutes), second=0, microsecond=0).astimezone(dt.UTC)
        # A real hour later, not a wall-clock hour: keeps the result inside the next UTC hour
        # even when the local hour repeats or is skipped.
        return candidate if candidate >= anchor else candidate + _HOUR
    if len(hours) > 2 or not hours.isdigit() or int(hours) > 23:
        raise ValueError(f"invalid deadline {deadline!r}: use 'HH:MM' or ':MM'")
    time = dt.time(int(hours), int(minutes))
    day = anchor.astimezone(tz).date()
    candidate = local_instant(day, time, tz)
    return candidate if candidate >= anchor else local_instant(day + _DAY, time, tz)


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(dt.UTC)


def _naive_utc(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(dt.UTC).replace(tzinfo=None)


def _offset_bounds(tz: dt.tzinfo, *instants: dt.datetime) -> tuple[dt.timedelta, dt.timedelta]:
    # Local wall time = UTC + offset, so the naive local times whose instants lie near these
    # instants are bounded by the smallest and largest offsets in force around them. Sampling a
    # day either side catches any DST transition adjacent to the range edges.
    offsets = []
    for instant in instants:
        for shift in (-_DAY, dt.timedelta(0), _DAY):
            offset = (instant + shift).astimezone(tz).utcoffset()
            offsets.append(offset if offset is not None else dt.timedelta(0))
    return min(offsets), max(offsets)


# --------------------------------------------------------------------------- ticks


def _is_wildcard_cron(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


def _resolve(local: dt.datetime, tz: dt.tzinfo, wildcard: bool) -> list[dt.datetime]:
    """The instants at which a cron matching naive local time ``local`` fires."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    if not wildcard:
        return [first]
    second = local.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    if first == second:
        return [first]
    if first < second:  # overlap: the local time happens twice
        return [first, second]
    return []  # gap: the local time never happens


def cron_ticks(
    pipeline: Pipeline,
    start: dt.datetime,
    end: dt.datetime,
    *,
    limit: int = MAX_TICKS,
) -> list[dt.datetime]:
    """The cron ticks ``t`` with ``start < t <= end``.

    The cron is evaluated in ``schedule.timezone`` with the DST rules of this module's
    docstring.

    Args:
        pipeline: a pipeline with ``schedule.cron``.
        start: exclusive lower bound (aware).
        end: inclusive upper bound (aware).
        limit: the most ticks the range may hold.

    Returns:
        Aware UTC datetimes, ascending, without duplicates.

    Raises:
        ValueError: the pipeline has no cron, a bound is naive, or the range holds more than
            ``limit`` ticks.
    """
    cron = pipeline.schedule.cron
    if not cron:
        raise ValueError(f"pipeline {pipeline.id!r} has no schedule.cron")
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return []
    tz = pipeline.schedule.tz
    if end - start <= _CACHED_RANGE:
        try:
            ticks = [
                tick
                for chunk in _chunks(start, end)
                for tick in _chunk_ticks(cron, tz, chunk, limit)
                if start < tick <= end
            ]
        except ValueError:
            ticks = None  # a chunk holds more than ``limit``: the range may too (said below)
        if ticks is not None and len(ticks) <= limit:
            return ticks
    return _cron_ticks_between(pipeline.id, cron, tz, start, end, limit)


def _cron_ticks_between(
    pipeline_id: str, cron: str, tz: dt.tzinfo, start: dt.datetime, end: dt.datetime, limit: int
) -> list[dt.datetime]:
    wildcard = _is_wildcard_cron(cron)
    low_offset, high_offset = _offset_bounds(tz, start, end)
    lowest = _naive_utc(start) + low_offset
    highest = _naive_utc(end) + high_offset
    ticks: set[dt.datetime] = set()
    from croniter import CroniterBadDateError  # only cron pipelines need croniter (~8 ms)

    with _matches(cron, lowest) as matches:
        while True:
            try:
                local = matches.get_next(dt.datetime)
            except CroniterBadDateError:  # an expression that never matches (e.g. 30 February)
                break
            if local > highest:
                break
            for tick in _resolve(local, tz, wildcard):
                if start < tick <= end:
                    ticks.add(tick)
            if len(ticks) > limit:
                raise ValueError(
                    f"pipeline {pipeline_id!r}: more than {limit} cron ticks between "
                    f"{start.isoformat()} and {end.isoformat()}; use a shorter range"
                )
    return sorted(ticks)


# Ticks are cached per (cron, zone, UTC day): every pipeline with the same cron and zone shares
# them, and a watchdog pass every minute asks for the same two days again. Least recently used
# chunks go first; :func:`reserve_tick_cache` sizes the cache to the pipelines so one pass's
# working set fits (no cliff where every lookup misses). Ticks never go stale: a chunk is a
# pure function of its key.
_CACHED_RANGE = dt.timedelta(days=4)
_TICK_CHUNKS: "OrderedDict[tuple[str, dt.tzinfo, dt.datetime], tuple[dt.datetime, ...]]"
_TICK_CHUNKS = OrderedDict()
_TICK_CHUNKS_CAPACITY = [4096]
_TICK_LOCK = threading.Lock()
# Building a croniter parses its expression (most of a tick computation's cost): one per cron.
_MATCHERS: "OrderedDict[str, croniter]" = OrderedDict()
_MATCHERS_CAPACITY = 1024


def reserve_tick_cache(pipelines: int) -> None:
    """Make room for the tick chunks of ``pipelines`` pipelines over a few days."""
    with _TICK_LOCK:
        _TICK_CHUNKS_CAPACITY[0] = max(_TICK_CHUNKS_CAPACITY[0], 4 * pipelines + 64)


def _chunks(start: dt.datetime, end: dt.datetime) -> Iterable[dt.datetime]:
    """UTC midnights ``m`` whose day ``(m, m + 1 day]`` meets ``(start, end]``."""
    chunk = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while chunk < end:
        yield chunk
        chunk += _DAY


def _chunk_ticks(
    cron: str, tz: dt.tzinfo, chunk: dt.datetime, limit: int
) -> tuple[dt.datetime, ...]:
    key = (cron, tz, chunk)
    with _TICK_LOCK:
        cached = _TICK_CHUNKS.get(key)
        if cached is not None:
            _TICK_CHUNKS.move_to_end(key)
            return cached
    ticks = tuple(_cron_ticks_between("", cron, tz, chunk, chunk + _DAY, limit))
    with _TICK_LOCK:
        _TICK_CHUNKS[key] = ticks
        while len(_TICK_CHUNKS) > _TICK_CHUNKS_CAPACITY[0]:
            _TICK_CHUNKS.popitem(last=False)
    return ticks


class _matches:
    """A croniter for ``cron`` starting at ``start``, reused across calls (one at a time)."""

    def __init__(self, cron: str, start: dt.datetime) -> None:
        self.cron = cron
        self.start = start
        self.matcher: croniter | None = None

    def __enter__(self) -> "croniter":
        from croniter import croniter

        with _TICK_LOCK:
            self.matcher = _MATCHERS.pop(self.cron, None)
        if self.matcher is None:
            self.matcher = croniter(self.cron, self.start)
        else:
            self.matcher.set_current(self.start, force=True)
        return self.matcher

    def __exit__(self, *exc: object) -> None:
        with _TICK_LOCK:
            _MATCHERS[self.cron] = self.matcher  # type: ignore[assignment]
            while len(_MATCHERS) > _MATCHERS_CAPACITY:
                _MATCHERS.popitem(last=False)


def _inclusion_instants(pipeline: Pipeline) -> list[dt.datetime]:
    include = pipeline.schedule.include
    if include is None:
        raise ValueError(f"pipeline {pipeline.id!r} has no schedule.include")
    time = _schedule_time(pipeline)
    tz = pipeline.schedule.tz
    return sorted({local_instant(day, time, tz) for day in include.dates})


def _schedule_time(pipeline: Pipeline) -> dt.time:
    text = pipeline.schedule.time
    if text is None:
        return _MIDNIGHT
    hours, _, minutes = text.partition(":")
    return dt.time(int(hours), int(minutes))


def inclusion_ticks(
    pipeline: Pipeline,
    start: dt.datetime,
    end: dt.datetime,
    *,
    limit: int = MAX_TICKS,
) -> list[dt.datetime]:
    """The inclusion-date ticks ``t`` with ``start < t <= end``.

    Each date in ``schedule.include.dates`` ticks at ``schedule.time`` (default 00:00) local
    time in ``schedule.timezone``.

    Args:
        pipeline: a pipeline with ``schedule.include``.
        start: exclusive lower bound (aware).
        end: inclusive upper bound (aware).
        limit: the most ticks the range may hold.

    Returns:
        Aware UTC datetimes, ascending, without duplicates.

    Raises:
        ValueError: the pipeline has no inclusion dates, a bound is naive, or the range holds
            more than ``limit`` ticks.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    ticks = [tick for tick in _inclusion_instants(pipeline) if start < tick <= end]
    if len(ticks) > limit:
        raise ValueError(
            f"pipeline {pipeline.id!r}: more than {limit} inclusion ticks between "
            f"{start.isoformat()} and {end.isoformat()}; use a shorter range"
        )
    return ticks


def schedule_ticks(
    pipeline: Pipeline,
    start: dt.datetime,
    end: dt.datetime,
    *,
    limit: int = MAX_TICKS,
) -> list[dt.datetime]:
    """The ticks that open runs in ``(start, end]``: cron or inclusion ticks.

    Args:
        pipeline: the pipeline config.
        start: exclusive lower bound (aware).
        end: inclusive upper bound (aware).
        limit: the most ticks the range may hold.

    Returns:
        Aware UTC datetimes, ascending; empty for sensor-driven pipelines.

    Raises:
        ValueError: a bound is naive, or the range holds more than ``limit`` ticks.
    """
    if pipeline.schedule.cron:
        return cron_ticks(pipeline, start, end, limit=limit)
    if pipeline.schedule.include is not None:
        return inclusion_ticks(pipeline, start, end, limit=limit)
    _utc(start, "start")
    _utc(end, "end")
    return []


def last_tick_at_or_before(pipeline: Pipeline, now: dt.datetime) -> dt.datetime | None:
    """The latest cron or inclusion tick at or before ``now``.

    Calendar exclusions are not applied: an excluded tick is still a tick (its run is
    reported as excluded rather than silently skipped).

    Args:
        pipeline: the pipeline config.
        now: the current instant (aware).

    Returns:
        An aware UTC datetime; None for sensor-driven pipelines and when no tick precedes
        ``now``.

    Raises:
        ValueError: ``now`` is naive.
    """
    now = _utc(now, "now")
    cron = pipeline.schedule.cron
    if cron:
        return _last_cron_tick(cron, pipeline.schedule.tz, now)
    if pipeline.schedule.include is not None:
        past = [tick for tick in _inclusion_instants(pipeline) if tick <= now]
        return past[-1] if past else None
    return None


def _last_cron_tick(cron: str, tz: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    wildcard = _is_wildcard_cron(cron)
    _, high_offset = _offset_bounds(tz, now)
    ceiling = _naive_utc(now) + high_offset
    # croniter's get_prev is strictly before its start; start one minute past the floor so a
    # match exactly at the ceiling is seen (matches fall on whole minutes).
    ceiling = ceiling.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    from croniter import CroniterBadDateError, croniter  # only cron pipelines need it (~8 ms)

    matches = croniter(cron, ceiling)
    best: dt.datetime | None = None
    stop_below: dt.datetime | None = None
    while True:
        try:
            local = matches.get_prev(dt.datetime)
        except CroniterBadDateError:
            return best
        if stop_below is not None and local < stop_below:
            return best
        for tick in _resolve(local, tz, wildcard):
            if tick <= now and (best is None or tick > best):
                best = tick
                # No earlier local time can map to an instant after ``best``.
                low_offset, _ = _offset_bounds(tz, best)
                stop_below = _naive_utc(best) + low_offset


# --------------------------------------------------------------------------- periods


def next_period(pipeline: Pipeline, now: dt.datetime) -> str | None:
    """The period of the first tick after ``now`` (cron or inclusion pipelines), or None.

    Looks a day ahead, then a week, then a year, so a frequent cron never computes more ticks
    than it needs.
    """
    for horizon in (dt.timedelta(days=1), dt.timedelta(days=8), dt.timedelta(days=366)):
        try:
            ticks = schedule_ticks(pipeline, now, now + horizon)
        except ValueError:
            return None
        if ticks:
            return period_of_tick(pipeline, ticks[0])
    return None


def period_of_tick(pipeline: Pipeline, tick: dt.datetime) -> str:
    """The period a tick opens a run for.

    ``schedule.periodOffset`` is added first. Daily pipelines: the local date in
    ``schedule.timezone`` of the shifted wall-clock time (the offset moves the local wall
    clock, so ``-1d`` from a midnight tick is the previous local date even across a DST
    change). Hourly pipelines: the UTC hour of ``tick + offset``.

    Args:
        pipeline: the pipeline config (its ``granularity`` decides daily or hourly).
        tick: the tick instant (aware).

    Returns:
        ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``.

    Raises:
        ValueError: ``tick`` is naive.
    """
    tick = _utc(tick, "tick")
    offset = pipeline.schedule.period_offset
    if pipeline.granularity == Granularity.HOURLY:
        return hourly_period(tick + offset)
    local = tick.astimezone(pipeline.schedule.tz).replace(tzinfo=None)
    return daily_period((local + offset).date())


def current_period(pipeline: Pipeline, now: dt.datetime) -> str:
    """The latest period whose run is expected at or before ``now`` (DESIGN.md §4).

    Cron and inclusion pipelines: the period of the last tick at or before ``now``. Otherwise
    (and for a cron or inclusion pipeline with no past tick): today's local date in
    ``schedule.timezone`` for daily pipelines, the current UTC hour for hourly ones.

    Args:
        pipeline: the pipeline config.
        now: the current instant (aware).

    Returns:
        ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``.

    Raises:
        ValueError: ``now`` is naive.
    """
    now = _utc(now, "now")
    tick = last_tick_at_or_before(pipeline, now)
    if tick is not None:
        return period_of_tick(pipeline, tick)
    if pipeline.granularity == Granularity.HOURLY:
        return hourly_period(now)
    return daily_period(now.astimezone(pipeline.schedule.tz).date())


def _ticks_near(pipeline: Pipeline, low: dt.datetime, high: dt.datetime) -> Iterable[dt.datetime]:
    """Candidate ticks whose naive local time lies in ``[low, high)``."""
    cron = pipeline.schedule.cron
    tz = pipeline.schedule.tz
    if cron:
        wildcard = _is_wildcard_cron(cron)
        from croniter import CroniterBadDateError, croniter  # only cron pipelines need it (~8 ms)

        matches = croniter(cron, low - dt.timedelta(seconds=1))
        while True:
            try:
                local = matches.get_next(dt.datetime)
            except CroniterBadDateError:
                return
            if local >= high:
                return
            yield from _resolve(local, tz, wildcard)
    elif pipeline.schedule.include is not None:
        time = _schedule_time(pipeline)
        for day in sorted(pipeline.schedule.include.dates):
            local = dt.datetime.combine(day, time)
            if low <= local < high:
                yield local_instant(day, time, tz)


def schedule_instant(pipeline: Pipeline, period: str) -> dt.datetime:
    """When the run for ``period`` is scheduled: the anchor of its deadlines (DESIGN.md §6).

    * Hourly periods: the start of the hour after the period (H+1); for a cron pipeline whose
      tick producing the period comes later (``periodOffset`` below ``-1h``), that tick.
    * Daily periods of cron or inclusion pipelines: the tick that produces the period (the
      period offset inverted: with ``-1d`` the tick of the next local day). When no tick
      produces it (a weekday cron asked about a Sunday), local midnight of the date the
      inverted offset gives.
    * Daily periods of sensor-driven pipelines: local midnight of the next day (T+1), in
      ``schedule.timezone``.

    Args:
        pipeline: the pipeline config.
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (compact forms accepted).

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: the period is invalid.
    """
    parsed = parse_period(period)
    schedule = pipeline.schedule
    if parsed.hour is not None:
        after = parsed.start_utc + _HOUR
        if not schedule.cron:
            return after
        # As for daily periods, the tick that opens the run anchors it: with periodOffset -2h
        # the 10:05 tick opens T08, whose window must not have closed at 09:45 already.
        low = parsed.start_utc - schedule.period_offset
        ticks = cron_ticks(pipeline, low - _MICROSECOND, low + _HOUR - _MICROSECOND)
        return max(after, ticks[0]) if ticks else after
    tz = pipeline.schedule.tz
    if not schedule.cron and schedule.include is None:
        return local_instant(parsed.date + _DAY, _MIDNIGHT, tz)
    # A tick at local time L produces date(L + offset) == P, so L lies in this window.
    low = dt.datetime.combine(parsed.date, _MIDNIGHT) - schedule.period_offset
    if pipeline.granularity == Granularity.DAILY:
        wanted = daily_period(parsed.date)
        for tick in _ticks_near(pipeline, low, low + _DAY):
            if period_of_tick(pipeline, tick) == wanted:
                return tick
    return local_instant(low.date(), _MIDNIGHT, tz)


def schedule_date(pipeline: Pipeline, period: str) -> dt.date:
    """The schedule date of ``period``: the local date (``schedule.timezone``) of its
    schedule instant.

    Cron pipelines: the tick's local date; sensor-driven daily pipelines: the period + 1 day
    (T+1); hourly periods: the date of the hour after the period (H+1).

    Args:
        pipeline: the pipeline config.
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``.

    Returns:
        A date.

    Raises:
        ValueError: the period is invalid.
    """
    return schedule_instant(pipeline, period).astimezone(pipeline.schedule.tz).date()


def trigger_deadline_at(pipeline: Pipeline, period: str) -> dt.datetime | None:
    """When the window for the trigger condition of ``period`` closes.

    ``schedule.trigger.deadline`` read in ``schedule.timezone`` (else ``sla.timezone``, else
    UTC: ``Pipeline.trigger_tz``): ``HH:MM`` on the schedule date, ``:MM`` in the schedule
    hour (H+1 for hourly periods, or the opening tick when later); see :func:`next_deadline`
    for a deadline that would fall before the schedule instant.

    Args:
        pipeline: the pipeline config.
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``.

    Returns:
        An aware UTC datetime, or None when the pipeline has no trigger deadline.

    Raises:
        ValueError: the period is invalid.
    """
    trigger = pipeline.schedule.trigger
    if trigger is None or trigger.deadline is None:
        return None
    anchor = schedule_instant(pipeline, period)
    return next_deadline(anchor, trigger.deadline, pipeline.trigger_tz)


def evaluation_window_end(pipeline: Pipeline, period: str, opened_at: dt.datetime) -> dt.datetime:
    """When the gate of ``period``'s run stops being evaluated.

    ``opened_at + schedule.evaluation.window``, but never past the period's trigger deadline.
    A result at or before ``opened_at`` means the window was already closed.

    Args:
        pipeline: the pipeline config.
        period: the run's period.
        opened_at: when the run (or attempt) opened (aware).

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: ``opened_at`` is naive or the period is invalid.
    """
    end = _utc(opened_at, "opened_at") + pipeline.schedule.evaluation.window
    deadline = trigger_deadline_at(pipeline, period)
    return min(end, deadline) if deadline is not None else end
