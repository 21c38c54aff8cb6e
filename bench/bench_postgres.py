"""PostgreSQL next to SQLite: store operation costs and one controller pass over many pipelines.

Not a test: it prints a table and writes ``bench/results/postgres.json`` (or ``--out DIR``).
Run it with a server::

    INTERLOCK_TEST_POSTGRES_URL=postgresql://USER@127.0.0.1:PORT/DB \\
        .venv/bin/python bench/bench_postgres.py [--ops 300] [--pipelines 10000] [--quick]

or start a throwaway cluster first (``scripts/_postgres.sh``, as ``scripts/test`` does; that
cluster runs with ``fsync=off``, so its write costs are lower than a durable server's)::

    bash -c 'source scripts/_postgres.sh && start_test_postgres && \
        .venv/bin/python bench/bench_postgres.py'

(``bench/run_all`` does that for you.) Without a server it prints a note and writes a
result marked ``skipped``. The server's ``fsync`` and ``synchronous_commit`` settings are
recorded with the results; SQLite is the baseline, measured side by side in the same run.

Store operations (single thread, ``--ops`` calls each, median and p95 of one call): create_run,
the run's compare-and-set, the CAS with its 3 events (one transaction on PostgreSQL), a sensor
snapshot of 20 sensors (``get_sensors``), one event append, one sensor write. The controller
pass applies ``--pipelines`` sensor-driven pipelines and times ``interlock run``'s every-tick
pass (``LocalRuntime.run_once``, ``--passes`` times: median and spread) and its minute pass
with the watchdog and SLA checks. Each benchmark gets a fresh schema (PostgreSQL) or file
(SQLite, ``synchronous=FULL``). No target of issue #13 is measured here (the 10 000-pipeline
targets are bench_controller.py's): ``targets`` is empty.
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import summary, table, write_results

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.runs import NextAction, Run, RunStatus
from interlock_core.runtime import LocalRuntime
from interlock_core.storage import Store, open_store, redact_url
from tests.scenarios.harness import PipelineSetStub

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


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


def store_ops(fresh: Callable[[], Any], ops: int) -> dict[str, dict[str, Any]]:
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
            **summary(samples),
            "p95": sorted(samples)[max(0, int(len(samples) * 0.95) - 1)],
            "unit": "us",
        }
        for name, samples in results.items()
    }


def controller_pass(fresh: Callable[[], Any], pipelines: int, passes: int) -> dict[str, Any]:
    """Seconds of controller passes over ``pipelines`` sensor-driven pipelines."""
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
        ticks = []
        for _ in range(passes):
            clock.advance(dt.timedelta(seconds=1))
            started = time.perf_counter()
            runtime.run_once()
            ticks.append(time.perf_counter() - started)
        clock.advance(dt.timedelta(minutes=1))
        started = time.perf_counter()
        runtime.run_once(force_checks=True)
        minute = time.perf_counter() - started
    return {
        "pipelines": pipelines,
        "apply_s": applied,
        "tick_pass_s": summary(ticks),
        "watchdog_pass_s": minute,
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
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return fresh


def main(argv: list[str] | None = None) -> None:
    """Benchmark SQLite and PostgreSQL, print a table, write ``postgres.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300, help="calls per store operation")
    parser.add_argument("--pipelines", type=int, default=10_000, help="pipelines in the pass")
    parser.add_argument("--passes", type=int, default=5, help="tick passes timed")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("INTERLOCK_TEST_POSTGRES_URL", ""),
        help="server URL (default: $INTERLOCK_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.pipelines, args.passes = 30, 100, 3
    if not args.postgres:
        note = "no PostgreSQL server: pass --postgres URL or set INTERLOCK_TEST_POSTGRES_URL"
        print(f"skipped: {note}")
        write_results("postgres", {"skipped": note, "targets": []}, args.out)
        return
    report: dict[str, Any] = {
        "postgres": redact_url(args.postgres),
        "ops": {},
        "controller_pass": {},
        "quick": args.quick,
        "targets": [],
    }
    import psycopg

    with psycopg.connect(args.postgres, autocommit=True, connect_timeout=10) as conn:
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
            report["controller_pass"][name] = controller_pass(fresh, args.pipelines, args.passes)

    lite_ops, pg_ops = report["ops"]["sqlite"], report["ops"]["postgres"]
    rows = [
        [
            name,
            lite_ops[name]["median"],
            lite_ops[name]["p95"],
            pg_ops[name]["median"],
            pg_ops[name]["p95"],
        ]
        for name in lite_ops
    ]
    print()
    print(table(["store operation (us/call)", "sqlite p50", "p95", "postgres p50", "p95"], rows))
    lite, pg = report["controller_pass"]["sqlite"], report["controller_pass"]["postgres"]
    rows = [
        [f"apply ({args.pipelines} pipelines)", lite["apply_s"], pg["apply_s"]],
        [
            f"tick pass (median of {args.passes})",
            lite["tick_pass_s"]["median"],
            pg["tick_pass_s"]["median"],
        ],
        ["watchdog pass", lite["watchdog_pass_s"], pg["watchdog_pass_s"]],
    ]
    print()
    print(table(["controller pass (s)", "sqlite", "postgres"], rows))
    write_results("postgres", report, args.out)


if __name__ == "__main__":
    main()
