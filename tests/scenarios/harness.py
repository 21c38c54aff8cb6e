"""Plays scenario files (timeline -> expected events and final run states) against an engine.

A scenario is data, so every runtime can replay the same files: this harness drives the
engine the way the local runtime does (``advance_due`` + ``watchdog`` each simulated minute);
the AWS runtime's harness drives the state machine instead.

File format (YAML)::

    name: happy path
    start: 2026-03-04T07:00:00Z
    pipelines: {<id>: <pipeline document>}
    calendars: {<name>: <calendar document>}       # optional
    jobs:                                           # scripted job behaviour per pipeline
      <id>:
        - {submit: ok, statuses: [running, succeeded]}   # attempt 1
        - {submit: error, category: TRANSIENT}           # attempt 2 ...
    steps:
      - emit: {pipeline: p, key: k, data: {...}, period: 2026-03-04}
      - emit: {..., controller: false}   # no controller pass after it (a write lands first)
      - pass: {}           # one controller pass
      - wait: 10m          # move the clock minute by minute, running the controller each minute
      - at: 2026-03-04T09:00:00Z   # same, up to an instant
      - expect: [RUN_OPENED, VALIDATION_PASSED]    # event types since the last expect, in order
      - expect_run: {pipeline: p, period: 2026-03-04, status: RUNNING, attempt: 1}
      - rerun: {pipeline: p, period: 2026-03-04, reason: manual, accepted: true, force: false}
      - claim / report / resolve (each with accepted: and force:) / apply (new documents) ...
      - remove: [p]        # p's file is deleted: the others are applied with removal
      - expect_event: {type: RUN_CLAIMED, attempt: 2, detail: {owner: x}}  # latest of a type
    final:
      runs: {"p/2026-03-04": SUCCEEDED}
      submissions: {p: 1}
"""

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interlock_core.clock import ManualClock
from interlock_core.config.calendars import Calendar
from interlock_core.config.durations import parse_duration
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock, InterlockError
from interlock_core.events import EventType
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
)
from interlock_core.lifecycle import ClaimRefused
from interlock_core.storage import open_store
from tests.scenarios.quiet import WriteCounter, next_wake

IGNORED = {EventType.CONFIG_APPLIED}


@dataclass
class ScriptedAttempt:
    """How one submitted attempt of a scripted job behaves."""

    submit: str = "ok"  # ok | error | sync-success | sync-failure
    category: str = "TRANSIENT"
    statuses: list[str] = field(default_factory=lambda: ["succeeded"])
    cancel: bool = True
    submit_errors: int = 0  # infrastructure failures before the submit goes through
    submit_timeouts: int = 0  # submits that time out after reaching the target


class ScriptedRunner:
    """A JobRunner whose every answer comes from the scenario; records every submission."""

    job_type = "command"
    dedups_on_token = False  # so an ambiguous submit must end UNCERTAIN, never be repeated

    def __init__(self, scripts: dict[str, list[dict[str, Any]]]) -> None:
        self.scripts = {
            p: [ScriptedAttempt(**a) for a in attempts] for p, attempts in scripts.items()
        }
        self.submissions: list[tuple[str, str, int, str]] = []
        self.polls: dict[str, int] = {}
        self.submit_calls: dict[str, int] = {}
        self.cancelled: list[str] = []

    def _script(self, pipeline_id: str, attempt: int) -> ScriptedAttempt:
        attempts = self.scripts.get(pipeline_id) or [ScriptedAttempt()]
        return attempts[min(attempt, len(attempts)) - 1]

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        script = self._script(run.pipeline_id, run.attempt)
        calls = self.submit_calls.get(token, 0) + 1
        self.submit_calls[token] = calls
        if calls <= script.submit_errors:
            raise JobError("connection refused", FailureCategory.TRANSIENT, may_have_started=False)
        if calls <= script.submit_timeouts:
            self.submissions.append((run.pipeline_id, run.period, run.attempt, token))
            raise JobError("read timed out after sending", FailureCategory.TRANSIENT)
        if script.submit == "error":
            raise JobError("submit rejected", FailureCategory(script.category))
        self.submissions.append((run.pipeline_id, run.period, run.attempt, token))
        handle_id = f"{run.pipeline_id}-{run.period}-{run.attempt}"
        meta = {"pipeline": run.pipeline_id, "attempt": run.attempt}
        if script.submit == "sync-success":
            return JobHandle(handle_id, meta, JobStatus(JobState.SUCCEEDED))
        if script.submit == "sync-failure":
            return JobHandle(
                handle_id,
                meta,
                JobStatus(JobState.FAILED, FailureCategory(script.category), "boom"),
            )
        return JobHandle(handle_id, meta)

    def status(self, handle: JobHandle) -> JobStatus:
        script = self._script(handle.metadata["pipeline"], handle.metadata["attempt"])
        index = self.polls.get(handle.run_id, 0)
        self.polls[handle.run_id] = index + 1
        state = script.statuses[min(index, len(script.statuses) - 1)]
        if state == "running":
            return JobStatus(JobState.RUNNING)
        if state == "succeeded":
            return JobStatus(JobState.SUCCEEDED)
        return JobStatus(JobState.FAILED, FailureCategory(script.category), f"job {state}")

    def cancel(self, handle: JobHandle) -> bool:
        script = self._script(handle.metadata["pipeline"], handle.metadata["attempt"])
        self.cancelled.append(handle.run_id)
        return script.cancel


def _instant(text: Any) -> dt.datetime:
    value = (
        text
        if isinstance(text, dt.datetime)
        else dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    )
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _force(arg: dict[str, Any]) -> dict[str, Any]:
    """``force=`` for the engine call, only when the step names it."""
    return {"force": arg["force"]} if "force" in arg else {}


class PipelineSetStub:
    """The shape ``Interlock.apply`` reads from a PipelineSet."""

    def __init__(self, pipelines: dict[str, Pipeline], calendars: dict[str, Calendar]) -> None:
        self.pipelines = pipelines
        self.calendars = calendars
        self.errors: list[Any] = []
        self.sources = {pid: f"{pid}.yaml" for pid in pipelines}


class ScenarioPlayer:
    """Runs one scenario file against a fresh engine; raises AssertionError on a mismatch.

    ``skip_idle``: moving the clock, skip the minutes where nothing can happen (after a pass
    that wrote nothing, up to ``quiet.next_wake``) — the same passes run at the same instants
    otherwise, so the replay and what it asserts are unchanged. ``check_skips``: run every
    minute and fail when a minute ``skip_idle`` would skip wrote anything (the guard that
    keeps ``next_wake`` honest).
    """

    def __init__(
        self,
        path: Path,
        store_url: str = "memory://",
        *,
        skip_idle: bool = False,
        check_skips: bool = False,
    ) -> None:
        self.path = path
        self.skip_idle = skip_idle and not check_skips
        self.check_skips = check_skips
        self.skipped_passes = 0
        self.spec: dict[str, Any] = yaml.safe_load(path.read_text())
        self.clock = ManualClock(_instant(self.spec["start"]))
        self.runner = ScriptedRunner(self.spec.get("jobs", {}))
        self.store = open_store(store_url)
        self.engine = Interlock(self.store, {"command": self.runner}, self.clock)
        self.writes = WriteCounter(self.store)
        # The instant of the last clock-moving pass that did nothing, the activity count then,
        # and (once asked) the instant nothing can happen before.
        self._quiet: tuple[dt.datetime, int] | None = None
        self._wake: dt.datetime | None = None
        self.seen = 0
        self.calendars = {
            name: Calendar.model_validate({"name": name, **body})
            for name, body in (self.spec.get("calendars") or {}).items()
        }
        self.documents: dict[str, Any] = {}
        self._apply(self.spec["pipelines"])

    def _apply(self, documents: dict[str, Any], *, remove: Collection[str] = ()) -> None:
        self.documents.update(documents)
        for pipeline_id in remove:
            self.documents.pop(pipeline_id, None)
        source = self.documents if remove else documents
        pipelines = {pid: Pipeline.model_validate(doc) for pid, doc in source.items()}
        self.engine.apply(PipelineSetStub(pipelines, self.calendars), remove_missing=bool(remove))

    def advance_all(self) -> None:
        for _ in range(10):
            if not self.engine.advance_due():
                break

    def control_loop(self) -> None:
        """One pass of the local controller: advance due runs, watchdog, advance new runs."""
        self.advance_all()
        self.engine.watchdog()
        self.advance_all()

    def move_to(self, target: dt.datetime, every: dt.timedelta = dt.timedelta(minutes=1)) -> None:
        """Move the clock in steps of ``every`` up to ``target``, running the controller
        (only at the steps where something can happen, with ``skip_idle``)."""
        while self.clock.now() < target:
            now = self.clock.now()
            step = min(every, target - now)
            wake = self._quiet_until() if (self.skip_idle or self.check_skips) else None
            if self.skip_idle and wake is not None and wake > now + step:
                # The first step at or after the wake-up instant, as stepping would reach it.
                steps = -(-(wake - now) // every)
                step = min(every * steps, target - now)
                self.skipped_passes += -(-step // every) - 1
            self.clock.advance(step)
            before = self.activity()
            self.control_loop()
            idle = self.activity() == before
            if self.check_skips and wake is not None and self.clock.now() < wake and not idle:
                raise AssertionError(
                    f"a pass at {self.clock.now():%Y-%m-%d %H:%M}Z wrote something, yet "
                    f"quiet.next_wake said nothing could happen before {wake:%Y-%m-%d %H:%M}Z"
                )
            if not idle:
                self._quiet = None
            elif self._quiet is None or self._wake is None or self.clock.now() >= self._wake:
                self._quiet, self._wake = (self.clock.now(), before), None

    def activity(self) -> int:
        """A count that moves whenever the replay changes anything (store writes here)."""
        return self.writes.writes

    def wake_instants(self) -> list[dt.datetime | None]:
        """The replay's own instants where something may happen (none for the engine's)."""
        return []

    def wake_graces(self) -> list[dt.timedelta]:
        """Delays after a run's instants where the replay's own checks may act."""
        return []

    def _quiet_until(self) -> dt.datetime | None:
        """The instant nothing can happen before (after a pass that did nothing and no write
        since), or None when the last pass did something."""
        if (
            self._quiet is None
            or self._quiet[1] != self.activity()
            or self._quiet[0] > self.clock.now()  # the clock was set back: start afresh
        ):
            self._quiet = None
            return None
        if self._wake is None:
            self._wake = next_wake(
                self.engine, self._quiet[0], self.wake_instants(), self.wake_graces()
            )
        return self._wake

    def new_events(self) -> list[str]:
        events = [e for e in self.engine.events() if e.type not in IGNORED]
        fresh = events[self.seen :]
        self.seen = len(events)
        return [f"{e.type.value}" for e in fresh]

    def play(self) -> None:
        self.control_loop()
        for number, step in enumerate(self.spec.get("steps", []), start=1):
            try:
                self._step(step)
            except AssertionError as exc:
                raise AssertionError(f"{self.path.name} step {number} {step}: {exc}") from exc
        self._final(self.spec.get("final", {}))

    def _step(self, step: dict[str, Any]) -> None:
        kind, arg = next(iter(step.items()))
        if kind == "every":  # allow {every: .., jump: ..} in either order
            kind, arg = "jump", step["jump"]
        if kind == "emit":
            period = arg.get("period")
            self.engine.emit(
                arg["pipeline"], arg["key"], arg.get("data", {}), str(period) if period else None
            )
            if arg.get("controller", True):  # false: the next write lands before the pass
                self.control_loop()
        elif kind == "wait":
            self.move_to(self.clock.now() + parse_duration(str(arg)))
        elif kind == "at":
            self.move_to(_instant(arg))
        elif kind == "jump":  # {jump: 2d, every: 10m}: a long stretch in coarse steps
            every = parse_duration(str(step.get("every", "10m")))
            self.move_to(self.clock.now() + parse_duration(str(arg)), every)
        elif kind == "set_clock":  # the controller was down: move time without running it
            self.clock.set(_instant(arg))
        elif kind == "pass":
            self.control_loop()
        elif kind == "advance":
            self.advance_all()
        elif kind == "watchdog":
            self.engine.watchdog()
        elif kind == "expect":
            got = self.new_events()
            assert got == list(arg), f"expected events {list(arg)}, got {got}"
        elif kind == "expect_includes":
            got = self.new_events()
            missing = [t for t in arg if t not in got]
            assert not missing, f"events {missing} missing from {got}"
        elif kind == "expect_run":
            run = self.engine.run(arg["pipeline"], str(arg["period"]))
            if arg.get("status") is None:
                assert run is None, f"expected no run, got {run}"
                return
            assert run is not None, "expected a run, found none"
            assert run.status.value == arg["status"], (
                f"status {run.status.value}, expected {arg['status']}"
            )
            if "attempt" in arg:
                assert run.attempt == arg["attempt"], (
                    f"attempt {run.attempt}, expected {arg['attempt']}"
                )
        elif kind == "rerun":
            result = self.engine.request_rerun(
                arg["pipeline"],
                str(arg["period"]),
                arg.get("reason", "manual"),
                **_force(arg),
            )
            assert result.accepted == arg.get("accepted", True), result.message
            self.control_loop()
        elif kind == "claim":
            try:
                self.engine.claim(arg["pipeline"], str(arg["period"]), arg["owner"])
                refused = None
            except ClaimRefused as exc:
                refused = str(exc)
            assert (refused is None) == arg.get("accepted", True), refused or "claim was accepted"
        elif kind == "report":
            try:
                self.engine.report(
                    arg["pipeline"],
                    str(arg["period"]),
                    arg["outcome"],
                    arg.get("owner"),
                    **_force(arg),
                )
                refused = None
            except ClaimRefused as exc:
                refused = str(exc)
            assert (refused is None) == arg.get("accepted", True), refused or "report was accepted"
            self.control_loop()
        elif kind == "resolve":
            try:
                self.engine.resolve(
                    arg["pipeline"],
                    str(arg["period"]),
                    arg["resolution"],
                    **_force(arg),
                )
                refused = None
            except InterlockError as exc:
                refused = str(exc)
            assert (refused is None) == arg.get("accepted", True), refused or "resolve was accepted"
            self.control_loop()
        elif kind == "open":  # `interlock open`: one period, or {from: P, to: P}
            self.engine.open_runs(
                arg["pipeline"],
                str(arg["period"]) if arg.get("period") else None,
                first=str(arg["from"]) if arg.get("from") else None,
                last=str(arg["to"]) if arg.get("to") else None,
            )
            self.control_loop()
        elif kind == "expect_event":  # the latest event of a type: its attempt and detail
            matching = [e for e in self.engine.events() if e.type.value == arg["type"]]
            assert matching, f"no {arg['type']} event"
            event = matching[-1]
            if "attempt" in arg:
                assert event.attempt == arg["attempt"], (
                    f"{arg['type']} attempt {event.attempt}, expected {arg['attempt']}"
                )
            for name, value in (arg.get("detail") or {}).items():
                assert event.detail.get(name) == value, (
                    f"{arg['type']} detail {name}={event.detail.get(name)!r}, expected {value!r}"
                )
        elif kind == "apply":
            self._apply(arg)
            self.control_loop()
        elif kind == "remove":  # pipeline files deleted: apply the rest (PIPELINE_REMOVED)
            self._apply({}, remove=list(arg))
            self.control_loop()
        elif kind == "apply_invalid":
            from interlock_core.config.errors import ConfigError, ConfigIssue

            stub = PipelineSetStub({}, self.calendars)
            stub.errors = [ConfigError([ConfigIssue(arg["message"], file=arg["file"], line=1)])]
            self.engine.apply(stub, partial=True)
            self.control_loop()
        else:
            raise AssertionError(f"unknown step {kind!r}")

    def _final(self, final: dict[str, Any]) -> None:
        for key, status in (final.get("runs") or {}).items():
            pipeline_id, period = key.split("/", 1)
            run = self.engine.run(pipeline_id, period)
            got = run.status.value if run else None
            assert got == status, f"final {key}: {got}, expected {status}"
        for pipeline_id, count in (final.get("submissions") or {}).items():
            got = sum(1 for s in self.runner.submissions if s[0] == pipeline_id)
            assert got == count, f"{pipeline_id}: {got} submissions, expected {count}"
        tokens = [s[3] for s in self.runner.submissions]
        assert len(tokens) == len(set(tokens)), "a token was submitted twice"
