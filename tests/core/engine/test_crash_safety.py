"""Crash safety: a controller SIGKILLed at random points, restarted 50 times.

No job may be submitted twice, and once the leases of interrupted submits expire every run
ends terminal or UNCERTAIN — an UNCERTAIN run always with its TRIGGER_UNCERTAIN alert.
Controllers are forked (they inherit the imported modules, so 50 restarts stay cheap) and
open their own store connections.
"""

import datetime as dt
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from interlock_core.clock import SystemClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import BULK_PIPELINE, apply_documents, open_bulk_runs
from tests.core.engine.recording import RecordingRunner, submissions
from tests.postgres_server import store_url_for

RUNS = 150
RESTARTS = 50


class OffsetClock:
    """The system clock moved by a fixed offset (so leases can be made to expire)."""

    def __init__(self, offset: float) -> None:
        self.offset = dt.timedelta(seconds=offset)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def _controller(
    store_url: str, ledger: str, offset: float, pipe: Connection, exit_when_idle: bool
) -> None:
    engine = Interlock(
        open_store(store_url), {"command": RecordingRunner(Path(ledger))}, OffsetClock(offset)
    )
    # Connect before saying ready: the kill's random delay must fall in the controller's work,
    # not in its connection set-up (a PostgreSQL pool opens on first use; under load that
    # alone outlasted most delays, so too few kills landed inside a submit).
    engine.store.due_runs(engine.clock.now(), 1)
    pipe.send("ready")
    idle = 0
    while idle < 3 or not exit_when_idle:
        advanced = engine.advance_due(limit=5)
        idle = idle + 1 if advanced == 0 else 0
        time.sleep(random.uniform(0, 0.002))
    engine.watchdog()
    pipe.send("idle")


def _start(
    store_url: str, ledger: Path, offset: float, *, exit_when_idle: bool
) -> tuple[multiprocessing.Process, Connection]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(
        target=_controller, args=(store_url, str(ledger), offset, child, exit_when_idle)
    )
    process.start()
    assert parent.poll(30) and parent.recv() == "ready"
    return process, parent


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store the controllers share: one SQLite file, or one PostgreSQL schema."""
    yield from store_url_for(request.param, tmp_path, "crash")


@pytest.mark.slow
def test_sigkill_at_random_points_never_submits_twice(
    shared_store_url: str, tmp_path: Path
) -> None:
    store_url = shared_store_url
    ledger = tmp_path / "submissions.log"
    setup = Interlock(open_store(store_url), {}, SystemClock())
    apply_documents(setup, BULK_PIPELINE)
    open_bulk_runs(setup, RUNS, dt.datetime.now(dt.UTC))
    setup.store.close()  # no connection may cross a fork
    rng = random.Random(20261128)
    for _ in range(RESTARTS):
        process, _pipe = _start(store_url, ledger, 0.0, exit_when_idle=False)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(process.pid, signal.SIGKILL)  # the controller never exits by itself here
        process.join(timeout=10)
    after_kills = Interlock(open_store(store_url), {}, SystemClock())
    interrupted = len(after_kills.store.list_runs("bulk", [RunStatus.SUBMITTING]))
    after_kills.store.close()

    # Recovery: controllers whose clocks are past every submit lease and poll interval.
    for offset in (600.0, 1200.0):
        process, pipe = _start(store_url, ledger, offset, exit_when_idle=True)
        assert pipe.poll(120) and pipe.recv() == "idle"
        process.join(timeout=30)
        assert process.exitcode == 0

    engine = Interlock(open_store(store_url), {}, SystemClock())
    tokens = submissions(ledger)
    assert len(tokens) == len(set(tokens)), "a job was submitted twice"
    runs = engine.status("bulk")
    assert len(runs) == RUNS
    statuses = {run.status for run in runs}
    assert statuses <= {RunStatus.SUCCEEDED, RunStatus.UNCERTAIN}, statuses
    uncertain = {run.period for run in runs if run.status == RunStatus.UNCERTAIN}
    alerted = {e.period for e in engine.events("bulk", types=[EventType.TRIGGER_UNCERTAIN])}
    assert uncertain == alerted
    succeeded = {run.period for run in runs if run.status == RunStatus.SUCCEEDED}
    # A run that succeeded was submitted exactly once; its token is in the ledger.
    assert len(tokens) >= len(succeeded)
    assert interrupted >= 1, "some kill should have landed inside a submit"
    assert len(uncertain) >= interrupted
    print(
        f"\n{RESTARTS} kills ({interrupted} inside a submit): {len(tokens)} submissions, "
        f"{len(succeeded)} succeeded, {len(uncertain)} uncertain"
    )
