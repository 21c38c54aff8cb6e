"""The local runtime: ``interlock run``, the controller loop on the embedded SQLite store.

One loop does everything a deployment needs without AWS: it keeps the Store's configs in step
with the pipelines directory (file by file; a broken file keeps its last good config), opens
runs on cron ticks, advances due runs (evaluations, submits, polls, cancels) — a local
``command`` job that ended is recorded within a pass, not at its next poll — runs the
watchdog and SLA checks every minute, and stops cleanly on SIGINT/SIGTERM. Every step goes
through the engine's compare-and-set, so several ``interlock run`` processes on one store are
safe, and a restart simply picks the runs up where the store says they are.
"""

import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TextIO

from interlock_core.advancing import advance_every_due
from interlock_core.alerts.log import ALERT_LOGGER
from interlock_core.applying import load_changed
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import Event, EventType

# Re-exported: AlertForwarder lived here, and callers import it from this module.
from interlock_core.forwarding import AlertForwarder as AlertForwarder
from interlock_core.isolation import isolated, record_failure
from interlock_core.jobs.policy import load_job_policy
from interlock_core.local_engine import DEFAULT_STORE as DEFAULT_STORE
from interlock_core.local_engine import build_engine as build_engine
from interlock_core.local_engine import settings_path as settings_path
from interlock_core.local_engine import state_dir_for as state_dir_for
from interlock_core.local_jobs import wake_finished_local_jobs
from interlock_core.process_guard import protect_controller
from interlock_core.redaction import printable
from interlock_core.scheduled_openings import ScheduledOpenings
from interlock_core.storage import redact_url
from interlock_core.storage.sqlite import SQLiteStore, check_controller_database

log = logging.getLogger("interlock.runtime")

# Every pass opens ticks this recent; the minute watchdog does the long catch-up.
SCHEDULE_LOOKBACK = timedelta(minutes=10)


class ConsoleEvents:
    """Prints one line per event: what an operator watching ``interlock run`` sees."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """Print ``event``."""
        where = event.pipeline_id or "interlock"
        if event.period:
            where += f" {event.period}"
        line = f"{event.at:%Y-%m-%d %H:%M:%S}Z  {event.type.value:<26} {where}  {event.message}"
        # File names and job output reach messages: no raw ESC or newline on the terminal.
        line = printable(line)
        with self._lock:
            print(line, file=self.stream, flush=True)


@dataclass
class CycleReport:
    """What one pass of the loop did."""

    applied: list[str] = field(default_factory=list)
    advanced: int = 0
    watchdog_events: int = 0
    forwarded: int = 0


class PipelineWatcher:
    """Re-applies the pipelines directory when any of its files changes."""

    def __init__(self, engine: Interlock, directory: Path) -> None:
        self.engine = engine
        self.directory = directory
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Names, sizes and modification times of every config file.

        One ``scandir`` per folder and one ``stat`` per file (no ``Path`` objects): at 10 000
        files this runs every ``sync_every`` seconds.
        """
        entries: list[tuple[str, int, int]] = []
        for root in (
            self.directory,
            self.directory / "calendars",
            self.directory.parent / "calendars",
        ):
            try:
                with os.scandir(root) as scan:
                    found = sorted(scan, key=lambda entry: entry.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in found:
                if os.path.splitext(entry.name)[1] in (".yaml", ".yml") and entry.is_file():
                    stat = entry.stat()
                    entries.append((entry.path, stat.st_size, stat.st_mtime_ns))
        return tuple(entries)

    def sync(self) -> list[str]:
        """Apply the directory if it changed since the last sync; returns change lines."""
        fingerprint = self.fingerprint()
        if fingerprint == self._fingerprint:
            return []
        self._fingerprint = fingerprint
        # Only the files that changed since they produced the stored configs are validated.
        pipeline_set = load_changed(self.engine, self.directory)
        try:
            result = self.engine.apply(pipeline_set, partial=True)
        except InterlockError as exc:  # e.g. the directory emptied: keep what is configured
            return [f"not applied: {exc}"]
        lines = [f"{c.pipeline_id}: {c.action}" for c in result.changes if c.action != "unchanged"]
        lines += [f"invalid: {error}" for error in result.invalid]
        # As `interlock apply` prints them: a file that loads with warnings shows them again on
        # every re-apply (such files are always validated again).
        lines += [f"warning: {warning}" for warning in pipeline_set.warnings]
        return lines


class LocalRuntime:
    """The controller loop.

    Args:
        engine: the engine to drive.
        pipelines_dir: the directory to apply and watch (None: use the store's configs).
        tick: seconds between passes (due runs are picked up within one tick).
        watchdog_every: how often the watchdog and SLA checks run.
        sync_every: how often the pipelines directory is checked for changes.
        sleep: how the loop waits (tests pass a fake).
        forwarder: forwards the event log to the console and the alert channels.
    """

    def __init__(
        self,
        engine: Interlock,
        pipelines_dir: Path | None = None,
        *,
        tick: float = 0.25,
        watchdog_every: timedelta = timedelta(minutes=1),
        sync_every: float = 2.0,
        sleep: Callable[[float], None] | None = None,
        forwarder: AlertForwarder | None = None,
    ) -> None:
        self.engine = engine
        self.forwarder = forwarder
        self.watcher = PipelineWatcher(engine, pipelines_dir) if pipelines_dir else None
        self.tick = tick
        self.watchdog_every = watchdog_every
        self.sync_every = sync_every
        self.stop_event = threading.Event()
        # Set by a stop request and by the store's sensor-write notifications (PostgreSQL's
        # NOTIFY), so the loop wakes at once; stores that cannot notify are polled each tick.
        self.wake_event = threading.Event()
        self._sleep = sleep or self._wait
        self._last_watchdog: float | None = None
        self._last_sync: float | None = None
        self._sensor_versions: dict[str, int] = {}
        self._openings: ScheduledOpenings | None = None

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Ask the loop to stop after the current pass (signal handler)."""
        self.stop_event.set()
        self.wake_event.set()

    def _wait(self, seconds: float) -> None:
        self.wake_event.wait(seconds)
        self.wake_event.clear()

    def _on_sensor_write(self, pipeline_id: str) -> None:
        self.wake_event.set()

    def run_once(self, *, force_checks: bool = False) -> CycleReport:
        """One pass: sync configs, open scheduled runs, advance what is due, watchdog."""
        report = CycleReport()
        monotonic = time.monotonic()
        if self.watcher is not None and (
            force_checks
            or self._last_sync is None
            or monotonic - self._last_sync >= self.sync_every
        ):
            self._last_sync = monotonic
            watcher = self.watcher
            _, applied = isolated(self.engine, "", "pipelines sync", watcher.sync)
            report.applied = applied or []
        # Each phase is isolated (and inside them every pipeline and run): a failure is
        # recorded as a CONTROLLER_ERROR event and the rest of the pass still happens.
        isolated(self.engine, "", "sensor check", self._nudge_on_new_sensors)
        isolated(self.engine, "", "local job check", self._wake_finished_local_jobs)
        due_watchdog = (
            force_checks
            or self._last_watchdog is None
            or monotonic - self._last_watchdog >= self.watchdog_every.total_seconds()
        )
        report.advanced += self._advance_all()
        if due_watchdog:
            self._last_watchdog = monotonic
            checked_at = self.engine.clock.now()
            # The versions the watchdog is about to check: a config changed while it runs
            # was not checked, so it must not be indexed as checked.
            _, hashes = isolated(
                self.engine, "", "indexing cron ticks", self.engine.store.config_hashes
            )
            _, events = isolated(self.engine, "", "watchdog", self.engine.watchdog)
            report.watchdog_events = len(events or [])
            if hashes is not None:
                isolated(
                    self.engine, "", "indexing cron ticks", lambda: self._seed(hashes, checked_at)
                )
        else:
            # Cron ticks must open on time, not once a minute: that check is cheap.
            self._open_scheduled()
        report.advanced += self._advance_all()
        if self.forwarder is not None:
            _, forwarded = isolated(self.engine, "", "alert forwarding", self.forwarder.pump)
            report.forwarded = forwarded or 0
        return report

    def _advance_all(self) -> int:
        """Advance every due run, oldest due first, until none is due (or a stop request).

        No cap: a backlog of thousands is worked off in this pass, in batches. A run that is
        still due after being advanced this pass (a step that leaves it due) waits for the
        next pass, so the loop always ends."""
        _, advanced = isolated(
            self.engine,
            "",
            "advance",
            lambda: advance_every_due(self.engine, stop=self.stop_event.is_set),
        )
        return advanced or 0

    def _scheduled_openings(self) -> ScheduledOpenings:
        if self._openings is None:
            self._openings = ScheduledOpenings(self.engine)
        return self._openings

    def _seed(self, hashes: dict[str, str], checked_at: datetime) -> None:
        """The watchdog just checked every pipeline (at the ``hashes`` read before it): index
        their next ticks from there, so the next pass need not check them all again."""
        self._scheduled_openings().seed(hashes, checked_at)

    def _open_scheduled(self) -> None:
        """Open the runs of the cron ticks that passed since the last pass: only pipelines
        whose next tick has come (or whose config changed) are looked at."""
        from interlock_core.watchdog import check_scheduled_runs

        openings = self._scheduled_openings()
        now = self.engine.clock.now()
        hashes = self.engine.store.config_hashes()
        for active in openings.due(now, hashes):
            try:
                check_scheduled_runs(self.engine, active, now, lookback=SCHEDULE_LOOKBACK)
            except Exception as exc:
                record_failure(self.engine, active.pipeline.id, "opening scheduled runs", exc)
                openings.checked(active, now, ok=False)
            else:
                openings.checked(active, now, ok=True)

    def _wake_finished_local_jobs(self) -> None:
        """A local command job that ended is recorded this pass, not at its next poll."""
        wake_finished_local_jobs(self.engine, self.engine.clock.now())

    def _nudge_on_new_sensors(self) -> None:
        """Sensors written straight into the store (not through ``emit``) still wake the
        WAITING runs of their pipeline."""
        versions = self.engine.store.sensor_versions()
        for pipeline_id, version in versions.items():
            if self._sensor_versions.get(pipeline_id, 0) < version:
                if pipeline_id in self._sensor_versions:
                    wake = functools.partial(
                        self.engine.wake_waiting, pipeline_id, self.engine.clock.now()
                    )
                    isolated(self.engine, pipeline_id, "waking waiting runs", wake)
                self._sensor_versions[pipeline_id] = version

    def run_forever(self, on_cycle: Callable[[CycleReport], None] | None = None) -> None:
        """Loop until :meth:`request_stop` (or SIGINT/SIGTERM when installed)."""
        unsubscribe = self.engine.store.subscribe_sensor_writes(self._on_sensor_write)
        try:
            self._loop(on_cycle)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    def _loop(self, on_cycle: Callable[[CycleReport], None] | None) -> None:
        while not self.stop_event.is_set():
            try:
                report = self.run_once()
            except Exception:
                # One bad pass (a locked database, a bug) must not kill the controller.
                log.exception("controller pass failed")
                report = CycleReport()
            if on_cycle is not None:
                on_cycle(report)
            if self.stop_event.is_set():
                break
            self._sleep(self.tick)


def _install_signals(runtime: LocalRuntime) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, runtime.request_stop)


def _one_copy_of_each_alert() -> None:
    """The console prints every event once. Unless logging is set up, the ``log`` alert
    channel's lines would reach stderr too, through logging's last-resort handler: a second
    copy of each alerted event. They go to logging's handlers only when there are some."""
    alert_logger = logging.getLogger(ALERT_LOGGER)
    if logging.getLogger().handlers or alert_logger.handlers:
        return
    alert_logger.addHandler(logging.NullHandler())


def run_local(
    store_url: str = DEFAULT_STORE,
    pipelines_dir: str | Path | None = None,
    *,
    once: bool = False,
    tick: float = 0.25,
    stream: TextIO | None = None,
) -> int:
    """``interlock run``: the local controller. Returns the process exit code.

    Args:
        store_url: the store to control.
        pipelines_dir: the pipelines directory to apply and watch (and its ``interlock.yaml``
            alert routing).
        once: process everything due now (and the watchdog) and exit.
        tick: seconds between passes.
        stream: where event lines are printed (stdout by default).
    """
    from interlock_core.alerts import AlertDispatcher, alert_config_path, load_alert_config
    from interlock_core.alerts.slack import default_thread_store

    out = stream or sys.stdout
    _one_copy_of_each_alert()
    # The controller's environment holds the operator's secrets: not readable via /proc.
    protect_controller()
    directory = Path(pipelines_dir) if pipelines_dir else None
    config_path = alert_config_path(directory) if directory else None
    alert_config = load_alert_config(
        config_path if config_path is not None and config_path.exists() else None, os.environ
    )
    holder: dict[str, Interlock] = {}

    def dead_letter(event: Event, reason: str) -> None:
        engine = holder.get("engine")
        if engine is not None and event.type != EventType.ALERT_DEAD_LETTERED:
            engine.publish(
                EventType.ALERT_DEAD_LETTERED,
                event.pipeline_id,
                f"alert {event.type.value} not delivered: {reason}",
                period=event.period,
                detail={"eventId": event.id, "reason": reason},
            )

    dispatcher = AlertDispatcher(
        alert_config,
        on_dead_letter=dead_letter,
        thread_store=default_thread_store(store_url),
        autostart=not once,
    )
    # Alerts come from the event log (see AlertForwarder), not from this engine's publishes.
    engine = build_engine(
        store_url,
        policy=load_job_policy(
            config_path if config_path is not None and config_path.exists() else None
        ),
    )
    if isinstance(engine.store, SQLiteStore):  # the controller starts what the file says
        check_controller_database(engine.store.path)
    holder["engine"] = engine
    forwarder = AlertForwarder(engine, ConsoleEvents(out), dispatcher)
    runtime = LocalRuntime(engine, directory, tick=tick, forwarder=forwarder)
    print(
        f"interlock: controlling {redact_url(store_url)}"
        + (f" with pipelines from {directory}" if directory else "")
        + f" as {engine.controller_id}",
        file=out,
        flush=True,
    )
    try:
        if once:
            report = runtime.run_once(force_checks=True)
            for line in report.applied:
                print(f"interlock: {printable(line)}", file=out, flush=True)
            dispatcher.deliver_now()
            return 0
        _install_signals(runtime)

        def show(report: CycleReport) -> None:
            for line in report.applied:
                print(f"interlock: {printable(line)}", file=out, flush=True)

        runtime.run_forever(show)
        print("interlock: stopping (polls resume on the next start)", file=out, flush=True)
        return 0
    finally:
        dispatcher.close(timeout=5.0)
        engine.store.close()
