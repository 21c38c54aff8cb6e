"""The watchdog and SLA checks (DESIGN.md §6): failures that come from something not happening.

Each check runs over every pipeline independently; one failing check never stops the others
(they are reported together as ``WATCHDOG_DEGRADED``). Period-scoped alerts are deduplicated
with store markers, so running the watchdog every minute — or from several processes — sends
each alert once.
"""

import contextvars
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable

from interlock_core import lifecycle, periods, schedule, sla
from interlock_core.config.durations import format_duration
from interlock_core.config.stored import ActiveConfig
from interlock_core.engine import Interlock, sensor_period
from interlock_core.events import Event, EventType
from interlock_core.isolation import record_failure
from interlock_core.lifecycle import EventDraft
from interlock_core.rules import evaluate_rule
from interlock_core.runs import Run, RunOrigin, RunStatus

log = logging.getLogger("interlock.watchdog")

# How far back the checks look for ticks, periods and sensors after downtime.
CATCH_UP = dt.timedelta(days=2)
# A run whose next step is this overdue has no controller advancing it.
STALE_GRACE = dt.timedelta(minutes=10)
ACTIVE = [RunStatus.SUBMITTING, RunStatus.RUNNING, RunStatus.CLAIMED]
# Within one watchdog pass: when each pipeline was applied (None outside a pass).
_APPLIED_SINCE: contextvars.ContextVar[dict[str, dt.datetime | None] | None] = (
    contextvars.ContextVar("applied_since", default=None)
)


def run_watchdog(engine: Interlock) -> list[Event]:
    """Run every check once; returns every event published."""
    now = engine.clock.now()
    configs = engine.active_configs()
    _reserve_tick_cache(len(configs))
    schedule.reserve_tick_cache(len(configs))
    # Every check of this pass asks when each pipeline was applied: read its markers once.
    token = _APPLIED_SINCE.set({})
    try:
        return _run_checks(engine, configs, now)
    finally:
        _APPLIED_SINCE.reset(token)


def _run_checks(engine: Interlock, configs: list[ActiveConfig], now: dt.datetime) -> list[Event]:
    checks: list[tuple[str, Callable[[Interlock, ActiveConfig, dt.datetime], list[Event]]]] = [
        ("scheduled-runs", check_scheduled_runs),
        ("trigger-recovery", check_trigger_recovery),
        ("trigger-deadlines", check_trigger_deadlines),
        ("post-run-sensors", check_post_run_sensors),
        ("sla", check_sla),
        ("relative-sla", check_relative_sla),
    ]
    published: list[Event] = []
    failed: list[str] = []
    try:
        published.extend(check_stale_runs(engine, now))
    except Exception:
        log.exception("watchdog check stale-runs failed")
        failed.append("stale-runs")
    try:
        engine.store.purge_expired_markers(now)  # alert-delivery markers expire after a week
    except Exception:
        log.exception("watchdog marker purge failed")
        failed.append("marker-purge")
    for name, check in checks:
        errors = 0
        for active in configs:
            try:
                published.extend(check(engine, active, now))
            except Exception as exc:
                # Recorded per pipeline (CONTROLLER_ERROR names it and the error); the
                # other pipelines and checks still run.
                record_failure(engine, active.pipeline.id, f"watchdog check {name}", exc)
                errors += 1
        if errors:
            failed.append(f"{name} ({errors} pipeline{'s' if errors > 1 else ''})")
    if failed:
        published.extend(
            engine.publish(
                EventType.WATCHDOG_DEGRADED,
                "",
                "watchdog checks failed: " + ", ".join(failed),
                detail={"failedChecks": failed},
            )
        )
    return published


def _since(engine: Interlock, pipeline_id: str, now: dt.datetime) -> dt.datetime:
    """Where catch-up starts: CATCH_UP ago, but never before the pipeline was first applied
    (nor before its return after a removal)."""
    memo = _APPLIED_SINCE.get()
    if memo is None:
        applied = engine.applied_since(pipeline_id)
    elif pipeline_id in memo:
        applied = memo[pipeline_id]
    else:
        applied = memo[pipeline_id] = engine.applied_since(pipeline_id)
    start = now - CATCH_UP
    if applied is not None and applied > start:
        start = applied
    return start


def _scheduled_before(active: ActiveConfig, period: str, since: dt.datetime) -> bool:
    """Whether the period's run was due before the pipeline was applied (or while it was
    removed): such a period gets no SLA, deadline or "not started" alert."""
    return schedule.schedule_instant(active.pipeline, period) < since


def check_scheduled_runs(
    engine: Interlock,
    active: ActiveConfig,
    now: dt.datetime,
    lookback: dt.timedelta | None = None,
) -> list[Event]:
    """Open the run of the latest due cron tick / inclusion date; alert the older missed ones.

    Args:
        engine: the engine.
        active: the pipeline's config.
        now: the check instant.
        lookback: how far back to look (default: the whole catch-up window). The runtime's
            every-tick call looks back minutes; the watchdog's catch-up looks back days.
    """
    pipeline = active.pipeline
    if not (pipeline.schedule.cron or pipeline.schedule.include):
        return []
    start = _since(engine, pipeline.id, now)
    if lookback is not None:
        start = max(start, now - lookback)
    by_period = _tick_periods(active, start, now)
    if not by_period:
        return []
    published: list[Event] = []
    latest_period = next(reversed(by_period))
    missed_type = (
        EventType.SCHEDULE_MISSED if pipeline.schedule.cron else EventType.IRREGULAR_SCHEDULE_MISSED
    )
    origin = RunOrigin.CRON if pipeline.schedule.cron else RunOrigin.INCLUSION
    for period, tick in by_period.items():
        run = engine.store.get_run(pipeline.id, period)
        if run is not None:
            if period == latest_period:  # only a dry run so far: it runs for real now
                engine.run_dry_period_for_real(active, run, now)
            continue
        if period == latest_period:
            engine.open_run(pipeline.id, period, origin)
            continue
        if pipeline.dry_run or schedule.is_excluded_period(pipeline, active.calendars, period):
            continue
        published.extend(
            engine.publish(
                missed_type,
                pipeline.id,
                f"the {tick.isoformat()} tick for {period} passed without a run",
                period=period,
                detail={
                    "cron": pipeline.schedule.cron,
                    "expectedTime": tick.isoformat(),
                    "actionHint": f"`interlock open {pipeline.id} {period}` opens it if needed",
                },
                dedup=f"{missed_type.value}#{period}",
            )
        )
    return published


def check_stale_runs(engine: Interlock, now: dt.datetime) -> list[Event]:
    """Runs submitting, running or claimed whose next step is long overdue."""
    published: list[Event] = []
    for run in engine.store.list_runs(None, ACTIVE, limit=1000):
        overdue = run.due_at is not None and run.due_at < now - STALE_GRACE
        past_poll = (
            run.status == RunStatus.RUNNING
            and run.poll_deadline is not None
            and now > run.poll_deadline + STALE_GRACE
        )
        if not (overdue or past_poll):
            continue
        published.extend(
            engine.publish(
                EventType.STALE_RUN,
                run.pipeline_id,
                f"{run.status.value} since {run.updated_at:%Y-%m-%d %H:%M}Z with no progress",
                period=run.period,
                attempt=run.attempt,
                detail={
                    "status": run.status.value,
                    "dueAt": _iso(run.due_at),
                    "source": "watchdog",
                },
                dedup=f"{EventType.STALE_RUN.value}#{run.period}#{run.attempt}",
            )
        )
    return published


def check_trigger_recovery(
    engine: Interlock, active: ActiveConfig, now: dt.datetime
) -> list[Event]:
    """A passing trigger sensor whose period has no run (its write was never processed)."""
    pipeline = active.pipeline
    trigger = pipeline.schedule.trigger
    if trigger is None or pipeline.schedule.cron or pipeline.schedule.include or pipeline.dry_run:
        return []
    published: list[Event] = []
    horizon = now - CATCH_UP
    for sensor in engine.store.get_sensors(pipeline.id).values():
        if not periods.trigger_key_matches(trigger.key, sensor.key):
            continue
        if sensor.written_at is not None and sensor.written_at < horizon:
            continue
        if not evaluate_rule(trigger, {trigger.key: sensor}, now).passed:
            continue
        # An undated sensor is for the period it was written in, not the current one: an old
        # "ready" must never open (and run) every later period.
        period = sensor_period(pipeline, sensor, sensor.written_at or now)
        if periods.parse_period(period).granularity != pipeline.granularity:
            continue  # names a period this pipeline never has (written before a config change)
        existing = engine.store.get_run(pipeline.id, period)
        if existing is not None:
            if period == schedule.current_period(pipeline, now):
                # Only a dry run so far and dryRun is now off: the current period runs for real.
                engine.run_dry_period_for_real(active, existing, now)
            continue
        announce = EventDraft(
            EventType.TRIGGER_RECOVERED,
            f"trigger sensor {sensor.key} passed with no run; opened {period}",
            {"source": "reconciliation", "sensorKey": sensor.key},
        )
        run = engine.open_run(
            pipeline.id,
            period,
            RunOrigin.RECOVERY,
            trigger_arrived_at=sensor.written_at,
            announce=announce,
        )
        if run is not None:
            published.extend(
                engine.events(pipeline.id, [EventType.TRIGGER_RECOVERED], since=now, period=period)
            )
    return published


def check_trigger_deadlines(
    engine: Interlock, active: ActiveConfig, now: dt.datetime
) -> list[Event]:
    """The trigger deadline passed without the trigger condition: close the period."""
    pipeline = active.pipeline
    trigger = pipeline.schedule.trigger
    if trigger is None or trigger.deadline is None or pipeline.dry_run:
        return []
    published: list[Event] = []
    since = _since(engine, pipeline.id, now)
    for period in _recent_periods(engine, active, now):
        deadline = schedule.trigger_deadline_at(pipeline, period)
        if deadline is None or now < deadline or deadline < since:
            continue
        if _scheduled_before(active, period, since):
            continue
        if schedule.is_excluded_period(pipeline, active.calendars, period):
            continue
        if engine.store.get_marker(
            pipeline.id, f"{EventType.SENSOR_DEADLINE_EXPIRED.value}#{period}"
        ):
            continue  # alerted already: spare the sensor read every pass
        run = engine.store.get_run(pipeline.id, period)
        if run is not None and (
            run.gate_passed_at is not None
            or run.succeeded_at is not None
            or run.status not in {RunStatus.WAITING, RunStatus.VALIDATION_EXHAUSTED}
        ):
            continue
        # A cron run's window ends at the deadline, so it may already be exhausted: what
        # matters is whether the trigger itself arrived for the period.
        view = periods.sensors_for_period(engine.store.get_sensors(pipeline.id), period)
        if evaluate_rule(trigger, view, now).passed:
            continue
        if run is None:
            # Record the period as closed (no RUN_OPENED: nothing opened), so a late trigger
            # reopens it exactly once.
            window_end = schedule.evaluation_window_end(pipeline, period, now)
            opened = lifecycle.open_run(
                pipeline, active.hash, period, RunOrigin.TRIGGER, now, window_end
            )
            engine.store.create_run(
                opened.evolve(
                    status=RunStatus.VALIDATION_EXHAUSTED,
                    next_action=None,
                    due_at=None,
                    finished_at=now,
                    message=f"trigger deadline {trigger.deadline} passed without a trigger",
                )
            )
        published.extend(
            engine.publish(
                EventType.SENSOR_DEADLINE_EXPIRED,
                pipeline.id,
                f"trigger {trigger.key} did not pass by its deadline {trigger.deadline}",
                period=period,
                detail={
                    "triggerDeadline": deadline.isoformat(),
                    "source": "watchdog",
                    "actionHint": "auto-trigger window closed — use `interlock rerun` to restart",
                },
                dedup=f"{EventType.SENSOR_DEADLINE_EXPIRED.value}#{period}",
            )
        )
    return published


def check_post_run_sensors(
    engine: Interlock, active: ActiveConfig, now: dt.datetime
) -> list[Event]:
    """Post-run sensors that did not arrive within ``sensorTimeout`` after a success."""
    pipeline = active.pipeline
    post_run = pipeline.post_run
    if post_run is None or not post_run.rules or pipeline.dry_run:
        return []
    published: list[Event] = []
    sensors = None
    for run in engine.store.list_runs(pipeline.id, [RunStatus.SUCCEEDED], limit=50):
        if run.succeeded_at is None or run.succeeded_at < now - CATCH_UP:
            continue
        if now < run.succeeded_at + post_run.sensor_timeout:
            continue
        sensors = sensors if sensors is not None else engine.store.get_sensors(pipeline.id)
        view = periods.sensors_for_period(sensors, run.period)
        keys = [rule.key for rule in post_run.rules]
        arrived = any(
            key in view
            and view[key].written_at is not None
            and view[key].written_at > run.succeeded_at  # type: ignore[operator]
            for key in keys
        )
        if arrived:
            continue
        published.extend(
            engine.publish(
                EventType.POST_RUN_SENSOR_MISSING,
                pipeline.id,
                f"no post-run sensor ({', '.join(keys)}) within "
                f"{format_duration(post_run.sensor_timeout)} of success",
                period=run.period,
                attempt=run.attempt,
                detail={"ruleKeys": ",".join(keys), "source": "watchdog"},
                dedup=f"{EventType.POST_RUN_SENSOR_MISSING.value}#{run.period}#{run.attempt}",
            )
        )
    return published


def check_sla(engine: Interlock, active: ActiveConfig, now: dt.datetime) -> list[Event]:
    """Absolute SLA warning and breach for recent periods — whether or not a run exists."""
    pipeline = active.pipeline
    if pipeline.sla is None or pipeline.sla.deadline is None or pipeline.dry_run:
        return []
    published: list[Event] = []
    first = _since(engine, pipeline.id, now)
    for period in _recent_periods(engine, active, now):
        deadlines = sla.absolute_deadlines(pipeline, period)
        if deadlines is None or deadlines.breach_at <= first:
            continue
        if _scheduled_before(active, period, first):
            continue
        if schedule.is_excluded_period(pipeline, active.calendars, period):
            continue
        run = engine.store.get_run(pipeline.id, period)
        if run is not None and run.succeeded_at is not None:
            continue  # delivered once: a later rerun does not un-meet the SLA
        if run is not None and _dry_run_result(run):
            continue  # watched again once it runs for real
        published.extend(
            _sla_alert(engine, pipeline.id, period, run, deadlines, now, relative=False)
        )
    return published


def check_relative_sla(engine: Interlock, active: ActiveConfig, now: dt.datetime) -> list[Event]:
    """``maxDuration`` since the first trigger sensor: warning at 75 % (or expectedDuration)."""
    pipeline = active.pipeline
    if pipeline.sla is None or pipeline.sla.max_duration is None or pipeline.dry_run:
        return []
    published: list[Event] = []
    for run in engine.store.list_runs(pipeline.id, None, limit=50):
        if run.trigger_arrived_at is None or run.succeeded_at is not None or _dry_run_result(run):
            continue
        if run.trigger_arrived_at < now - CATCH_UP:
            continue
        deadlines = sla.relative_deadlines(pipeline.sla, run.trigger_arrived_at)
        if deadlines is None:
            continue
        published.extend(
            _sla_alert(engine, pipeline.id, run.period, run, deadlines, now, relative=True)
        )
    return published


def _sla_alert(
    engine: Interlock,
    pipeline_id: str,
    period: str,
    run: Run | None,
    deadlines: sla.SlaDeadlines,
    now: dt.datetime,
    *,
    relative: bool,
) -> list[Event]:
    breach_type = EventType.RELATIVE_SLA_BREACH if relative else EventType.SLA_BREACH
    warning_type = EventType.RELATIVE_SLA_WARNING if relative else EventType.SLA_WARNING
    if run is None or (run.attempt == 1 and run.submitted_at is None and run.claimed_at is None):
        status = "not started"
        hint = "pipeline not started — check sensor data and the trigger"
    elif run.status in {RunStatus.RUNNING, RunStatus.SUBMITTING, RunStatus.CLAIMED}:
        status = run.status.value
        hint = "pipeline running — may complete before breach"
    else:
        status = run.status.value
        hint = f"pipeline {status.lower()} — investigate"
    detail = {
        "status": run.status.value if run is not None else "not started",
        "breachAt": deadlines.breach_at.isoformat(),
        "warningAt": _iso(deadlines.warning_at),
        "source": "watchdog",
        "actionHint": hint,
    }
    if now >= deadlines.breach_at:
        return engine.publish(
            breach_type,
            pipeline_id,
            f"SLA deadline {deadlines.breach_at:%Y-%m-%d %H:%M}Z passed ({status})",
            period=period,
            attempt=run.attempt if run else None,
            detail=detail,
            dedup=f"{breach_type.value}#{period}",
        )
    if deadlines.warning_at is not None and now >= deadlines.warning_at:
        return engine.publish(
            warning_type,
            pipeline_id,
            f"SLA deadline {deadlines.breach_at:%Y-%m-%d %H:%M}Z approaching ({status})",
            period=period,
            attempt=run.attempt if run else None,
            detail=detail,
            dedup=f"{warning_type.value}#{period}",
        )
    return []


def _recent_periods(engine: Interlock, active: ActiveConfig, now: dt.datetime) -> list[str]:
    """Periods whose deadlines may fall around now, oldest first.

    Scheduled pipelines: the periods of their ticks in the catch-up window — only periods a
    run was expected for (a weekday cron has no Saturday period to alert). Sensor-driven
    pipelines: the current period (from ``now``) and the few before it.
    """
    pipeline = active.pipeline
    if pipeline.schedule.cron or pipeline.schedule.include:
        return list(_tick_periods(active, _since(engine, pipeline.id, now), now))
    current = periods.parse_period(
        periods.period_at(now, pipeline.granularity, pipeline.schedule.tz)
    )
    if current.hour is None:
        return [(current.date - dt.timedelta(days=back)).isoformat() for back in (2, 1, 0)]
    start = current.start_utc
    return [periods.hourly_period(start - dt.timedelta(hours=back)) for back in (4, 3, 2, 1, 0)]


# Ticks by period per (pipeline, config, window), least recently used evicted first: every
# check of one watchdog pass asks for the same window, and a per-minute cron holds thousands
# of ticks. ``run_watchdog`` sizes it to the number of pipelines, so one pass's working set
# always fits (no cliff where every lookup misses). Entries never go stale: the key holds the
# config hash and the exact window.
_TICK_PERIODS: "OrderedDict[tuple[str, str, dt.datetime, dt.datetime], dict[str, dt.datetime]]"
_TICK_PERIODS = OrderedDict()
_TICK_CAPACITY = [1024]


def _reserve_tick_cache(pipelines: int) -> None:
    _TICK_CAPACITY[0] = max(_TICK_CAPACITY[0], 2 * pipelines + 64)


def _tick_periods(
    active: ActiveConfig, start: dt.datetime, now: dt.datetime
) -> dict[str, dt.datetime]:
    """The latest tick of each period with a tick in ``[start, now]``, oldest period first
    (ticks finer than the period — a per-minute cron of an hourly pipeline — share a run)."""
    key = (active.pipeline.id, active.hash, start, now)
    cached = _TICK_PERIODS.get(key)
    if cached is not None:
        _TICK_PERIODS.move_to_end(key)
        return cached
    # The tick exactly at first apply counts: open the interval a microsecond earlier.
    ticks = schedule.schedule_ticks(active.pipeline, start - dt.timedelta(microseconds=1), now)
    cached = {}
    for tick in ticks:
        cached[schedule.period_of_tick(active.pipeline, tick)] = tick
    _TICK_PERIODS[key] = cached
    while len(_TICK_PERIODS) > _TICK_CAPACITY[0]:
        _TICK_PERIODS.popitem(last=False)
    return cached


def _dry_run_result(run: Run) -> bool:
    """A period that so far only passed a dry run: no job ran, and no SLA is judged until it
    runs for real."""
    return run.dry_run and run.status == RunStatus.SUCCEEDED


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
