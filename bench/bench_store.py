"""Store benchmark: the latency of the calls the engine makes most, per backend.

Not a test: it prints a table and writes ``bench/results/store.json`` (or ``--out DIR``).
Run it with ``.venv/bin/python bench/bench_store.py [--ops N] [--quick] [--out DIR]``.

Each operation runs ``--ops`` times on a fresh store (single thread) and reports the median
and 95th percentile latency of one call. SQLite runs once with ``synchronous=FULL`` (the
default: every commit is fsynced) and once with ``NORMAL`` for comparison.
"""

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import summary, table, write_results

from interlock_core.runs import NextAction, Run, RunStatus
from interlock_core.storage import MemoryStore, SQLiteStore, Store

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_run(period: str, due_at: datetime | None) -> Run:
    """A run shaped like a real WAITING run (a few reasons, some metadata)."""
    return Run(
        pipeline_id="bench",
        period=period,
        status=RunStatus.WAITING,
        opened_at=T0,
        attempt_started_at=T0,
        updated_at=T0,
        next_action=NextAction.EVALUATE,
        due_at=due_at,
        config_hash="0" * 64,
        last_reasons=['sensor "upstream-complete" not found', 'field "count" not found'],
        job_metadata={"url": "https://example.invalid/job/1", "attempts": [1, 2]},
    )


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    """Latency in microseconds of ``call(i)`` for i in range(calls)."""
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def bench_backend(open_fresh: Callable[[], Store], ops: int) -> dict[str, dict[str, Any]]:
    """Run every operation against fresh stores from ``open_fresh``."""
    results: dict[str, list[float]] = {}

    store = open_fresh()
    results["put_sensor"] = timed(ops, lambda i: store.put_sensor("p", f"k{i % 50}", {"n": i}, T0))
    store.close()

    store = open_fresh()
    for key in range(50):
        store.put_sensor("p", f"sensor-{key:02d}", {"status": "ready", "count": key}, T0)
    results["get_sensors (50 sensors)"] = timed(ops, lambda i: store.get_sensors("p"))
    store.close()

    store = open_fresh()
    results["create_run"] = timed(ops, lambda i: store.create_run(make_run(f"r{i:06d}", None)))
    runs = [store.get_run("bench", f"r{i:06d}") for i in range(ops)]

    def update(index: int) -> None:
        run = runs[index]
        assert run is not None
        moved = store.update_run(run.evolve(status=RunStatus.SUBMITTING), run.version)
        assert moved is not None

    results["update_run (CAS)"] = timed(ops, update)
    store.close()

    store = open_fresh()
    for index in range(1000):
        # Half the runs are due (spread over the past hour), a quarter later, a quarter never.
        due = None if index % 4 == 3 else T0 + timedelta(seconds=(index % 4 - 1.5) * index)
        store.create_run(make_run(f"d{index:04d}", due))
    now = T0
    due_count = len(store.due_runs(now, limit=1000))
    results[f"due_runs limit=100 (1000 runs, {due_count} due)"] = timed(
        max(ops // 5, 20), lambda i: store.due_runs(now, limit=100)
    )
    results[f"due_runs limit=1000 (1000 runs, {due_count} due)"] = timed(
        max(ops // 10, 10), lambda i: store.due_runs(now, limit=1000)
    )
    store.close()

    return {
        name: {
            **summary(samples),
            "p95": sorted(samples)[max(0, int(len(samples) * 0.95) - 1)],
            "unit": "us",
            "ops_per_s": round(1e6 / statistics.median(samples)),
        }
        for name, samples in results.items()
    }


@contextmanager
def sqlite_factory(directory: str, synchronous: str) -> Iterator[Callable[[], Store]]:
    """Fresh SQLite files in ``directory``."""
    counter = iter(range(10**6))

    def open_fresh() -> Store:
        return SQLiteStore(
            Path(directory) / f"{synchronous.lower()}-{next(counter)}.db", synchronous=synchronous
        )

    yield open_fresh


def main(argv: list[str] | None = None) -> None:
    """Benchmark every backend, print a table, write ``store.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=500, help="calls per operation")
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ops = 40
    report: dict[str, Any] = {
        "ops": args.ops,
        "quick": args.quick,
        "sqlite": sqlite3.sqlite_version,
        "backends": {},
        "targets": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        report["backends"]["memory"] = bench_backend(MemoryStore, args.ops)
        for mode in ("FULL", "NORMAL"):
            with sqlite_factory(directory, mode) as open_fresh:
                report["backends"][f"sqlite synchronous={mode}"] = bench_backend(
                    open_fresh, args.ops
                )
    print(f"Store benchmark: {args.ops} calls/op, SQLite {report['sqlite']}")
    for backend, data in report["backends"].items():
        print(f"\n{backend}")
        rows = [[name, row["median"], row["p95"], row["ops_per_s"]] for name, row in data.items()]
        print(table(["operation", "median us", "p95 us", "ops/s"], rows))
    write_results("store", report, args.out)


if __name__ == "__main__":
    main()
