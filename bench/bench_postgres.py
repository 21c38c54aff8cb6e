"""PostgreSQL next to SQLite: store operation costs and one controller pass over many pipelines.

Not a test: it prints a table and writes ``bench/results/postgres.json``. Run it with a server::

    INTERLOCK_TEST_POSTGRES_URL=postgresql://USER@127.0.0.1:PORT/DB \\
        .venv/bin/python bench/bench_postgres.py [--ops 300] [--pipelines 10000]

or start a throwaway cluster first (``scripts/_postgres.sh``, as ``scripts/test`` does; that
cluster runs with ``fsync=off``, so its write costs are lower than a durable server's)::

    bash -c 'source scripts/_postgres.sh && start_test_postgres && \
        .venv/bin/python bench/bench_postgres.py'

The server's ``fsync`` and ``synchronous_commit`` settings are recorded with the results.

Store operations (single thread, ``--ops`` calls each, median and p95 of one call): create_run,
the run's compare-and-set, the CAS with its 3 events (one transaction on PostgreSQL), a sensor
snapshot of 20 sensors (``get_sensors``), one event append, one sensor write. The controller
pass applies ``--pipelines`` sensor-driven pipelines and times ``interlock run``'s every-tick
pass (``LocalRuntime.run_once``) and its minute pass with the watchdog and SLA checks.
Each benchmark gets a fresh schema (PostgreSQL) or file (SQLite, ``synchronous=FULL``).
"""

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.runs import NextAction, Run, RunStatus
from interlock_core.runtime import LocalRuntime
from interlock_core.storage import Store, open_store, redact_url
from tests.scenarios.harness import PipelineSetStub

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
RESULTS = Path(__file__).resolve().parent / "results" / "postgres.json"


def make_run(period: str) -> Run:
    """A run shaped like a real WAITING run (a few reasons, some metadata)."""
    return Run(
        pipeline_id="bench",
        period=period,
        status=RunStatus.WAITING,
        opened_at=T0,
        attempt_started_at=T0,
        updated_at=T0,
        next_action=NextAction.EVALUATE,
        due_at=T0,
        config_hash="0" * 64,
        last_reasons=['sensor "upstream-complete" not found', 'field "count" not found'],
        job_metadata={"url": "https://example.invalid/job/1", "attempts": [1, 2]},
    )


def event(index: int) -> Event:
    return Event(
        EventType.JOB_TRIGGERED,
        "bench",
        f"r{index:06d}",
        1,
        T0,
        "job submitted (command)",
        {"runId": f"job-{index}", "token": "0" * 40},
    )


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    """Latency in microseconds of ``call(i)`` for i in range(calls)."""
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def store_ops(fresh: Callable[[], Any], ops: int) -> dict[str, dict[str, float]]:
    """Latency of the store calls the engine makes most."""
    results: dict[str, list[float]] = {}
    with fresh() as store:
        results["create_run"] = timed(ops, lambda i: store.create_run(make_run(f"r{i:06d}")))
        runs = [store.get_run("bench", f"r{i:06d}") for i in range(ops)]

        def cas(index: int) -> None:
            run = runs[index]
            moved = store.update_run(run.evolve(status=RunStatus.SUBMITTING), run.version)
            assert moved is not None
            runs[index] = moved

        results["update_run (CAS)"] = timed(ops, cas)

        def cas_with_events(index: int) -> None:
            run = runs[index]
            events = [event(index), event(index), event(index)]
            moved = store.update_run_with_events(
                run.evolve(status=RunStatus.RUNNING), run.version, events
            )
            assert moved is not None

        results["update_run_with_events (CAS + 3 events)"] = timed(ops, cas_with_events)
    with fresh() as store:
        for key in range(20):
            store.put_sensor("p", f"sensor-{key:02d}", {"status": "ready", "count": key}, T0)
        results["get_sensors (snapshot of 20)"] = timed(ops, lambda i: store.get_sensors("p"))
        results["put_sensor"] = timed(ops, lambda i: store.put_sensor("p", "k", {"n": i}, T0))
        results["append_events (1 event)"] = timed(ops, lambda i: store.append_events([event(i)]))
    return {
        name: {
            "calls": len(samples),
            "median_us": round(statistics.median(samples), 1),
            "p95_us": round(sorted(samples)[int(len(samples) * 0.95) - 1], 1),
        }
        for name, samples in results.items()
    }


def controller_pass(fresh: Callable[[], Any], pipelines: int) -> dict[str, float]:
    """Seconds for one controller pass over ``pipelines`` sensor-driven pipelines."""
    documents = [
        {
            "pipeline": {"id": f"p{index:05d}"},
            "schedule": {
                "timezone": "UTC",
                "trigger": {"key": "ready", "check": "equals", "field": "status", "value": "ok"},
            },
            "validation": {"rules": [{"key": "rows", "check": "gte", "field": "n", "value": 1}]},
            "job": {"type": "command", "config": {"command": ["true"]}},
        }
        for index in range(pipelines)
    ]
    models = {doc["pipeline"]["id"]: Pipeline.model_validate(doc) for doc in documents}
    with fresh() as store:
        clock = ManualClock(T0)
        engine = Interlock(store, {}, clock)
        started = time.perf_counter()
        engine.apply(PipelineSetStub(models, {}), remove_missing=False)
        applied = time.perf_counter() - started
        runtime = LocalRuntime(engine, None)
        runtime.run_once(force_checks=True)  # warm: first watchdog pass
        clock.advance(dt.timedelta(seconds=1))
        started = time.perf_counter()
        runtime.run_once()
        tick = time.perf_counter() - started
        clock.advance(dt.timedelta(minutes=1))
        started = time.perf_counter()
        runtime.run_once(force_checks=True)
        minute = time.perf_counter() - started
    return {
        "pipelines": pipelines,
        "apply_s": round(applied, 2),
        "tick_pass_s": round(tick, 3),
        "watchdog_pass_s": round(minute, 3),
    }


def sqlite_fresh(directory: str) -> Callable[[], Any]:
    counter = iter(range(10**6))

    @contextmanager
    def fresh() -> Iterator[Store]:
        store = open_store(f"sqlite:///{directory}/bench-{next(counter)}.db")
        try:
            yield store
        finally:
            store.close()

    return fresh


def postgres_fresh(url: str) -> Callable[[], Any]:
    import psycopg

    @contextmanager
    def fresh() -> Iterator[Store]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        store = open_store(f"{url}{'&' if '?' in url else '?'}schema={schema}")
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return fresh


def main() -> None:
    """Benchmark SQLite and PostgreSQL, print a table, write ``bench/results/postgres.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300, help="calls per store operation")
    parser.add_argument("--pipelines", type=int, default=10_000, help="pipelines in the pass")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("INTERLOCK_TEST_POSTGRES_URL", ""),
        help="server URL (default: $INTERLOCK_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args()
    if not args.postgres:
        parser.error("name a PostgreSQL server: --postgres URL or INTERLOCK_TEST_POSTGRES_URL")
    report: dict[str, Any] = {
        "benchmark": "postgres",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "postgres": redact_url(args.postgres),
        "ops": {},
        "controller_pass": {},
    }
    import psycopg

    with psycopg.connect(args.postgres, autocommit=True) as conn:
        report["postgres_settings"] = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit")
        }
    print(f"postgres: {report['postgres_settings']}; sqlite: synchronous=FULL", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as directory:
        backends = {"sqlite": sqlite_fresh(directory), "postgres": postgres_fresh(args.postgres)}
        for name, fresh in backends.items():
            print(f"{name}: store operations ...", flush=True)
            report["ops"][name] = store_ops(fresh, args.ops)
            print(f"{name}: controller pass over {args.pipelines} pipelines ...", flush=True)
            report["controller_pass"][name] = controller_pass(fresh, args.pipelines)

    names = list(report["ops"]["sqlite"])
    width = max(len(name) for name in names)
    print(
        f"\n{'store operation (us/call)':<{width}}  {'sqlite p50':>10} {'p95':>8}  "
        f"{'postgres p50':>12} {'p95':>8}"
    )
    for name in names:
        lite, pg = report["ops"]["sqlite"][name], report["ops"]["postgres"][name]
        print(
            f"{name:<{width}}  {lite['median_us']:>10.0f} {lite['p95_us']:>8.0f}  "
            f"{pg['median_us']:>12.0f} {pg['p95_us']:>8.0f}"
        )
    print(f"\n{'controller pass (s)':<{width}}  {'sqlite':>10} {'':>8}  {'postgres':>12}")
    for key in ("apply_s", "tick_pass_s", "watchdog_pass_s"):
        lite, pg = report["controller_pass"]["sqlite"], report["controller_pass"]["postgres"]
        label = f"{key.removesuffix('_s')} ({args.pipelines} pipelines)"
        print(f"{label:<{width}}  {lite[key]:>10.3f} {'':>8}  {pg[key]:>12.3f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
