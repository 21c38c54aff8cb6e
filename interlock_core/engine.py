"""The application service every runtime and integration calls (DESIGN.md §1, §5).

``Interlock`` joins the Store, the JobRunners, a Clock and the alert sink, and executes what
the pure lifecycle decides. Every state change is a compare-and-set on the run's version, so
any number of controllers (threads, processes, Lambdas) can call it at once: whoever loses a
race simply drops its decision, and only the winner publishes events or submits a job.
"""

import dataclasses
import difflib
import logging
import math
import os
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from interlock_core import (
    lifecycle,
    opening,
    outcomes,
    periods,
    redaction,
    schedule,
    sla,
)
from interlock_core.alerts.base import AlertSink, NullAlerts
from interlock_core.clock import Clock, SystemClock
from interlock_core.config.errors import ConfigError
from interlock_core.config.jobs import JobType
from interlock_core.config.models import Pipeline
from interlock_core.config.stored import ActiveConfig, ConfigCache
from interlock_core.events import Event, EventType
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobRunner,
    JobState,
    JobStatus,
    RunContext,
    idempotency_token,
)
from interlock_core.lifecycle import ClaimRefused, EventDraft, Transition
from interlock_core.rules import Evaluation, evaluate_rule, evaluate_rule_list
from interlock_core.runs import NextAction, Run, RunOrigin, RunStatus
from interlock_core.sensors import (
    Sensor,
    SensorError,
    parse_number,
    validate_name,
    validate_sensor_data,
)
from interlock_core.storage.base import ConfigChange, Store

log = logging.getLogger("interlock.engine")

# How many lifecycle steps one ``advance`` call may take while the run stays due.
MAX_STEPS_PER_ADVANCE = 8
FIRST_APPLIED = "first-applied"
REAPPLIED = "reapplied"


class InterlockError(Exception):
    """A request the engine refuses (unknown pipeline, bad input); the message says why."""


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did: per-pipeline changes and the files that were invalid."""

    changes: list[ConfigChange]
    invalid: list[ConfigError]


@dataclasses.dataclass(frozen=True)
class Readiness:
    """The gate of one pipeline for one period, as ``evaluate`` reports it."""

    pipeline_id: str
    period: str
    evaluation: Evaluation
    run: Run | None
    excluded: str | None = None

    @property
    def ready(self) -> bool:
        """True when the gate passes and the period is not excluded."""
        return self.evaluation.passed and self.excluded is None


@dataclasses.dataclass(frozen=True)
class RerunResult:
    """The answer to a rerun request."""

    accepted: bool
    message: str
    run: Run | None


# Above this many unparsed configs ``active_configs`` lists every document in one read (a
# cold start, a batch of changes); one changed config is read alone.
_FETCH_ONE_BY_ONE = 1
# ... but only while there are at most this many configs: the listing holds every document
# decoded at once (~6 KB each; 60 MiB of a 10 000-pipeline controller's peak RSS), while
# single reads keep memory flat (10 000 of them: ~2.0 s against a 1.4 s listing, once per
# cold start).
_LIST_AT_MOST = 1_000


def default_controller_id() -> str:
    """``host:pid:random`` — unique per controller process."""
    import socket  # only a controller needs it; ``interlock emit`` does not (issue 13)

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Interlock:
    """The engine.

    Args:
        store: where configs, sensors, runs and events live.
        runners: job runners by job type (``command``, ``http``, …).
        clock: the source of ``now`` (a ``ManualClock`` in tests and simulations).
        alerts: receives every published event besides the event log.
        controller_id: identifies this controller in submit leases.
    """

    def __init__(
        self,
        store: Store,
        runners: Mapping[str, JobRunner] | None = None,
        clock: Clock | None = None,
        alerts: AlertSink | None = None,
        *,
        controller_id: str | None = None,
    ) -> None:
        self.store = store
        self.runners: dict[str, JobRunner] = dict(runners or {})
        self.clock: Clock = clock or SystemClock()
        self.alerts: AlertSink = alerts or NullAlerts()
        self.controller_id = controller_id or default_controller_id()
        self._configs = ConfigCache()
        # Secret values held while a group of runs is advanced (see ``hold_secrets``): those
        # of the environment (None: not held) and each pipeline's.
        self._held_env_secrets: list[str] | None = None
        self._held_secrets: dict[str, list[str]] = {}
        self._held_hashes: dict[str, set[str]] = {}  # the configs whose secrets are held

    # ------------------------------------------------------------------ configs

    def apply(
        self, pipeline_set: Any, *, partial: bool = False, remove_missing: bool = True
    ) -> ApplyResult:
        """Write a loaded directory of pipelines to the store.

        Args:
            pipeline_set: a ``PipelineSet`` from ``load_pipelines``.
            partial: False (``interlock apply``): any invalid file raises ConfigError and
                nothing is written. True (the automatic apply of ``--pipelines``): valid files
                are applied; an invalid file keeps its pipeline's last good config active
                and raises ``CONFIG_INVALID``.
            remove_missing: delete configs whose file is gone (``PIPELINE_REMOVED``).

        Raises:
            ConfigError: ``partial`` is False and some file is invalid.
        """
        from interlock_core import applying  # imports this module: loaded on first use

        return applying.apply_pipelines(
            self, pipeline_set, partial=partial, remove_missing=remove_missing
        )

    def applied_since(self, pipeline_id: str) -> datetime | None:
        """Since when a pipeline has been configured without a break: its first apply, or
        its latest return after a removal. Periods scheduled before it get no alerts."""
        marker = self.store.get_marker(pipeline_id, FIRST_APPLIED)
        if marker is None:
            return None
        since = marker.created_at
        for number in range(1, 1000):
            again = self.store.get_marker(pipeline_id, f"{REAPPLIED}#{number}")
            if again is None:
                break
            since = again.created_at
        return since

    def config(self, pipeline_id: str, config_hash: str | None = None) -> ActiveConfig | None:
        """The current config of a pipeline (or the version with ``config_hash``)."""
        if config_hash is not None:
            # Stored versions never change: one parsed before needs no store read.
            cached = self._configs.peek(pipeline_id, config_hash)
            if cached is not None:
                return cached
        stored = self.store.get_config(pipeline_id, config_hash)
        if stored is None:
            return None
        return self._configs.get(pipeline_id, stored.hash, stored.document)

    def pipeline_ids(self) -> list[str]:
        """Ids of every configured pipeline."""
        return list(self.store.config_hashes())

    def active_configs(self) -> list[ActiveConfig]:
        """Every current config, parsed, sorted by pipeline id.

        Lists only (pipeline id, hash) pairs; each version is read and parsed once per
        process (see :class:`ConfigCache`), so a pass over unchanged configs decodes nothing.
        """
        hashes = self.store.config_hashes()
        self._configs.reserve(len(hashes))
        missing = [pid for pid, h in hashes.items() if self._configs.peek(pid, h) is None]
        if len(missing) > _FETCH_ONE_BY_ONE and len(hashes) <= _LIST_AT_MOST:
            # Cold start or a large apply: one listing beats many single reads.
            # Each decoded document is dropped as soon as it is parsed, so the listing and
            # the parsed configs are not all held at once (the controller's peak memory).
            listed = self.store.list_configs()
            listed.reverse()
            while listed:
                stored = listed.pop()
                if hashes.get(stored.pipeline_id) == stored.hash:
                    self._configs.get(stored.pipeline_id, stored.hash, stored.document)
        configs: list[ActiveConfig] = []
        for pipeline_id, config_hash in hashes.items():
            active = self.config(pipeline_id, config_hash)
            if active is not None:  # removed since the listing
                configs.append(active)
        return configs

    @staticmethod
    def _normalize(period: str) -> str:
        """A period naming an existing run: normalised, in whatever granularity it has (a run
        opened before a config change keeps its period)."""
        try:
            return periods.normalize_period(period)
        except ValueError as exc:
            raise InterlockError(str(exc)) from exc

    def _period_for(self, pipeline: Pipeline, period: str) -> str:
        """A period from outside (CLI, adapters), normalised, in the pipeline's granularity.

        Raises:
            InterlockError: not a period, or a day for an hourly pipeline (or the reverse),
                which would open a run no schedule expects.
        """
        try:
            parsed = periods.parse_period(period)
        except ValueError as exc:
            raise InterlockError(str(exc)) from exc
        if parsed.granularity != pipeline.granularity:
            example = "2026-03-04T10" if pipeline.granularity.value == "hourly" else "2026-03-04"
            raise InterlockError(
                f"{pipeline.id} has {pipeline.granularity.value} periods, but {period!r} is "
                f"{parsed.granularity.value} (use a period like {example})"
            )
        return str(parsed)

    def _require_config(self, pipeline_id: str) -> ActiveConfig:
        active = self.config(pipeline_id)
        if active is None:
            close = difflib.get_close_matches(pipeline_id, self.pipeline_ids(), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise InterlockError(f"unknown pipeline {pipeline_id!r} (apply its config first{hint})")
        return active

    def _config_for(self, run: Run) -> ActiveConfig:
        """The config an attempt started with; the current one if that version is gone."""
        active = self.config(run.pipeline_id, run.config_hash) if run.config_hash else None
        return active or self._require_config(run.pipeline_id)

    # ------------------------------------------------------------------ sensors

    def emit(
        self,
        pipeline_id: str,
        key: str,
        data: Mapping[str, Any],
        period: str | None = None,
        *,
        allow_unknown: bool = False,
    ) -> Sensor:
        """Write a sensor and react to it (open a run, late data, post-run checks).

        Args:
            pipeline_id: the pipeline the sensor belongs to.
            key: the sensor key (may already carry a ``#<period>`` suffix).
            data: the JSON object to store (at most 64 KiB).
            period: when given, the sensor is written as ``key#<period>``.
            allow_unknown: accept a pipeline that has no config.

        Raises:
            SensorError: bad id, key, data, period, or a suffix/date disagreement.
            InterlockError: unknown pipeline.
        """
        validate_name("pipeline id", pipeline_id)
        validate_name("sensor key", key)
        document = validate_sensor_data(key, dict(data) if isinstance(data, Mapping) else data)
        if period is not None:
            try:
                key = f"{key}#{periods.normalize_period(period)}"
            except ValueError as exc:
                raise SensorError(str(exc)) from exc
            validate_name("sensor key", key)
        periods.check_sensor_write(key, document)
        active = self.config(pipeline_id)
        if not allow_unknown and active is None:
            raise InterlockError(
                f"unknown pipeline {pipeline_id!r}: apply its config first or pass --allow-unknown"
            )
        now = self.clock.now()
        if active is not None:
            _check_trigger_granularity(active.pipeline, key, document, now)
        granularity = active.pipeline.granularity if active is not None else None
        copy_key = periods.period_copy_key(key, document, now, granularity)
        if copy_key is not None:
            try:
                validate_name("sensor key", copy_key)  # before anything is written
            except SensorError as exc:
                raise SensorError(
                    f"sensor key {key!r}: its data names a period, so the write is also kept "
                    f"as {copy_key!r} ({len(copy_key)} characters), which is refused: {exc}; "
                    "use a shorter key"
                ) from exc
        sensor = self.store.put_sensor(pipeline_id, key, document, now)
        self.handle_sensor_write(pipeline_id, sensor)
        return sensor

    def emit_with_outcome(
        self,
        pipeline_id: str,
        key: str,
        data: Mapping[str, Any],
        period: str | None = None,
        *,
        allow_unknown: bool = False,
    ) -> outcomes.WriteOutcome:
        """``emit``, answering what the write did: opened a run, woke a waiting run, late
        data, post-run checks, or nothing (``interlock emit`` prints it).

        Raises:
            SensorError: as ``emit``.
            InterlockError: as ``emit``.
        """
        with outcomes.collecting() as handled:
            sensor = self.emit(pipeline_id, key, data, period, allow_unknown=allow_unknown)
        return outcomes.merge(pipeline_id, sensor, handled)

    def handle_sensor_write(self, pipeline_id: str, sensor: Sensor) -> outcomes.WriteOutcome:
        """React to a stored sensor write (also called by stream routers for raw writes).

        An unsuffixed write whose data names a period is first also kept as ``name#P``
        (DESIGN §4 "Each period keeps its own data"): hour 12's write replaces the unsuffixed
        document, never what hour 11's run (or a retry of hour 10) sees.

        Returns:
            What the write did (the runs it opened or woke, the events it published).
        """
        active = self.config(pipeline_id)
        schedule_ = active.pipeline.schedule if active is not None else None
        scheduled = bool(schedule_ and (schedule_.cron or schedule_.include))
        if self._is_own_period_copy(pipeline_id, sensor, active):
            # Already reacted to as the write it copies (a stream hands both over).
            return outcomes.WriteOutcome(pipeline_id, sensor, active is not None, scheduled, [], [])
        copy_key = periods.period_copy_key(
            sensor.key,
            sensor.data,
            sensor.written_at or self.clock.now(),
            active.pipeline.granularity if active is not None else None,
        )
        if copy_key is not None:
            try:
                validate_name("sensor key", copy_key)
            except SensorError:
                log.warning("%s: %s kept unsuffixed only (key too long)", pipeline_id, sensor.key)
            else:
                self.store.put_sensor(pipeline_id, copy_key, dict(sensor.data), self.clock.now())
        with outcomes.recording() as published:
            woke = self._react_to_sensor(active, sensor) if active is not None else []
        return outcomes.describe(
            pipeline_id,
            sensor,
            configured=active is not None,
            scheduled=scheduled,
            events=published,
            woke=woke,
            job_less=active is not None and active.pipeline.job is None,
        )

    def _react_to_sensor(self, active: ActiveConfig, sensor: Sensor) -> list[Run]:
        pipeline = active.pipeline
        now = self.clock.now()
        trigger = pipeline.schedule.trigger
        if trigger is not None and periods.trigger_key_matches(trigger.key, sensor.key):
            result = evaluate_rule(trigger, {trigger.key: sensor}, now)
            if result.passed:
                named = periods.named_period(sensor.key, sensor.data, now) is not None
                self._on_trigger(active, sensor_period(pipeline, sensor, now), now, named=named)
        if pipeline.post_run is not None and any(
            periods.trigger_key_matches(rule.key, sensor.key) for rule in pipeline.post_run.rules
        ):
            self._on_post_run_sensor(active, sensor, now)
        # The clock read again: a run opened above is due at its own (later) ``now`` and needs
        # no second write to make it due.
        return self.wake_waiting(pipeline.id, self.clock.now())

    def _is_own_period_copy(
        self, pipeline_id: str, sensor: Sensor, active: ActiveConfig | None
    ) -> bool:
        """Whether ``sensor`` is the ``name#P`` copy :meth:`handle_sensor_write` kept of an
        earlier write of ``name``: same data, written after it, under the key that write's
        data names."""
        name, suffix = periods.split_period_suffix(sensor.key)
        if suffix is None:
            return False
        original = self.store.get_sensors(pipeline_id).get(name)
        if original is None or original.version >= sensor.version or original.data != sensor.data:
            return False
        copy_key = periods.period_copy_key(
            name,
            original.data,
            original.written_at or self.clock.now(),
            active.pipeline.granularity if active is not None else None,
        )
        return copy_key == sensor.key

    def _on_trigger(
        self, active: ActiveConfig, period: str, now: datetime, *, named: bool = True
    ) -> None:
        pipeline = active.pipeline
        if periods.parse_period(period).granularity != pipeline.granularity:
            log.warning(
                "%s: trigger for %s ignored: not a %s period",
                pipeline.id,
                period,
                pipeline.granularity.value,
            )
            return
        scheduled = bool(pipeline.schedule.cron or pipeline.schedule.include)
        run = self.store.get_run(pipeline.id, period)
        if run is not None and self.run_dry_period_for_real(active, run, now) is not None:
            return
        finished = run is None or (run.is_terminal and run.status != RunStatus.VALIDATION_EXHAUSTED)
        if scheduled and not named and finished:
            # An undated "ready" written after the last tick's run finished is for the next
            # tick (upstream finished early), never late data that reruns the previous period.
            # (After an exhausted window it is that period's late trigger, handled below.)
            upcoming = schedule.next_period(pipeline, now)
            if upcoming is not None:
                self.store.put_marker(
                    pipeline.id, f"first-arrival#{upcoming}", now, {"arrivedAt": now.isoformat()}
                )
            return
        self.store.put_marker(
            pipeline.id, f"first-arrival#{period}", now, {"arrivedAt": now.isoformat()}
        )
        if run is None:
            if not scheduled:
                self.open_run(pipeline.id, period, RunOrigin.TRIGGER, trigger_arrived_at=now)
            return
        if run.trigger_arrived_at is None and run.status == RunStatus.WAITING:
            # Its relative SLA counts from this arrival. Only a WAITING run is touched here: a
            # version bump under a submit in flight would lose that submit's commit.
            self.store.update_run(run.evolve(trigger_arrived_at=now), run.version)
        if run.status == RunStatus.VALIDATION_EXHAUSTED:
            if self.store.put_marker(pipeline.id, f"late-trigger#{period}", now):
                reopened = lifecycle.new_attempt(
                    run,
                    pipeline,
                    active.hash,
                    RunOrigin.LATE_TRIGGER,
                    now,
                    _reopen_window(pipeline, now),
                )
                self._commit(
                    run,
                    Transition(
                        reopened,
                        [
                            EventDraft(
                                EventType.RUN_OPENED,
                                f"late trigger reopened {period} as attempt {reopened.attempt}",
                                {"origin": RunOrigin.LATE_TRIGGER.value},
                                attempt=reopened.attempt,
                            )
                        ],
                    ),
                    now,
                )
        elif run.status == RunStatus.SUCCEEDED and self.store.put_marker(
            pipeline.id, f"late-data#{period}#{run.attempt}", now
        ):
            if pipeline.dry_run:
                self._publish(
                    pipeline.id,
                    period,
                    run.attempt,
                    [
                        EventDraft(
                            EventType.DRY_RUN_LATE_DATA,
                            "dry run: the trigger passed again after the would-trigger",
                            {"lateBy": str(now - (run.finished_at or now))},
                        )
                    ],
                    now,
                )
                return
            self._publish(
                pipeline.id,
                period,
                run.attempt,
                [EventDraft(EventType.LATE_DATA_ARRIVAL, "trigger passed again after success")],
                now,
            )
            self._rerun(pipeline.id, period, "late-data", bypass_breaker=True)

    def run_dry_period_for_real(self, active: ActiveConfig, run: Run, now: datetime) -> Run | None:
        """A period that never ran for real runs now, as a new attempt, re-gated, with no
        budget spent: its gate passed in a dry run and dryRun is now off (a dry run is not a
        success), or its removal ended it before any job ran and the pipeline is back.

        Returns:
            The reopened run, or None when ``run`` is not such a period (or a race lost).
        """
        pipeline = active.pipeline
        if run.dry_run and run.status == RunStatus.SUCCEEDED and not pipeline.dry_run:
            reason = "dry-run-over"
            message = "dryRun is off: runs for real"
            why = "its earlier pass was a dry run"
        elif lifecycle.ended_by_removal(run):
            reason = "pipeline-reapplied"
            message = "the pipeline is applied again: runs again"
            why = "its removal ended it before any job ran"
        else:
            return None
        if periods.parse_period(run.period).granularity != pipeline.granularity:
            return None  # the config changed meanwhile: this pipeline no longer has the period
        if schedule.is_excluded_period(pipeline, active.calendars, run.period):
            return None  # now excluded: it opens no run
        reopened = lifecycle.new_attempt(
            run, pipeline, active.hash, RunOrigin.RERUN, now, _reopen_window(pipeline, now)
        ).evolve(succeeded_at=None, message=message)
        announce = EventDraft(
            EventType.RUN_OPENED,
            f"{message}: {run.period} as attempt {reopened.attempt} ({why}; no budget spent)",
            {"origin": RunOrigin.RERUN.value, "reason": reason},
            attempt=reopened.attempt,
        )
        return self._commit(run, Transition(reopened, [announce]), now)

    def _on_post_run_sensor(self, active: ActiveConfig, sensor: Sensor, now: datetime) -> None:
        pipeline = active.pipeline
        post_run = pipeline.post_run
        assert post_run is not None
        period = sensor_period(pipeline, sensor, now)
        run = self.store.get_run(pipeline.id, period)
        if run is None or run.status not in {RunStatus.SUCCEEDED, RunStatus.RUNNING}:
            return
        if self.run_dry_period_for_real(active, run, now) is not None:
            # No job ran for a dry run's pass: a post-run write is no drift of a success (nor
            # a reason for post-run verdicts), it is the period's next evaluation.
            return
        base_key, _ = periods.split_period_suffix(sensor.key)
        drift = _drift(
            run.baseline, base_key, sensor.data, post_run.drift_field, post_run.drift_threshold
        )
        if run.status == RunStatus.RUNNING:
            if drift is not None:
                self._publish(
                    pipeline.id,
                    period,
                    run.attempt,
                    [
                        EventDraft(
                            EventType.POST_RUN_DRIFT_INFLIGHT,
                            "post-run sensor drifted in flight",
                            drift,
                        )
                    ],
                    now,
                )
            return
        if drift is not None:
            drift_type = EventType.DRY_RUN_DRIFT if pipeline.dry_run else EventType.POST_RUN_DRIFT
            self._publish(
                pipeline.id,
                period,
                run.attempt,
                [
                    EventDraft(
                        drift_type,
                        f"{drift['driftField']} moved from {drift['previousCount']:g} to "
                        f"{drift['currentCount']:g} (threshold {drift['driftThreshold']:g})",
                        drift,
                    )
                ],
                now,
            )
            if not pipeline.dry_run:
                self._rerun(pipeline.id, period, "data-drift", bypass_breaker=False)
            return
        if pipeline.dry_run:  # a dry run only reports drift (Go §8.7), never real post-run events
            return
        view = periods.sensors_for_period(self.store.get_sensors(pipeline.id), period)
        evaluation = evaluate_rule_list(post_run.rules, "ALL", view, now)
        passed = evaluation.passed
        self._publish(
            pipeline.id,
            period,
            run.attempt,
            [
                EventDraft(
                    EventType.POST_RUN_PASSED if passed else EventType.POST_RUN_FAILED,
                    "post-run rules passed"
                    if passed
                    else "post-run rules failed: "
                    + "; ".join(lifecycle.failing_reasons(evaluation)),
                    {"results": [dataclasses.asdict(r) for r in evaluation.results]},
                )
            ],
            now,
        )

    def wake_waiting(self, pipeline_id: str, now: datetime) -> list[Run]:
        """Make WAITING runs of the pipeline due now, so a new sensor is evaluated at once
        (runtimes call it for sensors written without ``emit``); returns the runs that
        will be evaluated now (including those already due)."""
        woken: list[Run] = []
        for run in self.store.list_runs(pipeline_id, [RunStatus.WAITING], limit=50):
            if run.next_action != NextAction.EVALUATE or run.due_at is None:
                continue
            if run.due_at <= now:
                woken.append(run)
                continue
            updated = self.store.update_run(run.evolve(due_at=now), run.version)
            if updated is not None:
                woken.append(updated)
        return woken

    # ------------------------------------------------------------------ opening runs

    def open_run(
        self,
        pipeline_id: str,
        period: str | None = None,
        origin: RunOrigin = RunOrigin.MANUAL,
        *,
        trigger_arrived_at: datetime | None = None,
        announce: EventDraft | None = None,
        window_ends_at: datetime | None = None,
    ) -> Run | None:
        """Open the run of a period if none exists (calendar-excluded periods open none).

        ``window_ends_at`` overrides the end of the evaluation window (runs opened by hand).

        Returns:
            The new run; the existing run when one was already open; None when excluded.
        """
        active = self._require_config(pipeline_id)
        pipeline = active.pipeline
        now = self.clock.now()
        period = (
            self._period_for(pipeline, period) if period else schedule.current_period(pipeline, now)
        )
        existing = self.store.get_run(pipeline_id, period)
        if existing is not None:
            return existing
        excluded = schedule.is_excluded_period(pipeline, active.calendars, period)
        if excluded is not None:
            self._publish(
                pipeline_id,
                period,
                None,
                [
                    EventDraft(
                        EventType.PIPELINE_EXCLUDED,
                        f"{period} is excluded ({excluded}); no run opens",
                        {"reason": excluded},
                        dedup=f"{EventType.PIPELINE_EXCLUDED.value}#{period}",
                    )
                ],
                now,
            )
            return None
        if trigger_arrived_at is None and pipeline.schedule.trigger is not None:
            # The trigger may have arrived before the tick opened the run.
            arrival = self.store.get_marker(pipeline_id, f"first-arrival#{period}")
            trigger_arrived_at = arrival.created_at if arrival is not None else None
        window_end = window_ends_at or schedule.evaluation_window_end(pipeline, period, now)
        run = lifecycle.open_run(
            pipeline,
            active.hash,
            period,
            origin,
            now,
            window_end,
            trigger_arrived_at=trigger_arrived_at,
        )
        drafts = lifecycle.opened_events(run)
        if announce is not None:
            drafts.append(announce)
        events = self._events(pipeline_id, period, run.attempt, drafts, now)
        created = self.store.create_run_with_events(run, events.with_run)
        if created is None:
            return self.store.get_run(pipeline_id, period)
        self._publish_after(pipeline_id, events, now)
        return created

    def open_runs(
        self,
        pipeline_id: str,
        period: str | None = None,
        *,
        first: str | None = None,
        last: str | None = None,
    ) -> opening.OpenResult:
        """Open gated runs by hand for one period or the inclusive range ``first..last``
        (catch-up, backfill, "run today's now"), cron and sensor-driven pipelines alike.

        Each opens WAITING and submits only once its gate passes. Excluded periods and (in a
        range) periods no tick produces are skipped; periods that already have a run keep it.

        Args:
            pipeline_id: the pipeline.
            period: one period (default: the next tick's period once it has begun, else the
                current period).
            first: the first period of a range (with ``last``).
            last: the last period of a range (inclusive).

        Raises:
            InterlockError: unknown pipeline, a bad period or range, or a period that has not
                begun yet (nothing is opened then).
        """
        return opening.open_runs(self, pipeline_id, period, first=first, last=last)

    # ------------------------------------------------------------------ advancing

    def advance(self, pipeline_id: str, period: str) -> Run | None:
        """Take every lifecycle step that is due now for one run; returns the run after it."""
        return self._advance_from(self.store.get_run(pipeline_id, period), MAX_STEPS_PER_ADVANCE)

    def _advance_from(self, run: Run | None, steps: int) -> Run | None:
        """Take up to ``steps`` lifecycle steps while ``run`` (as stored) stays due now."""
        for _ in range(steps):
            if run is None or run.due_at is None or run.due_at > self.clock.now():
                return run
            stepped = self._step(run)
            if stepped is None:  # another controller moved it; leave it to them
                return self.store.get_run(run.pipeline_id, run.period)
            run = stepped
        return run

    def advance_due(self, limit: int = 100) -> int:
        """Advance every run that is due now; returns how many runs were advanced.

        Up to ``limit`` runs, oldest due first, with their writes grouped where a crash
        cannot lose or repeat a decision (see :mod:`interlock_core.advancing`).
        """
        from interlock_core import advancing  # imports this module: loaded on first use

        return advancing.advance_group(self, self.store.due_runs(self.clock.now(), limit))

    def step(self, run: Run) -> Run | None:
        """Take the one lifecycle step due for ``run`` (runtimes that drive each attempt step
        by step, like the AWS state machine); None when another controller moved it first."""
        return self._step(run)

    def _step(self, run: Run) -> Run | None:
        active = self._config_for(run)
        now = self.clock.now()
        if run.status == RunStatus.WAITING and run.next_action == NextAction.EVALUATE:
            return self._evaluate_waiting(run, active, now)
        if run.status == RunStatus.SUBMITTING:
            return self._resume_submit(run, active, now)
        if run.status == RunStatus.RUNNING and run.next_action == NextAction.POLL:
            return self._poll(run, active, now)
        if run.status == RunStatus.RUNNING and run.next_action == NextAction.CANCEL:
            return self._cancel(run, active, now)
        if run.status == RunStatus.CLAIMED and run.next_action == NextAction.CHECK_CLAIM:
            return self._commit(run, lifecycle.decide_stale_claim(run, now), now)
        # Nothing this controller can do: clear the due time so it is not picked up again.
        return self.store.update_run(run.evolve(due_at=None, next_action=None), run.version)

    def _sensor_view(self, pipeline_id: str, period: str) -> tuple[dict[str, Sensor], int]:
        sensors = self.store.get_sensors(pipeline_id)
        version = max((s.version for s in sensors.values()), default=0)
        return periods.sensors_for_period(sensors, period), version

    def _evaluate_waiting(self, run: Run, active: ActiveConfig, now: datetime) -> Run | None:
        before, transition, active = self._decide_waiting(run, active, now)
        stored = self._commit(before, transition, now)
        if stored is not None and stored.status == RunStatus.SUBMITTING:
            return self._submit(stored, active)
        return stored

    def _decide_waiting(
        self, run: Run, active: ActiveConfig, now: datetime
    ) -> tuple[Run, Transition, ActiveConfig]:
        """Evaluate a WAITING run's gate and decide; nothing is written.

        Returns:
            The run to compare-and-set against (``run``, with the config and trigger arrival
            it now follows), the transition, and the config a submit would use.
        """
        # Until its job is submitted an attempt follows the current config (gate, window,
        # job); it pins the config it submits with.
        current = self.config(run.pipeline_id)
        if current is None:  # the pipeline was removed: nothing new starts
            return run, lifecycle.decide_removed(run, now), active
        self._hold_secrets_of(current)
        if current.hash != run.config_hash:
            active = current
            run = run.evolve(config_hash=current.hash, dry_run=current.pipeline.dry_run)
        pipeline = active.pipeline
        if run.trigger_arrived_at is None and pipeline.schedule.trigger is not None:
            # The trigger may have arrived before this run opened (or while it was busy).
            arrival = self.store.get_marker(run.pipeline_id, f"first-arrival#{run.period}")
            if arrival is not None:
                run = run.evolve(trigger_arrived_at=arrival.created_at)
        view, version = self._sensor_view(run.pipeline_id, run.period)
        evaluation = lifecycle.evaluate_gate(pipeline, view, now)
        token = idempotency_token(run.pipeline_id, run.period, run.attempt)
        transition = lifecycle.decide_waiting(
            run,
            pipeline,
            evaluation,
            now,
            sensor_version=version,
            controller=self.controller_id,
            token=token,
        )
        if (
            pipeline.dry_run
            and transition.run is not None
            and transition.run.status == RunStatus.SUCCEEDED
        ):
            transition = Transition(
                transition.run,
                [
                    *transition.events,
                    *self._dry_run_events(active, run, len(evaluation.results), now),
                ],
            )
        return run, transition, active

    def _dry_run_events(
        self, active: ActiveConfig, run: Run, rules: int, now: datetime
    ) -> list[EventDraft]:
        stamp = now.isoformat()
        drafts = [
            EventDraft(
                EventType.DRY_RUN_WOULD_TRIGGER,
                f"dry run: the gate passed; the job would have been triggered for {run.period}",
                {"triggeredAt": stamp, "rulesEvaluated": rules},
            )
        ]
        projection = sla.dry_run_projection(active.pipeline, run.period, now)
        sla_status = "n/a"
        if projection:
            sla_status = str(projection.get("status", "n/a"))
            drafts.append(
                EventDraft(
                    EventType.DRY_RUN_SLA_PROJECTION,
                    f"dry run: SLA projection {sla_status}",
                    projection,
                )
            )
        drafts.append(
            EventDraft(
                EventType.DRY_RUN_COMPLETED,
                f"dry run complete for {run.period} (SLA {sla_status})",
                {"triggeredAt": stamp, "slaStatus": sla_status},
            )
        )
        return drafts

    def _resume_submit(self, run: Run, active: ActiveConfig, now: datetime) -> Run | None:
        if run.lease_owner is not None:
            if run.lease_expires_at is not None and run.lease_expires_at > now:
                return None  # another controller is submitting right now
            transition = lifecycle.decide_expired_lease(
                run,
                active.pipeline,
                target_dedups=self._dedups(active) and not _leased_on_another_host(run, active),
                controller=self.controller_id,
                now=now,
            )
            stored = self._commit(run, transition, now)
            if stored is None or stored.status != RunStatus.SUBMITTING:
                return stored
            return self._submit(stored, active)
        # A backoff retry after an infrastructure error: take the lease, then submit — unless
        # the pipeline was removed meanwhile (no job started yet, so none starts now).
        if self.config(run.pipeline_id) is None:
            return self._commit(run, lifecycle.decide_removed(run, now), now)
        lease = lifecycle.submit_lease(active.pipeline)
        leased = self.store.update_run(
            run.evolve(
                lease_owner=self.controller_id,
                lease_expires_at=now + lease,
                due_at=now + lease,
                updated_at=now,
            ),
            run.version,
        )
        return self._submit(leased, active) if leased is not None else None

    def _submit(self, run: Run, active: ActiveConfig) -> Run | None:
        transition, now = self._submit_transition(run, active)
        return self._commit(run, transition, now)

    def _submit_transition(self, run: Run, active: ActiveConfig) -> tuple[Transition, datetime]:
        """Submit the job of a SUBMITTING run this controller holds the lease of; returns what
        was decided (RUNNING, a retry, a failure…) and when, not yet written."""
        pipeline = active.pipeline
        job = pipeline.job
        assert job is not None and job.type is not None and job.config is not None
        token = run.token or idempotency_token(run.pipeline_id, run.period, run.attempt)
        runner = self.runners.get(job.type.value)
        context = RunContext(run.pipeline_id, run.period, run.attempt)
        if self.config(run.pipeline_id) is None:
            # Removed after this controller read the config (its removal found no WAITING run
            # to end): no job has started, so none starts now.
            now = self.clock.now()
            return lifecycle.decide_removed(run, now), now
        try:
            if runner is None:
                raise JobError(
                    f"no runner for job type {job.type.value!r}", FailureCategory.PERMANENT
                )
            handle = runner.submit(job.config, context, token)
        except JobError as exc:
            category, message, started = exc.category, str(exc), exc.may_have_started
        except Exception as exc:  # a runner bug must not wedge the run: treat as infrastructure
            log.exception("submit of %s %s raised", run.pipeline_id, run.period)
            category, message, started = FailureCategory.TRANSIENT, repr(exc), True
        else:
            now = self.clock.now()
            # The retry count matters only to a job that finished inside its submit.
            used = 0 if handle.result is None else self._retries_used(run)
            return lifecycle.decide_submitted(run, pipeline, handle, now, used), now
        now = self.clock.now()
        transition = lifecycle.decide_submit_error(
            run,
            pipeline,
            category,
            message,
            now,
            self._retries_used(run),
            may_have_started=started,
            target_dedups=self._dedups(active),
        )
        return transition, now

    def _handle(self, run: Run) -> JobHandle:
        return JobHandle(run.job_run_id or "", dict(run.job_metadata))

    def _runner_for(self, active: ActiveConfig) -> JobRunner | None:
        job = active.pipeline.job
        return self.runners.get(job.type.value) if job and job.type else None

    def _dedups(self, active: ActiveConfig) -> bool:
        """Whether the job's target deduplicates a repeated submit on the attempt token."""
        return bool(getattr(self._runner_for(active), "dedups_on_token", False))

    def _poll(self, run: Run, active: ActiveConfig, now: datetime) -> Run | None:
        runner = self._runner_for(active)
        try:
            if runner is None:
                raise JobError("no runner for this job type")
            status = runner.status(self._handle(run))
        except Exception as exc:
            log.warning("status of %s %s failed: %s", run.pipeline_id, run.period, exc)
            return self._commit(
                run, lifecycle.decide_poll_error(run, active.pipeline, str(exc), now), now
            )
        now = self.clock.now()
        return self._commit(
            run,
            lifecycle.decide_job_status(run, active.pipeline, status, now, self._retries_used(run)),
            now,
        )

    def _cancel(self, run: Run, active: ActiveConfig, now: datetime) -> Run | None:
        """Cancel a job past its poll window — unless it finished in the meantime.

        Targets confirm a cancel of a job that is already over, so the job's own status is read
        before and after the cancel: a job that succeeded at the last moment is a success (not
        a timeout to retry, which would run it twice), one that failed is that failure.
        """
        runner = self._runner_for(active)
        handle = self._handle(run)
        finished = self._finished_status(runner, handle)
        confirmed = False
        if finished is None:
            try:
                confirmed = runner.cancel(handle) if runner is not None else False
            except Exception as exc:
                log.warning("cancel of %s %s failed: %s", run.pipeline_id, run.period, exc)
            if confirmed:
                after = self._finished_status(runner, handle)
                if after is not None and after.state == JobState.SUCCEEDED:
                    finished = after
        now = self.clock.now()
        used = self._retries_used(run)
        if finished is not None:
            transition = lifecycle.decide_job_status(run, active.pipeline, finished, now, used)
        else:
            transition = lifecycle.decide_cancelled(run, active.pipeline, confirmed, now, used)
        return self._commit(run, transition, now)

    def _finished_status(self, runner: JobRunner | None, handle: JobHandle) -> JobStatus | None:
        """The job's status if the target says it is over, else None (running or unknown)."""
        if runner is None:
            return None
        try:
            status = runner.status(handle)
        except Exception:
            return None
        return None if status.state == JobState.RUNNING else status

    def _retries_used(self, run: Run) -> int:
        return self.store.count_reruns(run.pipeline_id, run.period, [lifecycle.RETRY_REASON])

    # ------------------------------------------------------------------ claims

    def claim(self, pipeline_id: str, period: str | None, owner: str) -> Run:
        """An external orchestrator claims the job-less run of a period.

        Opens the run if none exists, evaluates the gate and moves it to CLAIMED for
        ``owner``. Claiming again with the same owner is a no-op.

        Raises:
            ClaimRefused: the pipeline has a job, the gate fails, or another owner holds it.
        """
        active = self._require_config(pipeline_id)
        pipeline = active.pipeline
        if pipeline.has_job:
            raise ClaimRefused(
                f"{pipeline_id} has a job; wait for its SUCCEEDED instead of claiming it"
            )
        for _ in range(5):
            now = self.clock.now()
            resolved = (
                self._period_for(pipeline, period)
                if period
                else schedule.current_period(pipeline, now)
            )
            view, _ = self._sensor_view(pipeline_id, resolved)
            evaluation = lifecycle.evaluate_gate(pipeline, view, now)
            run = self.store.get_run(pipeline_id, resolved)
            if run is None:
                # A refused claim leaves nothing behind: a run opens only for a passing gate.
                if not evaluation.passed:
                    raise ClaimRefused(
                        f"gate not ready for {pipeline_id} {resolved}: "
                        + "; ".join(lifecycle.failing_reasons(evaluation))
                    )
                run = self.open_run(pipeline_id, resolved, RunOrigin.TRIGGER)
                if run is None:
                    raise ClaimRefused(f"{pipeline_id} {resolved} is excluded by the calendar")
            transition = lifecycle.decide_claim(run, pipeline, owner, evaluation, now)
            if transition.run is None:
                return run
            stored = self._commit(run, transition, now)
            if stored is not None:
                return stored
        raise ClaimRefused(f"{pipeline_id} {period}: too much contention, try again")

    def report(
        self,
        pipeline_id: str,
        period: str,
        outcome: str,
        owner: str | None = None,
        message: str = "",
        *,
        force: bool = False,
    ) -> Run:
        """The claim owner reports ``success`` or ``failed`` for its run.

        Args:
            pipeline_id: the pipeline.
            period: the claimed run's period.
            outcome: ``success`` or ``failed``.
            owner: the reporting owner; None for an operator.
            message: a note for the run record.
            force: an operator (no ``owner``) reports over another owner's live claim; the
                event records it.

        Raises:
            ClaimRefused: the run is not claimed, claimed by another owner, or an operator
                reports a live claim without ``force``.
            InterlockError: there is no such run.
        """
        period = self._normalize(period)  # no config needed: an owner reports its live claim
        for _ in range(5):
            run = self.store.get_run(pipeline_id, period)
            if run is None:
                raise InterlockError(
                    f"no run for {pipeline_id} {period} (a job-less run is claimed first: "
                    "`interlock claim`)"
                )
            now = self.clock.now()
            stored = self._commit(
                run, lifecycle.decide_report(run, outcome, owner, now, message, force=force), now
            )
            if stored is not None:
                return stored
        raise InterlockError(f"{pipeline_id} {period}: too much contention, try again")

    # ------------------------------------------------------------------ reruns, resolve

    def request_rerun(
        self, pipeline_id: str, period: str, reason: str = "manual", *, force: bool = False
    ) -> RerunResult:
        """Reopen a finished run as a new attempt, within the budget of its reason.

        Args:
            pipeline_id: the pipeline.
            period: the period to rerun.
            reason: why; each reason string has its own ``maxManualReruns`` budget.
            force: rerun a success even though no sensor changed since (the operator fixed
                the job, not the data); the budget still applies.

        Raises:
            InterlockError: unknown pipeline, bad period or a reserved reason.
        """
        if reason in lifecycle.RESERVED_REASONS:
            raise InterlockError(
                f"the rerun reason {reason!r} is reserved for Interlock itself; use another"
            )
        return self._rerun(pipeline_id, period, reason, bypass_breaker=force, force=force)

    def _rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        *,
        bypass_breaker: bool,
        force: bool = False,
    ) -> RerunResult:
        active = self._require_config(pipeline_id)
        pipeline = active.pipeline
        period = self._normalize(period)
        if not reason or len(reason) > 100:
            raise InterlockError("a rerun needs a reason of 1-100 characters")
        run = self.store.get_run(pipeline_id, period)
        if run is None:
            return RerunResult(False, f"no run for {pipeline_id} {period}", None)
        now = self.clock.now()
        unconfirmed = self._previous_job_unconfirmed(run)
        if unconfirmed is not None and not force:
            message = (
                f"rerun ({reason}) refused: {unconfirmed}; a new attempt could run beside it. "
                "Check the target, then rerun with --force (or resolve the run)"
            )
            self._publish(
                pipeline_id,
                period,
                run.attempt,
                [EventDraft(EventType.RERUN_REJECTED, message, {"reason": reason})],
                now,
            )
            return RerunResult(False, message, run)
        budget, counted = lifecycle.rerun_budget(pipeline, reason)
        # A dry run's pass is not a success, but its rerun circuit breaker counts from it.
        passed_at = run.succeeded_at or (run.finished_at if run.dry_run else None)
        fresh = passed_at is not None and any(
            s.written_at is not None and s.written_at > passed_at
            for s in periods.sensors_for_period(
                self.store.get_sensors(pipeline_id), period
            ).values()
        )
        facts = lifecycle.RerunFacts(
            used=self.store.count_reruns(pipeline_id, period, counted),
            budget=budget,
            excluded_reason=schedule.is_excluded_period(pipeline, active.calendars, period),
            fresh_sensor_since_success=fresh,
            bypass_circuit_breaker=bypass_breaker,
        )
        transition = lifecycle.decide_rerun(
            run, pipeline, reason, facts, now, active.hash, _reopen_window(pipeline, now)
        )
        if unconfirmed is not None and transition.run is not None:
            transition = _forced(transition, unconfirmed)
        elif force and transition.run is not None and transition.events:
            # An operator's --force (past the circuit breaker) stays on the record.
            first = transition.events[0]
            transition = Transition(
                transition.run,
                [
                    dataclasses.replace(first, detail={**first.detail, "forced": True}),
                    *transition.events[1:],
                ],
                transition.ledger,
            )
        if transition.run is None:
            self._publish(pipeline_id, period, run.attempt, transition.events, now)
            message = transition.events[0].message if transition.events else "refused"
            accepted = (
                bool(transition.events)
                and transition.events[0].type == EventType.DRY_RUN_WOULD_RERUN
            )
            return RerunResult(accepted, message, run)
        stored = self._commit(run, transition, now)
        if stored is None:
            return RerunResult(False, "the run changed while the rerun was decided; try again", run)
        return RerunResult(True, transition.events[0].message, stored)

    def resolve(
        self,
        pipeline_id: str,
        period: str,
        resolution: str,
        note: str = "",
        *,
        force: bool = False,
    ) -> Run:
        """An operator ends an UNCERTAIN (or stuck) run: ``succeeded``, ``failed`` or ``retry``.

        A ``retry`` of a TIMED_OUT or UNCERTAIN run first asks the job's runner whether the
        previous job ended; when it cannot confirm that, the retry is refused unless ``force``
        (recorded in the RUN_RESOLVED event).

        Raises:
            InterlockError: no such run, it cannot be resolved, or a retry could run beside a
                job that may still be running.
        """
        active = self._require_config(pipeline_id)
        period = self._normalize(period)
        run = self.store.get_run(pipeline_id, period)
        if run is None:
            raise InterlockError(f"no run for {pipeline_id} {period}")
        now = self.clock.now()
        claim = _live_claim(run, now)
        if claim is not None and not force:
            raise InterlockError(
                f"resolve --{resolution} refused for {pipeline_id} {period}: {claim}. Let the "
                "owner report, wait for the claim to time out, or resolve with --force"
            )
        unconfirmed = self._resolve_retry_unconfirmed(run, now) if resolution == "retry" else None
        if unconfirmed is not None and not force:
            raise InterlockError(
                f"resolve --retry refused for {pipeline_id} {period}: {unconfirmed}; a new "
                "attempt could run beside it. Check the target, then resolve with --succeeded "
                "or --failed, or --retry --force"
            )
        unconfirmed = unconfirmed or claim
        window_end = _reopen_window(active.pipeline, now)
        try:
            transition = lifecycle.decide_resolve(
                run, active.pipeline, resolution, now, active.hash, window_end, note
            )
        except ValueError as exc:
            raise InterlockError(str(exc)) from exc
        if unconfirmed is not None:
            transition = _forced(transition, unconfirmed)
        stored = self._commit(run, transition, now)
        if stored is None:
            raise InterlockError(f"{pipeline_id} {period} changed while resolving; try again")
        return stored

    def _resolve_retry_unconfirmed(self, run: Run, now: datetime) -> str | None:
        """Why a ``resolve --retry`` could start a job beside one that may still run: a submit
        cut off when its controller's lease expired (the job may have started, and a retry
        gets a new token), or what :meth:`_previous_job_unconfirmed` says."""
        if run.status == RunStatus.SUBMITTING and (
            run.lease_expires_at is None or run.lease_expires_at <= now
        ):
            return (
                f"the submit of attempt {run.attempt} was cut off (the lease of "
                f"{run.lease_owner or 'its controller'} expired), so its job may have started"
            )
        return self._previous_job_unconfirmed(run)

    def _previous_job_unconfirmed(self, run: Run) -> str | None:
        """Why the job of a TIMED_OUT or UNCERTAIN run may still be running (its runner is
        asked), or None when it is known to have ended — or the run never had a job."""
        if run.status not in {RunStatus.TIMED_OUT, RunStatus.UNCERTAIN}:
            return None
        active = self._config_for(run)
        job = active.pipeline.job
        if not active.pipeline.has_job or job is None or job.type is None:
            return None  # a claim: its owner reports (late) on its own
        if not run.job_run_id:
            return (
                f"no job id was recorded for attempt {run.attempt} (its submit may have "
                "started a job), so the runner cannot be asked whether it ended"
            )
        runner = self._runner_for(active)
        if runner is None:
            return f"no {job.type.value} runner here to ask whether job {run.job_run_id} ended"
        try:
            status = runner.status(self._handle(run))
        except Exception as exc:
            return (
                f"the {job.type.value} runner could not tell whether job {run.job_run_id} "
                f"ended ({exc})"
            )
        if status.state == JobState.RUNNING:
            return f"job {run.job_run_id} is still running according to the {job.type.value} runner"
        return None

    # ------------------------------------------------------------------ reading

    def evaluate(
        self, pipeline_id: str, period: str | None = None, at: datetime | None = None
    ) -> Readiness:
        """Evaluate a pipeline's gate for a period (default: the current period); no writes."""
        active = self._require_config(pipeline_id)
        pipeline = active.pipeline
        now = at or self.clock.now()
        resolved = (
            self._period_for(pipeline, period) if period else schedule.current_period(pipeline, now)
        )
        view, _ = self._sensor_view(pipeline_id, resolved)
        evaluation = lifecycle.evaluate_gate(pipeline, view, now)
        excluded = schedule.is_excluded_period(pipeline, active.calendars, resolved)
        return Readiness(
            pipeline_id, resolved, evaluation, self.store.get_run(pipeline_id, resolved), excluded
        )

    def status(self, pipeline_id: str | None = None, limit: int | None = None) -> list[Run]:
        """Run records (newest period first), optionally for one pipeline."""
        return self.store.list_runs(pipeline_id, None, limit)

    def run(self, pipeline_id: str, period: str) -> Run | None:
        """The run of one period, or None."""
        return self.store.get_run(pipeline_id, periods.normalize_period(period))

    def events(
        self,
        pipeline_id: str | None = None,
        types: Collection[EventType] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        period: str | None = None,
        after_id: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events from the log, oldest first."""
        return self.store.query_events(pipeline_id, types, since, until, period, after_id, limit)

    def watchdog(self) -> list[Event]:
        """Run every watchdog and SLA check once; returns the events they published."""
        from interlock_core.watchdog import run_watchdog

        return run_watchdog(self)

    # ------------------------------------------------------------------ committing

    def _commit(self, before: Run, transition: Transition, now: datetime) -> Run | None:
        """Write the transition (compare-and-set), then the ledger and events; None if lost."""
        if transition.run is None:
            self._publish(before.pipeline_id, before.period, before.attempt, transition.events, now)
            return before
        write = self._prepare_write(before, transition, now)
        stored = self.store.update_run_with_events(write.run, before.version, write.events.with_run)
        if stored is None:
            return None
        self._after_write(stored, write, now)
        return stored

    def _prepare_write(self, before: Run, transition: Transition, now: datetime) -> "_RunWrite":
        """Everything :meth:`_commit` writes for a transition that changes the run: the new
        run, its events (those that commit with it and those published after) and ledger."""
        assert transition.run is not None
        run = transition.run
        if run.attempt > before.attempt:
            # A new attempt (retry, rerun, late trigger) starts with the current config.
            current = self.config(run.pipeline_id)
            if current is not None:
                run = run.evolve(config_hash=current.hash, dry_run=current.pipeline.dry_run)
            else:  # the pipeline was removed: no new attempt starts, the failure is final
                removed = lifecycle.decide_removed(before, now)
                assert removed.run is not None
                run = removed.run.evolve(failure_category=run.failure_category)
                kept = [d for d in transition.events if d.type != EventType.RETRY_SCHEDULED]
                transition = Transition(run, [*kept, *removed.events])
        drafts = list(transition.events)
        if run.status == RunStatus.SUCCEEDED and before.status != RunStatus.SUCCEEDED:
            run, extra = self._on_success(run, now, first=before.succeeded_at is None)
            drafts.extend(extra)
        if run.message:  # job messages may echo credentials (a 401 body): never stored
            secrets = self._secrets(run.pipeline_id)
            run = run.evolve(message=redaction.redact(run.message, secrets))
        events = self._events(before.pipeline_id, before.period, before.attempt, drafts, now)
        return _RunWrite(before, run, events, list(transition.ledger))

    def _after_write(self, stored: Run, write: "_RunWrite", now: datetime) -> None:
        """After a run write won: the rerun ledger, then the deduplicated events and alerts."""
        for reason in write.ledger:
            self.store.append_rerun(
                stored.pipeline_id, stored.period, reason, now, {"attempt": write.before.attempt}
            )
        self._publish_after(stored.pipeline_id, write.events, now)

    def _secrets(self, pipeline_id: str) -> list[str]:
        """Secret values a pipeline's messages must not carry: secret-looking variables and
        every variable its job sends (``tokenEnv`` and the like, ``$INTERLOCK_*`` references)."""
        held = self._held_secrets.get(pipeline_id) if self._held_env_secrets is not None else None
        if held is not None:
            return held
        return self._secrets_of(pipeline_id, self.config(pipeline_id) if pipeline_id else None)

    def _secrets_of(self, pipeline_id: str, active: ActiveConfig | None) -> list[str]:
        """:meth:`_secrets` with the pipeline's current config ``active`` read already."""
        job = active.pipeline.job if active is not None else None
        names = redaction.job_credential_names(job.config) if job is not None else set()
        extra = [os.environ.get(name, "") for name in sorted(names)]
        held = self._held_env_secrets
        if held is None:
            return redaction.secret_values(extra=extra)
        # The same values as below, without scanning the environment again.
        found = self._held_secrets[pipeline_id] = redaction.secret_values({}, [*held, *extra])
        return found

    def _hold_secrets_of(self, current: ActiveConfig) -> None:
        """While secrets are held, find a pipeline's from its ``current`` config, just read
        (saves reading it again for the first write that redacts with them).

        A config applied while the group is worked on may send other variables: its values
        are added to those held, never swapped for them (runs decided with the older config
        are still to be written)."""
        pipeline_id = current.pipeline.id
        if self._held_env_secrets is None:
            return
        seen = self._held_hashes.setdefault(pipeline_id, set())
        if current.hash in seen:
            return
        seen.add(current.hash)
        before = self._held_secrets.pop(pipeline_id, [])
        found = self._secrets_of(pipeline_id, current)
        if before:
            self._held_secrets[pipeline_id] = redaction.secret_values({}, [*before, *found])

    def hold_secrets(self, hold: bool) -> None:
        """Find secret values once per pipeline and reuse them until released (``False``).

        Every run write redacts its events with them; scanning the environment and reading
        the pipeline's config again for each write took a fifth of the time of advancing a
        run. The advance path holds them while it works through one group of due runs (a
        fraction of a second), so a variable or job config changed meanwhile counts from the
        next group on.
        """
        self._held_env_secrets = redaction.secret_values() if hold else None
        self._held_secrets = {}
        self._held_hashes = {}

    def _on_success(
        self, run: Run, now: datetime, *, first: bool = True
    ) -> tuple[Run, list[EventDraft]]:
        """Post-success work decided with the success: the baseline, and — for the period's
        first success only — the SLA verdict (a rerun does not re-judge a delivered period)."""
        active = self._config_for(run)
        pipeline = active.pipeline
        drafts: list[EventDraft] = []
        post_run = pipeline.post_run
        if post_run is not None and post_run.rules:
            view, _ = self._sensor_view(run.pipeline_id, run.period)
            baseline = {
                rule.key: dict(view[rule.key].data) for rule in post_run.rules if rule.key in view
            }
            if baseline:
                run = run.evolve(baseline=baseline)
                drafts.append(
                    EventDraft(
                        EventType.POST_RUN_BASELINE_CAPTURED,
                        f"post-run baseline captured ({', '.join(sorted(baseline))})",
                        {"keys": sorted(baseline)},
                    )
                )
        if run.dry_run or not first:  # dry runs got their SLA projection at would-trigger
            return run, drafts
        deadlines = self._sla_deadlines(active, run)
        if deadlines is not None:
            verdict = sla.completion_verdict(deadlines, now)
            event_type = EventType(verdict)
            drafts.append(
                EventDraft(
                    event_type,
                    f"finished {'before' if verdict == 'SLA_MET' else 'after'} the SLA deadline "
                    f"{deadlines.breach_at:%Y-%m-%d %H:%M}Z",
                    {"breachAt": deadlines.breach_at.isoformat(), "completedAt": now.isoformat()},
                    dedup=f"{event_type.value}#{run.period}",
                )
            )
        return run, drafts

    def _sla_deadlines(self, active: ActiveConfig, run: Run) -> "sla.SlaDeadlines | None":
        pipeline = active.pipeline
        if pipeline.sla is None:
            return None
        if pipeline.sla.max_duration is not None and run.trigger_arrived_at is not None:
            relative = sla.relative_deadlines(pipeline.sla, run.trigger_arrived_at)
            if relative is not None:
                return relative
        return sla.absolute_deadlines(pipeline, run.period)

    def _events(
        self,
        pipeline_id: str,
        period: str | None,
        attempt: int | None,
        drafts: list[EventDraft],
        now: datetime,
    ) -> "_RunEvents":
        """Events for a run write: those without a dedup marker commit with the write (one
        transaction where the store can); deduplicated ones are published after it, but keep
        their place in the log because their ids are taken here, in draft order."""
        events = _RunEvents()
        secrets = self._secrets(pipeline_id) if drafts else []
        for draft in drafts:
            about = draft.attempt if draft.attempt is not None else attempt
            message = redaction.redact(draft.message, secrets)
            detail = redaction.redact_values(dict(draft.detail), secrets)
            event = Event(draft.type, pipeline_id, period, about, now, message, detail)
            if draft.dedup is None:
                events.with_run.append(event)
            else:
                events.deduplicated.append((draft.dedup, event))
        return events

    def _publish_after(self, pipeline_id: str, events: "_RunEvents", now: datetime) -> None:
        """After a run write won: publish the deduplicated events, alert on all of them."""
        later = [
            event
            for marker, event in events.deduplicated
            if self.store.put_marker(pipeline_id, marker, now)
        ]
        if later:
            self.store.append_events(later)
        self._alert(sorted([*events.with_run, *later], key=lambda event: event.id))

    def _publish(
        self,
        pipeline_id: str,
        period: str | None,
        attempt: int | None,
        drafts: list[EventDraft],
        now: datetime,
    ) -> list[Event]:
        events: list[Event] = []
        secrets = self._secrets(pipeline_id) if drafts else []
        for draft in drafts:
            if draft.dedup is not None and not self.store.put_marker(pipeline_id, draft.dedup, now):
                continue
            about = draft.attempt if draft.attempt is not None else attempt
            message = redaction.redact(draft.message, secrets)
            detail = redaction.redact_values(dict(draft.detail), secrets)
            events.append(Event(draft.type, pipeline_id, period, about, now, message, detail))
        if not events:
            return events
        self.store.append_events(events)
        self._alert(events)
        return events

    def _alert(self, events: list[Event]) -> None:
        # Every published event passes here (with a run's write or after it): what a sensor
        # write did is read off them (``emit``'s outcome).
        outcomes.record(events)
        for event in events:
            try:
                self.alerts.publish(event)
            except Exception:  # an alert channel never blocks the lifecycle
                log.exception("alert sink failed for %s", event.type)

    def publish(
        self,
        event_type: EventType,
        pipeline_id: str,
        message: str,
        *,
        period: str | None = None,
        attempt: int | None = None,
        detail: dict[str, Any] | None = None,
        dedup: str | None = None,
    ) -> list[Event]:
        """Publish one event (for the watchdog, runtimes and adapters)."""
        draft = EventDraft(event_type, message, dict(detail or {}), dedup)
        return self._publish(pipeline_id, period, attempt, [draft], self.clock.now())


@dataclasses.dataclass
class _RunEvents:
    """The events of one run write, split by how they are committed (see ``_events``)."""

    with_run: list[Event] = dataclasses.field(default_factory=list)
    deduplicated: list[tuple[str, Event]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _RunWrite:
    """One run write prepared by ``_prepare_write``: the compare-and-set of ``run`` against
    ``before``'s version with ``events.with_run``, then ``ledger`` and the rest of ``events``."""

    before: Run
    run: Run
    events: _RunEvents
    ledger: list[str]


def _check_trigger_granularity(
    pipeline: Pipeline, key: str, data: dict[str, Any], now: datetime
) -> None:
    """A trigger sensor naming a day for an hourly pipeline (or an hour for a daily one) would
    open a run no schedule expects: refuse the write."""
    trigger = pipeline.schedule.trigger
    if trigger is None or not periods.trigger_key_matches(trigger.key, key):
        return
    named = periods.named_period(key, data, now)
    if named is None:
        return
    granularity = periods.parse_period(named).granularity
    if granularity != pipeline.granularity:
        hint = "add hour=HH (a UTC hour)" if pipeline.granularity.value == "hourly" else ""
        raise SensorError(
            f"trigger sensor {key!r} names the {granularity.value} period {named}, but "
            f"{pipeline.id} has {pipeline.granularity.value} periods"
            + (f": {hint}" if hint else "")
        )


def _leased_on_another_host(run: Run, active: ActiveConfig) -> bool:
    """Whether a command job's expired lease was held by a controller on another machine.

    A command job deduplicates on its token through the state file of the machine that
    started it: a controller elsewhere (a shared PostgreSQL store) finds no such file and
    would start the job again. Controller ids are ``host:pid:random``; an id of another
    form names no host, and is taken to be of this one."""
    import socket  # only a lease resume needs it (see ``default_controller_id``)

    job = active.pipeline.job
    owner = run.lease_owner or ""
    if job is None or job.type != JobType.COMMAND or ":" not in owner:
        return False
    return owner.split(":", 1)[0] != socket.gethostname()


def _live_claim(run: Run, now: datetime) -> str | None:
    """Why an operator must not resolve around a run: another owner holds a live claim (it
    is still working and reports itself), as ``report`` without the owner refuses."""
    if run.status != RunStatus.CLAIMED:
        return None
    if run.claim_deadline is not None and run.claim_deadline <= now:
        return None
    until = f" (until {run.claim_deadline:%Y-%m-%d %H:%M}Z)" if run.claim_deadline else ""
    return f"it is claimed by {run.owner}, whose claim is live{until}"


def _forced(transition: Transition, unconfirmed: str) -> Transition:
    """The transition with its first event recording that ``--force`` overrode the check
    that the previous job ended."""
    if not transition.events:
        return transition
    first = transition.events[0]
    recorded = dataclasses.replace(
        first,
        message=f"{first.message} (--force: {unconfirmed})",
        detail={**first.detail, "forced": True, "previousJobUnconfirmed": unconfirmed},
    )
    return Transition(transition.run, [recorded, *transition.events[1:]], transition.ledger)


def _reopen_window(pipeline: Pipeline, now: datetime) -> datetime:
    """The evaluation window of a reopened period (late trigger, rerun, resolve --retry): a full
    window from now. The trigger deadline only bounds a period's first opening — a reopen after
    it would otherwise get a window that closed before it began."""
    return now + pipeline.schedule.evaluation.window


def sensor_period(pipeline: Pipeline, sensor: Sensor, at: datetime) -> str:
    """The period a sensor write is for: the one it names (key suffix, ``date``/``hour``), else
    the pipeline's current period at ``at`` — for a cron pipeline the last tick's period (which
    honours ``periodOffset``), else today's local date or the current UTC hour."""
    named = periods.named_period(sensor.key, sensor.data, at)
    return named if named is not None else schedule.current_period(pipeline, at)


def _drift(
    baseline: dict[str, Any] | None,
    key: str,
    data: dict[str, Any],
    field: str,
    threshold: float,
) -> dict[str, Any] | None:
    """The drift of ``data[field]`` from the baseline of ``key``, or None (Go's DetectDrift)."""
    if not baseline or key not in baseline or not isinstance(baseline[key], dict):
        return None
    previous = _finite_number(baseline[key].get(field))
    current = _finite_number(data.get(field))
    if previous is None or current is None or abs(current - previous) <= threshold:
        return None
    return {
        "previousCount": previous,
        "currentCount": current,
        "delta": current - previous,
        "driftThreshold": threshold,
        "driftField": field,
        "sensorKey": key,
    }


def _finite_number(value: Any) -> float | None:
    number = parse_number(value)
    return float(number) if number is not None and math.isfinite(number) else None
