"""Grouped writes while advancing due runs (interlock_core/advancing.py).

A group of due runs is claimed SUBMITTING in one transaction and the records of their submits
are written in one more — only for runners whose target deduplicates on the attempt token. A
"crash" here is a BaseException raised inside the store (isolation catches only Exception),
after which a second controller on the same SQLite file takes over once the leases expired.
"""

import datetime as dt
import os
import socket
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock_core.advancing import advance_every_due, advance_group
from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
)
from interlock_core.jobs.registry import default_runners
from interlock_core.lifecycle import SUBMIT_LEASE
from interlock_core.runs import RunStatus
from interlock_core.storage import SQLiteStore, Store, open_store
from interlock_core.storage.base import RunUpdate
from interlock_core.storage.memory import MemoryStore
from tests.core.engine.fixtures import BULK_PIPELINE, apply_documents, open_bulk_runs
from tests.core.engine.recording import RecordingRunner, submissions
from tests.postgres_server import store_url_for

NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
RUNS = 12


class AdoptingTarget:
    """A job target that deduplicates on the token, as the command runner's does: a repeated
    submit with a known token adopts the job it started, it never starts another."""

    job_type = "command"
    dedups_on_token = True

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.jobs: dict[str, str] = {}

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        with self.lock:
            self.calls.append(token)
            job_id = self.jobs.setdefault(token, f"job-{len(self.jobs) + 1}")
        return JobHandle(job_id, {"token": token})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.RUNNING)

    def cancel(self, handle: JobHandle) -> bool:
        return True


class Crash(BaseException):
    """The controller dies here (nothing in the engine catches a BaseException)."""


class ScriptedStore(SQLiteStore):
    """A SQLite store that counts run writes and runs a hook before each grouped write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.grouped: list[int] = []
        self.single = 0
        self.before_group: Any = None
        self.after_group: Any = None

    def update_runs_with_events(self, updates: Any) -> list[Any]:
        updates = list(updates)
        if self.before_group is not None:
            self.before_group(len(self.grouped), updates)
        self.grouped.append(len(updates))
        stored = super().update_runs_with_events(updates)
        if self.after_group is not None:
            self.after_group(len(self.grouped) - 1)
        return stored

    def update_run_with_events(self, run: Any, expected_version: int, events: Any) -> Any:
        self.single += 1
        return super().update_run_with_events(run, expected_version, events)


def _engine(store: Store, runner: Any, clock: ManualClock, name: str = "c1") -> Interlock:
    return Interlock(store, {"command": runner}, clock, controller_id=name)


def _setup(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "interlock.db"
    setup = Interlock(open_store(f"sqlite:///{path}"), {}, ManualClock(NOW))
    apply_documents(setup, BULK_PIPELINE)
    periods = open_bulk_runs(setup, RUNS, NOW)
    setup.store.close()
    return path, periods


def _statuses(store: Store) -> Counter[RunStatus]:
    return Counter(run.status for run in store.list_runs("bulk"))


def test_a_group_takes_two_commits_and_submits_each_run_once(tmp_path: Path) -> None:
    path, _ = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()
    assert advance_every_due(_engine(store, target, ManualClock(NOW)), batch=5) == RUNS
    # Groups of 5, 5 and 2: a claim write and a submit-record write each.
    assert store.grouped == [5, 5, 5, 5, 2, 2]
    assert store.single == 0
    assert sorted(Counter(target.calls).values()) == [1] * RUNS
    assert _statuses(store) == {RunStatus.RUNNING: RUNS}
    triggered = [e for e in store.query_events("bulk") if e.type.value == "JOB_TRIGGERED"]
    assert len(triggered) == RUNS


def test_a_run_moved_before_the_group_write_is_skipped_not_overwritten(tmp_path: Path) -> None:
    path, periods = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()
    moved_period = periods[3]

    def move_one(index: int, updates: list[RunUpdate]) -> None:
        if index == 0:  # another controller (or a producer) writes the run meanwhile
            current = store.get_run("bulk", moved_period)
            assert current is not None
            store.update_run(current.evolve(message="moved by someone else"), current.version)

    store.before_group = move_one
    engine = _engine(store, target, ManualClock(NOW))
    assert advance_group(engine, store.due_runs(NOW, RUNS)) == RUNS
    moved = store.get_run("bulk", moved_period)
    assert moved is not None
    assert (moved.status, moved.message) == (RunStatus.WAITING, "moved by someone else")
    assert len(target.calls) == RUNS - 1
    assert _statuses(store) == {RunStatus.RUNNING: RUNS - 1, RunStatus.WAITING: 1}
    # The next pass takes it like any other due run.
    assert advance_group(engine, store.due_runs(NOW, RUNS)) == 1
    assert sorted(Counter(target.calls).values()) == [1] * RUNS


@pytest.mark.parametrize("crash_at", ["after the claim", "after the submits"])
def test_a_crash_in_a_group_never_starts_a_job_twice(tmp_path: Path, crash_at: str) -> None:
    path, _ = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()

    def crash_after_claim(index: int) -> None:
        if index == 0:
            raise Crash  # the claim committed; no job submitted yet

    def crash_before_records(index: int, updates: list[RunUpdate]) -> None:
        if index == 1:
            raise Crash  # every job submitted; their RUNNING records not written

    if crash_at == "after the claim":
        store.after_group = crash_after_claim
    else:
        store.before_group = crash_before_records
    with pytest.raises(Crash):
        advance_group(_engine(store, target, ManualClock(NOW)), store.due_runs(NOW, RUNS))
    store.close()
    expected_calls = 0 if crash_at == "after the claim" else RUNS
    assert len(target.calls) == expected_calls
    survivor_store = open_store(f"sqlite:///{path}")
    assert _statuses(survivor_store) == {RunStatus.SUBMITTING: RUNS}
    # Another controller, once every lease expired, resumes with the attempts' tokens.
    later = ManualClock(NOW + SUBMIT_LEASE + dt.timedelta(seconds=1))
    survivor = _engine(survivor_store, target, later, name="c2")
    assert survivor.advance_due(limit=100) == RUNS
    assert len(target.jobs) == RUNS, "a job was started twice"
    assert sorted(Counter(target.calls).values()) == [1 if expected_calls == 0 else 2] * RUNS
    runs = survivor_store.list_runs("bulk")
    assert {run.status for run in runs} == {RunStatus.RUNNING}
    assert {run.job_run_id for run in runs} == set(target.jobs.values())
    assert all(run.attempt == 1 for run in runs)


def test_a_runner_that_cannot_dedup_keeps_one_commit_per_step(tmp_path: Path) -> None:
    path, _ = _setup(tmp_path)
    store = ScriptedStore(path)
    ledger = tmp_path / "submissions.log"
    engine = _engine(store, RecordingRunner(ledger), ManualClock(NOW))
    assert advance_every_due(engine) == RUNS
    assert store.grouped == []
    assert store.single == 2 * RUNS  # SUBMITTING, then RUNNING, for each run
    assert sorted(Counter(submissions(ledger)).values()) == [1] * RUNS


def test_a_stop_request_mid_group_releases_the_runs_not_submitted(tmp_path: Path) -> None:
    path, _ = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()
    engine = _engine(store, target, ManualClock(NOW))
    stop = threading.Event()

    def stop_after_three() -> bool:
        if len(target.calls) >= 3:
            stop.set()
        return stop.is_set()

    assert advance_every_due(engine, stop=stop_after_three) == RUNS
    assert len(target.calls) == 3
    runs = store.list_runs("bulk", [RunStatus.SUBMITTING])
    assert len(runs) == RUNS - 3
    # Released: no lease, due now, so the next pass submits them without waiting for a lease.
    assert {(run.lease_owner, run.due_at) for run in runs} == {(None, NOW)}
    assert advance_every_due(engine) == RUNS - 3
    assert sorted(Counter(target.calls).values()) == [1] * RUNS
    assert _statuses(store) == {RunStatus.RUNNING: RUNS}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def race_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store the racing controllers share."""
    if request.param == "memory":
        yield "memory://"
        return
    yield from store_url_for(request.param, tmp_path, "group-race")


def test_controllers_racing_over_groups_submit_each_run_once(race_store_url: str) -> None:
    store = open_store(race_store_url)
    setup = Interlock(store, {}, ManualClock(NOW))
    apply_documents(setup, BULK_PIPELINE)
    open_bulk_runs(setup, 200, NOW)
    target = AdoptingTarget()
    barrier = threading.Barrier(4)

    def drain(name: str) -> None:
        engine = _engine(store, target, ManualClock(NOW), name=name)
        barrier.wait()
        while engine.advance_due(limit=16):
            pass

    workers = [threading.Thread(target=drain, args=(f"t{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(Counter(target.calls).values()) == [1] * 200
    assert _statuses(store) == {RunStatus.RUNNING: 200}
    store.close()


class RefusingTarget(AdoptingTarget):
    """Refuses every submit, echoing the credential it read (as a 401 body may)."""

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        secret = os.environ.get("GROUP_TEST_TOKEN", "no-credential-yet")
        raise JobError(f"401 for credential {secret}", FailureCategory.PERMANENT)


def test_secrets_held_for_a_group_are_read_again_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, periods = _setup(tmp_path)
    store = open_store(f"sqlite:///{path}")
    engine = _engine(store, RefusingTarget(), ManualClock(NOW))
    monkeypatch.delenv("GROUP_TEST_TOKEN", raising=False)
    first, second = (store.get_run("bulk", period) for period in periods[:2])
    assert first is not None and second is not None
    assert advance_group(engine, [first]) == 1
    # Set between two groups: the next group's writes must redact it.
    monkeypatch.setenv("GROUP_TEST_TOKEN", "s3cr3t-value-42")
    assert advance_group(engine, [second]) == 1
    failed = store.get_run("bulk", second.period)
    assert failed is not None and failed.status == RunStatus.FAILED
    assert "s3cr3t-value-42" not in (failed.message or "")
    assert "[REDACTED]" in (failed.message or "")
    texts = [e.message for e in store.query_events("bulk", period=second.period)]
    assert texts and not any("s3cr3t-value-42" in text for text in texts)


class ScriptedTarget(AdoptingTarget):
    """Adopts on the token; refuses the jobs of some pipelines, finishes others inside the
    submit (a synchronous job), leaves the rest running."""

    def __init__(self, dedups: bool) -> None:
        super().__init__()
        self.dedups_on_token = dedups

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        with self.lock:  # job ids that do not depend on the order of the submits
            self.calls.append(token)
            handle = JobHandle(f"job-{run.pipeline_id}-{run.attempt}", {"token": token})
        if run.pipeline_id == "refused":
            raise JobError("503 from the target", FailureCategory.TRANSIENT, may_have_started=False)
        if run.pipeline_id == "broken":
            raise JobError("400 bad config", FailureCategory.PERMANENT, may_have_started=False)
        if run.pipeline_id == "sync":
            return JobHandle(handle.run_id, handle.metadata, JobStatus(JobState.FAILED))
        return handle


def _mixed_scenario(dedups: bool) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]], int]:
    """A mixed pass over one store: what it wrote (events, runs) and how many grouped writes."""
    job = {"type": "command", "config": {"command": "true"}, "maxRetries": 1}
    gated = {"key": "rows", "check": "gte", "field": "n", "value": 10}
    documents: list[dict[str, Any]] = [
        {"pipeline": {"id": name}, "schedule": {"trigger": {"key": "go", "check": "exists"}}}
        | {"job": job}
        for name in ("ok", "refused", "broken", "sync", "other")
    ]
    documents += [
        {
            "pipeline": {"id": "gated"},
            "schedule": {"trigger": {"key": "go", "check": "exists"}},
            "validation": {"trigger": "ALL", "rules": [gated]},
            "job": job,
        },
        {
            "pipeline": {"id": "dry"},
            "schedule": {"trigger": {"key": "go", "check": "exists"}},
            "job": job,
            "dryRun": True,
        },
        {"pipeline": {"id": "jobless"}, "schedule": {"trigger": {"key": "go", "check": "exists"}}},
    ]
    store = _MemoryScripted()
    clock = ManualClock(NOW)
    engine = Interlock(store, {"command": ScriptedTarget(dedups)}, clock, controller_id="c1")
    apply_documents(engine, *documents)
    engine.emit("gated", "rows", {"n": 3})
    for document in documents:
        engine.emit(document["pipeline"]["id"], "go", {})
    for _ in range(4):  # submits, retries, a poll
        engine.advance_due(limit=100)
        clock.advance(dt.timedelta(minutes=2))
    events = [
        (e.type, e.pipeline_id, e.period, e.attempt, e.at, e.message, e.detail)
        for e in sorted(store.query_events(None), key=lambda e: (e.pipeline_id, e.at, e.type))
    ]
    runs = [
        run.model_dump(exclude={"version"})
        for document in documents
        for run in store.list_runs(document["pipeline"]["id"])
    ]
    return events, runs, store.grouped


class _MemoryScripted(MemoryStore):
    """A memory store that counts grouped writes."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = 0

    def update_runs_with_events(self, updates: Any) -> list[Any]:
        self.grouped += 1
        return super().update_runs_with_events(updates)


def test_grouped_and_one_run_advancing_write_the_same_events_and_runs() -> None:
    grouped_events, grouped_runs, groups = _mixed_scenario(dedups=True)
    alone_events, alone_runs, none = _mixed_scenario(dedups=False)
    assert groups > 0 and none == 0
    assert grouped_events == alone_events
    assert grouped_runs == alone_runs


class SlowTarget(AdoptingTarget):
    """Adopts on the token; each submit of controller c1 takes 50 s of its clock, but the
    third hangs for 130 s (longer than a whole lease), during which controller c2 resumes
    every expired lease."""

    def __init__(self, clock: ManualClock, takeover: Any) -> None:
        super().__init__()
        self.clock = clock
        self.takeover = takeover
        self.inside_c1 = 0

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        handle = super().submit(job, run, token)
        if self.takeover is not None:
            self.inside_c1 += 1
            self.clock.advance(dt.timedelta(seconds=130 if self.inside_c1 == 3 else 50))
            if self.inside_c1 == 3:
                takeover, self.takeover = self.takeover, None
                takeover()
        return handle


def test_a_lease_spent_by_a_slow_group_is_taken_over_once_and_never_doubled(
    tmp_path: Path,
) -> None:
    path, _ = _setup(tmp_path)
    clock = ManualClock(NOW)
    store = ScriptedStore(path)
    other_store = open_store(f"sqlite:///{path}")

    def takeover() -> None:
        # At 100 s c1 wrote the records of its first two submits and renewed the other ten
        # leases (to 220 s); its third submit hangs until 230 s: c2 resumes those ten.
        later = ManualClock(clock.now())
        c2 = _engine(other_store, target, later, name="c2")
        c2.advance_due(limit=100)
        assert len(other_store.list_runs("bulk", [RunStatus.SUBMITTING])) == 0

    target = SlowTarget(clock, takeover)
    c1 = _engine(store, target, clock)
    assert advance_group(c1, store.due_runs(NOW, RUNS)) == RUNS
    runs = store.list_runs("bulk")
    assert {run.status for run in runs} == {RunStatus.RUNNING}
    # The third submitted by both (adopted: one job); the rest by c2 alone, which c1 then
    # skips (their lease ran out); c1's record of the third loses its compare-and-set.
    assert len(target.jobs) == RUNS
    assert sorted(Counter(target.calls).values()) == [1] * (RUNS - 1) + [2]
    assert {run.lease_owner for run in runs} == {None}
    for run in runs:
        triggered = store.query_events("bulk", period=run.period, types=[EventType.JOB_TRIGGERED])
        assert len(triggered) == 1, run.period
        assert not store.query_events(
            "bulk", period=run.period, types=[EventType.TRIGGER_UNCERTAIN]
        )
    other_store.close()


def test_a_slow_group_renews_its_leases_so_no_other_controller_takes_a_run_over(
    tmp_path: Path,
) -> None:
    path, _ = _setup(tmp_path)
    clock = ManualClock(NOW)
    store = ScriptedStore(path)
    other_store = open_store(f"sqlite:///{path}")
    resubmitted = AdoptingTarget()  # c2's target: any call is a takeover

    class Watched(SlowTarget):
        """Every submit of c1 takes 50 s (a 2-minute lease lasts two and a half); during
        each one a second controller looks for expired leases."""

        def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
            handle = AdoptingTarget.submit(self, job, run, token)
            self.clock.advance(dt.timedelta(seconds=50))
            c2 = _engine(other_store, resubmitted, ManualClock(self.clock.now()), "c2")
            c2.advance_due(limit=100)
            return handle

    target = Watched(clock, None)
    assert advance_group(_engine(store, target, clock), store.due_runs(NOW, RUNS)) == RUNS
    assert resubmitted.calls == [], "a healthy group let a claimed run's lease run out"
    assert sorted(Counter(target.calls).values()) == [1] * RUNS
    assert _statuses(store) == {RunStatus.RUNNING: RUNS}
    other_store.close()


class EchoingTarget(AdoptingTarget):
    """Refuses every submit, echoing the values of the variables its job config sends (as an
    error body may), whatever they are called."""

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        sent = " ".join(os.environ.get(name, "") for name in job.env)
        raise JobError(f"401 for {sent}", FailureCategory.PERMANENT)


def test_a_config_applied_mid_group_has_its_credentials_redacted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAIN_VAR_A", "first-credential-1")
    monkeypatch.setenv("PLAIN_VAR_B", "second-credential-2")
    store = open_store(f"sqlite:///{tmp_path / 'interlock.db'}")
    engine = _engine(store, EchoingTarget(), ManualClock(NOW))
    sends = lambda name: {  # noqa: E731
        **BULK_PIPELINE,
        "job": {**BULK_PIPELINE["job"], "config": {"command": "true", "env": [name]}},
    }
    apply_documents(engine, sends("PLAIN_VAR_A"))
    periods = open_bulk_runs(engine, 2, NOW)
    asked: list[int] = []

    def apply_between_the_decisions() -> bool:
        asked.append(1)
        if len(asked) == 2:  # another process applies a config sending another variable
            apply_documents(engine, sends("PLAIN_VAR_B"))
        return False

    runs = store.due_runs(NOW, 10)
    assert advance_group(engine, runs, stop=apply_between_the_decisions) == 2
    failed = [store.get_run("bulk", period) for period in periods]
    assert {run.status for run in failed if run is not None} == {RunStatus.FAILED}
    texts = [run.message or "" for run in failed if run is not None]
    texts += [e.message for e in store.query_events("bulk")]
    for secret in ("first-credential-1", "second-credential-2"):
        assert not any(secret in text for text in texts), secret
    assert sum("[REDACTED]" in text for text in texts) >= 2


@pytest.mark.parametrize("write", [0, 1])
def test_a_group_write_failing_midway_is_rolled_back_and_written_run_by_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: int
) -> None:
    from interlock_core.storage import sqlite as sqlite_module

    path, periods = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()
    rows = sqlite_module._update_run_row
    calls: list[int] = []

    def disk_error_in_the_group(*args: Any) -> bool:
        # The fourth run of the claim group (write 0) or of the record group (write 1).
        if len(store.grouped) == write + 1 and len(calls) == 3:
            calls.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        calls.append(1)
        return rows(*args)

    def count_from_the_group(index: int, updates: list[RunUpdate]) -> None:
        calls.clear()

    store.before_group = count_from_the_group
    monkeypatch.setattr(sqlite_module, "_update_run_row", disk_error_in_the_group)
    assert advance_group(_engine(store, target, ManualClock(NOW)), store.due_runs(NOW, RUNS))
    assert store.single == RUNS  # the failed group's runs, each alone
    assert sorted(Counter(target.calls).values()) == [1] * RUNS
    assert _statuses(store) == {RunStatus.RUNNING: RUNS}
    for period in periods:
        kinds = Counter(e.type for e in store.query_events("bulk", period=period))
        assert kinds[EventType.VALIDATION_PASSED] == 1, period
        assert kinds[EventType.JOB_TRIGGERED] == 1, period


def test_a_command_group_claimed_on_another_host_is_never_started_again_here(
    tmp_path: Path,
) -> None:
    # A shared store (PostgreSQL) with controllers on two machines: a command job's state
    # file, the only thing its dedup on the token rests on, lives on the machine that
    # started it. A controller on another host that resumes the expired lease would start
    # the job a second time; it must make the run UNCERTAIN instead.
    ledger = tmp_path / "ran.txt"
    script = tmp_path / "job.py"
    script.write_text(
        f"import os, pathlib\npathlib.Path({str(ledger)!r}).open('a')"
        ".write(os.environ['INTERLOCK_PERIOD'] + '\\n')\n"
    )
    store = open_store(f"sqlite:///{tmp_path / 'interlock.db'}")
    job = {"type": "command", "config": {"command": [sys.executable, str(script)]}}
    setup = Interlock(store, {}, ManualClock(NOW))
    apply_documents(setup, {**BULK_PIPELINE, "job": job})
    periods = open_bulk_runs(setup, 3, NOW)
    there = default_runners(tmp_path / "there" / "jobs", kill_grace=0.5)
    here = default_runners(tmp_path / "here" / "jobs", kill_grace=0.5)
    other_host = Interlock(store, there, ManualClock(NOW), controller_id="elsewhere:41:abc")

    def records_lost(index: int, updates: list[RunUpdate]) -> None:
        if index == 1:
            raise Crash  # the jobs started there; their RUNNING records were never written

    scripted = ScriptedStore(tmp_path / "interlock.db")
    scripted.before_group = records_lost
    other_host.store = scripted
    with pytest.raises(Crash):
        advance_group(other_host, scripted.due_runs(NOW, 10))
    _wait_for_lines(ledger, 3)
    later = ManualClock(NOW + SUBMIT_LEASE + dt.timedelta(seconds=1))
    this_host = Interlock(store, here, later, controller_id=f"{socket.gethostname()}:7:def")
    this_host.advance_due(limit=10)
    time.sleep(0.5)  # a second start would have written by now
    assert sorted(ledger.read_text().split()) == sorted(periods)
    assert _statuses(store) == {RunStatus.UNCERTAIN: 3}
    scripted.close()
    store.close()


def _wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 30  # a bound: the loop ends when the jobs have run
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never had {count} lines")


def test_claims_whose_lease_ran_out_before_their_submit_are_renewed_not_left(
    tmp_path: Path,
) -> None:
    # Deciding the group took longer than a lease (slow gates, or runs of other job types
    # advanced one at a time in between): the claims are written with leases already spent.
    # Nobody else moved them (their version is unchanged), so renewing them by compare-and-set
    # is safe and they are submitted now, not two minutes later by a lease resume.
    path, _ = _setup(tmp_path)
    store = ScriptedStore(path)
    target = AdoptingTarget()
    clock = ManualClock(NOW)

    def slow() -> bool:
        clock.advance(dt.timedelta(seconds=15))
        return False

    assert advance_group(_engine(store, target, clock), store.due_runs(NOW, RUNS), stop=slow)
    assert sorted(Counter(target.calls).values()) == [1] * RUNS
    assert _statuses(store) == {RunStatus.RUNNING: RUNS}
