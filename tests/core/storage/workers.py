"""Worker functions for the multi-process storage tests.

They live in their own module so that 'spawn' children import only this and the store, and
they report through a queue: a result dict, with exceptions as strings (tracebacks pickle
badly), so the parent can assert that nothing failed anywhere.
"""

import threading
import traceback
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from interlock_core.runs import RunStatus
from interlock_core.storage import SQLiteStore
from tests.core.storage.contract import T0, make_run


def _in_threads(
    threads: int, work: Callable[[int, threading.Barrier], dict[str, list[Any]]]
) -> dict[str, list[Any]]:
    """Run ``work(thread_index, barrier)`` in ``threads`` threads and merge their lists."""
    barrier = threading.Barrier(threads)
    results: list[dict[str, list[Any]]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def target(index: int) -> None:
        try:
            result = work(index, barrier)
        except BaseException:
            with lock:
                errors.append(traceback.format_exc())
            barrier.abort()
            return
        with lock:
            results.append(result)

    pool = [threading.Thread(target=target, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    merged: dict[str, list[Any]] = {"errors": errors}
    for result in results:
        for key, values in result.items():
            merged.setdefault(key, []).extend(values)
    return merged


def _report(
    queue: "Queue[dict[str, list[Any]]]",
    start: Barrier,
    run: Callable[[], dict[str, list[Any]]],
) -> None:
    try:
        start.wait(timeout=60)
        result = run()
    except BaseException:
        result = {"errors": [traceback.format_exc()]}
    queue.put(result)


def race_runs(
    path: str,
    worker: int,
    threads: int,
    periods: list[str],
    start: Barrier,
    queue: "Queue[dict[str, list[Any]]]",
) -> None:
    """Every thread creates every run and tries to move it WAITING -> SUBMITTING by CAS.

    Reports ``created`` (periods this worker created), ``won`` ((period, owner) pairs this
    worker moved) and ``errors``.
    """

    def run() -> dict[str, list[Any]]:
        store = SQLiteStore(path)

        def work(index: int, barrier: threading.Barrier) -> dict[str, list[Any]]:
            owner = f"w{worker}/t{index}"
            created: list[str] = []
            won: list[tuple[str, str]] = []
            barrier.wait(timeout=60)
            # Odd threads go backwards, so runs are raced both by threads arriving together
            # and by threads arriving from the other end.
            order = periods if (worker + index) % 2 == 0 else list(reversed(periods))
            for period in order:
                if store.create_run(make_run("race", period)) is not None:
                    created.append(period)
                current = store.get_run("race", period)
                if current is None:
                    raise AssertionError(f"run {period} vanished after create_run")
                if current.status is not RunStatus.WAITING:
                    continue
                moved = store.update_run(
                    current.evolve(status=RunStatus.SUBMITTING, lease_owner=owner),
                    current.version,
                )
                if moved is not None:
                    won.append((period, owner))
            return {"created": created, "won": won}

        try:
            return _in_threads(threads, work)
        finally:
            store.close()

    _report(queue, start, run)


def write_sensors_and_reruns(
    path: str,
    worker: int,
    writes: int,
    start: Barrier,
    queue: "Queue[dict[str, list[Any]]]",
) -> None:
    """Write ``writes`` sensors and ledger entries; reports the versions and seqs returned."""

    def run() -> dict[str, list[Any]]:
        store = SQLiteStore(path)
        try:
            versions = []
            seqs = []
            for n in range(writes):
                sensor = store.put_sensor("p", f"k{n % 7}", {"worker": worker, "n": n}, T0)
                versions.append(sensor.version)
                seqs.append(store.append_rerun("p", "d1", f"w{worker}", T0).seq)
            return {"versions": [versions], "seqs": seqs, "errors": []}
        finally:
            store.close()

    _report(queue, start, run)


def race_markers(
    path: str,
    worker: int,
    threads: int,
    names: list[str],
    start: Barrier,
    queue: "Queue[dict[str, list[Any]]]",
) -> None:
    """Every thread puts every marker; reports the names for which put_marker said True."""

    def run() -> dict[str, list[Any]]:
        store = SQLiteStore(path)

        def work(index: int, barrier: threading.Barrier) -> dict[str, list[Any]]:
            barrier.wait(timeout=60)
            created = [
                name
                for name in names
                if store.put_marker("p", name, T0, {"by": f"w{worker}/t{index}"})
            ]
            return {"created": created}

        try:
            return _in_threads(threads, work)
        finally:
            store.close()

    _report(queue, start, run)
