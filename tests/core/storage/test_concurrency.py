"""Store-level proof of the races the engine relies on: CAS, create-if-absent, counters, markers.

Thread races run against every backend (PostgreSQL too); process races run against SQLite, the
backend that several local ``interlock run`` processes share (PostgreSQL's process races are in
tests/core/engine/test_exactly_once.py). Workers report what each call returned, and the
assertions count those answers: a lost or doubled win fails the test.
"""

import itertools
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock_core.runs import RunStatus
from interlock_core.storage import MemoryStore, SQLiteStore, Store, open_store
from tests.core.storage import workers
from tests.core.storage.contract import T0, make_run
from tests.postgres_server import fresh_schema

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["memory", "sqlite", "postgres", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        with fresh_schema() as url:
            postgres = open_store(url + "&pool_max=16")
            yield postgres
            postgres.close()
        return
    if request.param == "dynamodb":
        from tests.core.storage.dynamodb_support import atomic_requests, moto_store, set_aws_env

        monkeypatch = request.getfixturevalue("monkeypatch")
        set_aws_env(monkeypatch)
        with atomic_requests(monkeypatch), moto_store() as dynamodb:
            yield dynamodb
        return
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.db")
    yield store
    store.close()


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in ``count`` threads; re-raise the first exception any of them raised."""
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def in_processes(target: Callable[..., None], args: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Start one spawned process per args tuple, release them together, collect their reports."""
    queue: Any = SPAWN.Queue()
    start = SPAWN.Barrier(len(args))
    processes = [SPAWN.Process(target=target, args=(*a, start, queue)) for a in args]
    for process in processes:
        process.start()
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240
    try:
        while len(results) < len(processes):
            try:
                results.append(queue.get(timeout=1))
            except Exception:  # queue.Empty: check whether a worker died without reporting
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    raise AssertionError(
                        f"workers failed or hung: exit codes {[p.exitcode for p in processes]}"
                    ) from None
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    return results


# -- threads, every backend ----------------------------------------------------------------
def test_exactly_one_of_16_threads_wins_each_compare_and_set(store: Store) -> None:
    created = store.create_run(make_run())
    assert created is not None
    rounds, threads = 40, 16
    barrier = threading.Barrier(threads)
    winners: list[list[int]] = [[] for _ in range(rounds)]

    def work(index: int) -> None:
        for round_ in range(rounds):
            barrier.wait(timeout=60)
            # Everyone holds the version the previous round produced.
            moved = store.update_run(created.evolve(message=f"t{index}"), round_ + 1)
            if moved is not None:
                winners[round_].append(index)
            barrier.wait(timeout=60)

    in_threads(threads, work)
    assert [len(w) for w in winners] == [1] * rounds
    final = store.get_run("p", "2026-03-01")
    assert final is not None
    assert final.version == rounds + 1
    assert final.message == f"t{winners[-1][0]}"


def test_exactly_one_thread_creates_each_run(store: Store) -> None:
    periods = [f"d{n:03d}" for n in range(60)]
    created: list[str] = []
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        barrier.wait(timeout=60)
        for period in periods:
            if store.create_run(make_run(period=period, message=f"t{index}")) is not None:
                created.append(period)

    in_threads(8, work)
    assert sorted(created) == periods
    assert len(store.list_runs()) == len(periods)


def test_exactly_one_thread_claims_each_marker_of_overlapping_batches(store: Store) -> None:
    # Two controllers forwarding the same events: every key is won by exactly one batch.
    keys = [(f"p{n % 5}", f"alerted#{n:03d}") for n in range(240)]
    threads = 4
    barrier = threading.Barrier(threads)
    won: list[set[tuple[str, str]]] = [set() for _ in range(threads)]

    def work(index: int) -> None:
        # Each thread claims the keys in its own order and in batches of its own size.
        mine = keys[index * 37 :] + keys[: index * 37]
        size = 40 + 30 * index
        barrier.wait(timeout=60)
        for start in range(0, len(mine), size):
            won[index] |= store.put_markers(mine[start : start + size], T0)

    in_threads(threads, work)
    assert sum(len(w) for w in won) == len(keys)
    assert set().union(*won) == set(keys)


def test_exactly_one_thread_creates_each_marker(store: Store) -> None:
    names = [f"SLA_WARNING#d{n}" for n in range(30)]
    created: list[tuple[str, int]] = []
    barrier = threading.Barrier(16)

    def work(index: int) -> None:
        barrier.wait(timeout=60)
        for name in names:
            if store.put_marker("p", name, T0, {"by": index}):
                created.append((name, index))

    in_threads(16, work)
    assert sorted(name for name, _ in created) == sorted(names)
    for name, index in created:
        marker = store.get_marker("p", name, now=T0)
        assert marker is not None
        assert marker.data == {"by": index}


def test_concurrent_sensor_writes_and_ledger_appends_get_unique_numbers(store: Store) -> None:
    threads, writes = 8, 25
    versions: list[list[int]] = [[] for _ in range(threads)]
    seqs: list[int] = []

    def work(index: int) -> None:
        for n in range(writes):
            versions[index].append(store.put_sensor("p", f"k{index}", {"n": n}, T0).version)
            seqs.append(store.append_rerun("p", "d1", "manual", T0).seq)

    in_threads(threads, work)
    total = threads * writes
    assert all(v == sorted(v) and len(set(v)) == len(v) for v in versions)
    assert sorted(v for vs in versions for v in vs) == list(range(1, total + 1))
    assert sorted(seqs) == list(range(1, total + 1))
    assert store.sensor_versions() == {"p": total}
    assert [record.seq for record in store.list_reruns("p", "d1")] == list(range(1, total + 1))


# -- processes x threads, SQLite -----------------------------------------------------------
@pytest.mark.slow
def test_processes_and_threads_win_each_run_transition_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    SQLiteStore(path).close()
    periods = [f"2026-01-01T{n:04d}" for n in range(1000)]
    processes, threads = 4, 4
    results = in_processes(
        workers.race_runs, [(path, w, threads, periods) for w in range(processes)]
    )

    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    created = Counter(p for r in results for p in r["created"])
    won = [tuple(pair) for r in results for pair in r["won"]]
    assert len(created) == 1000
    assert set(created.values()) == {1}
    assert len(won) == 1000
    winner = dict(won)
    assert sorted(winner) == periods  # every run won, none twice

    store = SQLiteStore(path)
    try:
        runs = store.list_runs("race")
        assert len(runs) == 1000
        for run in runs:
            assert (run.status, run.version) == (RunStatus.SUBMITTING, 2)
            assert run.lease_owner == winner[run.period]
    finally:
        store.close()
    # The race was real: more than one worker won something.
    assert len({owner for _, owner in won}) > 1


@pytest.mark.slow
def test_processes_get_unique_increasing_sensor_versions_and_ledger_seqs(tmp_path: Path) -> None:
    # The file does not exist yet: the workers also race to create and migrate it.
    path = str(tmp_path / "fresh" / "sensors.db")
    processes, writes = 4, 100
    results = in_processes(
        workers.write_sensors_and_reruns, [(path, w, writes) for w in range(processes)]
    )

    assert [e for r in results for e in r["errors"]] == []
    per_process = [r["versions"][0] for r in results]
    for versions in per_process:
        assert len(versions) == writes
        assert all(a < b for a, b in itertools.pairwise(versions))
    total = processes * writes
    assert sorted(v for versions in per_process for v in versions) == list(range(1, total + 1))
    assert sorted(s for r in results for s in r["seqs"]) == list(range(1, total + 1))

    store = SQLiteStore(path)
    try:
        assert store.sensor_versions() == {"p": total}
        ledger = store.list_reruns("p", "d1")
        assert [record.seq for record in ledger] == list(range(1, total + 1))
        assert Counter(record.reason for record in ledger) == {
            f"w{w}": writes for w in range(processes)
        }
    finally:
        store.close()


@pytest.mark.slow
def test_processes_create_each_marker_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "markers.db")
    SQLiteStore(path).close()
    names = [f"SLA_BREACH#d{n}" for n in range(50)]
    results = in_processes(workers.race_markers, [(path, w, 4, names) for w in range(4)])

    assert [e for r in results for e in r["errors"]] == []
    created = Counter(name for r in results for name in r["created"])
    assert sorted(created) == sorted(names)
    assert set(created.values()) == {1}
