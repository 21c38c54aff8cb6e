"""Exactly once under concurrency: many controllers race to advance the same due runs."""

import datetime as dt
import multiprocessing
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.lifecycle import ClaimRefused
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import BULK_PIPELINE, apply_documents, open_bulk_runs
from tests.core.engine.recording import RecordingRunner, submissions
from tests.postgres_server import store_url_for

RUNS = 1000
NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)


def _drain(engine: Interlock, barrier: threading.Barrier | None = None) -> None:
    if barrier is not None:
        barrier.wait()
    while engine.advance_due(limit=64):
        pass


def _race_threads(store_url: str, ledger: Path, threads: int) -> None:
    store = open_store(store_url)
    barrier = threading.Barrier(threads)
    engines = [
        Interlock(
            store, {"command": RecordingRunner(ledger)}, ManualClock(NOW), controller_id=f"t{i}"
        )
        for i in range(threads)
    ]
    workers = [threading.Thread(target=_drain, args=(e, barrier)) for e in engines]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if not store_url.startswith("memory://"):
        store.close()  # a shared memory:// store is the one the test reads afterwards


def _process_main(store_url: str, ledger: str, threads: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    _race_threads(store_url, Path(ledger), threads)


def _prepare(store_url: str) -> Interlock:
    engine = Interlock(open_store(store_url), {}, ManualClock(NOW))
    apply_documents(engine, BULK_PIPELINE)
    open_bulk_runs(engine, RUNS, NOW)
    return engine


def _assert_exactly_once(engine: Interlock, ledger: Path) -> None:
    tokens = submissions(ledger)
    assert len(tokens) == RUNS, f"{len(tokens)} submissions for {RUNS} runs"
    assert len(set(tokens)) == RUNS, "a run was submitted twice"
    runs = engine.status("bulk")
    assert len(runs) == RUNS
    statuses = {run.status for run in runs}
    assert statuses == {RunStatus.RUNNING}, f"lost runs: {statuses}"
    triggered = engine.events("bulk", types=[engine_event("JOB_TRIGGERED")])
    assert len(triggered) == RUNS


def engine_event(name: str):  # type: ignore[no-untyped-def]
    from interlock_core.events import EventType

    return EventType(name)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store several processes share: one SQLite file, or one PostgreSQL schema."""
    yield from store_url_for(request.param, tmp_path, "race")


@pytest.mark.slow
def test_sixteen_threads_and_four_processes_on_one_store(
    shared_store_url: str, tmp_path: Path
) -> None:
    store_url = shared_store_url
    ledger = tmp_path / "submissions.log"
    engine = _prepare(store_url)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process_main, args=(store_url, str(ledger), 4)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    _race_threads(store_url, ledger, 16)  # 16 threads in this process join the race
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    _assert_exactly_once(engine, ledger)
    engine.store.close()


def test_sixteen_threads_on_memory_store(tmp_path: Path) -> None:
    store_url = "memory://exactly-once"
    ledger = tmp_path / "submissions.log"
    engine = _prepare(store_url)
    _race_threads(store_url, ledger, 16)
    _assert_exactly_once(engine, ledger)


def test_two_owners_racing_to_claim_one_run() -> None:
    clock = ManualClock(NOW)
    engine = Interlock(open_store("memory://claim-race"), {}, clock)
    apply_documents(
        engine,
        {"pipeline": {"id": "marts"}, "schedule": {"trigger": {"key": "go", "check": "exists"}}},
    )
    engine.emit("marts", "go", {})
    period = "2026-03-04"
    for round_number in range(20):
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def claim(
            owner: str, barrier: threading.Barrier = barrier, outcomes: dict[str, str] = outcomes
        ) -> None:
            barrier.wait()
            try:
                engine.claim("marts", period, owner)
                outcomes[owner] = "won"
            except ClaimRefused:
                outcomes[owner] = "refused"

        owners = [f"airflow:a/{round_number}", f"dagster:b/{round_number}"]
        threads = [threading.Thread(target=claim, args=(o,)) for o in owners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes.values()) == ["refused", "won"], outcomes
        winner = next(o for o, v in outcomes.items() if v == "won")
        run = engine.run("marts", period)
        assert run is not None and run.owner == winner
        engine.report("marts", period, "failed", winner)  # a failed owner may be re-claimed
