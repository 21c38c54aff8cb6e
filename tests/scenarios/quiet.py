"""When can a controller pass next do anything? Lets a scenario replay skip idle minutes.

A replay moves simulated time minute by minute and runs the controller each minute; most of
those minutes change nothing. After a pass that wrote nothing (``WriteCounter``), nothing can
happen again until an instant where something the engine looks at changes with time alone:

* a time stored on a run (``due_at``, ``poll_deadline``, ``claim_deadline``, ``succeeded_at``,
  ...), and the same plus the watchdog's stale grace;
* a cron or inclusion tick; the start of the pipeline's next period (a local midnight, or an
  hour, in each of its time zones), which moves the current and recent periods;
* a trigger deadline, an SLA warning or breach (absolute, of the periods around now, and
  relative, from a run's first trigger arrival), a post-run ``sensorTimeout``;
* a replay's own instants (an AWS execution's wake-up; the restart grace).

A trigger with an age check changes its answer at any instant, so a replay with one never
skips. ``next_wake`` errs early, never late: waking for nothing costs one pass, a missed
instant would change the replay. ``ScenarioPlayer(check_skips=True)`` proves it on every
scenario: it runs every minute and fails when a minute ``next_wake`` would have skipped wrote
anything.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from interlock_core import periods, schedule, sla
from interlock_core.engine import Interlock
from interlock_core.watchdog import STALE_GRACE

MINUTE = dt.timedelta(minutes=1)
QUARTER = dt.timedelta(minutes=15)
EPSILON = dt.timedelta(microseconds=1)
# Periods around now whose deadlines are looked at: wider than the watchdog's catch-up (2 days).
DAYS_AROUND = range(-4, 3)
HOURS_AROUND = range(-54, 3)
# Store methods that change something, by name; a call counts unless its answer says it
# changed nothing (False, 0, or None from a refused create/compare-and-set).
WRITE_PREFIXES = (
    "put_",
    "create_",
    "update_",
    "append_",
    "apply_",
    "remove_",
    "purge_",
    "delete_",
    "record_",
    "claim_",
    "release_",
    "set_",
)
NONE_MEANS_REFUSED = ("create_run", "update_run")


class WriteCounter:
    """Counts the calls that changed something on one store instance (wraps its methods)."""

    def __init__(self, store: Any) -> None:
        self.writes = 0
        for name in dir(type(store)):
            if name.startswith(WRITE_PREFIXES) and callable(getattr(store, name, None)):
                setattr(store, name, self._counting(name, getattr(store, name)))

    def _counting(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            refused = result is False or (isinstance(result, int) and result == 0)
            if result is None and name.startswith(NONE_MEANS_REFUSED):
                refused = True
            if not refused:
                self.writes += 1
            return result

        return counted


def _quarter_after(instant: dt.datetime) -> dt.datetime:
    floor = instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)
    return floor + QUARTER


def _next_period_starts(pipeline: Any, after: dt.datetime) -> Iterable[dt.datetime]:
    """The next local midnight (daily) or hour (hourly) after ``after`` in each of the
    pipeline's zones; every zone's offset is a multiple of a quarter hour."""
    hourly = str(getattr(pipeline.granularity, "value", pipeline.granularity)) == "hourly"
    zones = {dt.UTC, pipeline.schedule.tz, pipeline.trigger_tz}
    if pipeline.sla is not None:
        zones.add(pipeline.sla.tz)
    for zone in zones:
        instant = _quarter_after(after)
        for _ in range(4 * 26):
            local = instant.astimezone(zone)
            if local.minute == 0 and (hourly or local.hour == 0):
                yield instant
                break
            instant += QUARTER


def _periods_around(granularity: str, instant: dt.datetime) -> list[str]:
    if granularity == "hourly":
        start = instant.replace(minute=0, second=0, microsecond=0)
        return [periods.hourly_period(start + dt.timedelta(hours=h)) for h in HOURS_AROUND]
    return [periods.daily_period(instant.date() + dt.timedelta(days=d)) for d in DAYS_AROUND]


def _pipeline_instants(pipeline: Any, after: dt.datetime) -> Iterable[dt.datetime | None]:
    ticks = schedule.schedule_ticks(pipeline, after, after + dt.timedelta(days=2), limit=10**6)
    yield ticks[0] if ticks else None
    yield from _next_period_starts(pipeline, after)
    for period in _periods_around(str(getattr(pipeline.granularity, "value", "")), after):
        yield schedule.trigger_deadline_at(pipeline, period)
        deadlines = sla.absolute_deadlines(pipeline, period)
        if deadlines is not None:
            yield deadlines.warning_at
            yield deadlines.breach_at


def _run_instants(
    run: Any, pipeline: Any, graces: Iterable[dt.timedelta]
) -> Iterable[dt.datetime | None]:
    for value in run.model_dump().values():
        if isinstance(value, dt.datetime):
            yield value
            for grace in graces:
                yield value + grace
    if pipeline is None:
        return
    post_run = pipeline.post_run
    if post_run is not None and run.succeeded_at is not None:
        yield run.succeeded_at + post_run.sensor_timeout
    if run.trigger_arrived_at is not None:
        deadlines = sla.relative_deadlines(pipeline.sla, run.trigger_arrived_at)
        if deadlines is not None:
            yield deadlines.warning_at
            yield deadlines.breach_at


def next_wake(
    engine: Interlock,
    after: dt.datetime,
    extra: Iterable[dt.datetime | None] = (),
    graces: Iterable[dt.timedelta] = (),
) -> dt.datetime:
    """The earliest instant after ``after`` at which a controller pass may do anything, given
    that a pass at ``after`` did nothing and nothing was written since.

    Args:
        engine: the replay's engine (its store is read: configs and runs).
        after: the instant of the last pass, which wrote nothing.
        extra: the replay's own instants (executions waking up).
        graces: more delays after a run's instants that a replay's checks use (the AWS
            watchdog's restart grace); the watchdog's stale grace is always counted.

    Returns:
        An instant after ``after``: a pass before it would do nothing.
    """
    soonest = after + MINUTE  # a time-dependent trigger: every minute, as without skipping
    run_graces = [STALE_GRACE, *graces]
    candidates: list[dt.datetime | None] = [after + dt.timedelta(days=2), *extra]
    pipelines = {}
    for active in engine.active_configs():
        pipeline = active.pipeline
        pipelines[pipeline.id] = pipeline
        trigger = pipeline.schedule.trigger
        if trigger is not None and "age" in str(getattr(trigger.check, "value", trigger.check)):
            return soonest
        try:
            candidates.extend(_pipeline_instants(pipeline, after))
        except ValueError:  # more ticks than we care to list: do not skip
            return soonest
    for run in engine.store.list_runs(None, None, limit=None):
        candidates.extend(_run_instants(run, pipelines.get(run.pipeline_id), run_graces))
    # ``now > x`` checks fire just after x: wake at x and again just after it.
    later = [c for c in candidates if c is not None for c in (c, c + EPSILON) if c > after]
    return min(later)
