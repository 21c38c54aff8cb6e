"""Engine benchmarks: how fast runs move through the lifecycle, and what a gate costs.

Not a test. Prints a table and writes ``bench/results/engine.json`` (or ``--out DIR``).
The lifecycle runs on memory:// (the baseline: no storage cost) and on SQLite side by side,
``--repeat`` times each, taking turns; the table shows medians and the spread.

    .venv/bin/python bench/bench_engine.py [--runs 500] [--repeat 3] [--quick] [--out DIR]

No target of issue #13 is measured here (the gate's target is bench_rules.py's), so the JSON's
``targets`` list is empty; the ratio SQLite/memory is recorded to watch the storage cost.
"""

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import summary, table, write_results

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.rules import evaluate_rules
from interlock_core.sensors import Sensor
from interlock_core.storage import open_store
from tests.scenarios.harness import PipelineSetStub

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
RULES = [
    {"key": "upstream", "check": "equals", "field": "status", "value": "ready"},
    {"key": "rows", "check": "gte", "field": "count", "value": 1000},
    {"key": "rows", "check": "lt", "field": "errors", "value": 5},
    {"key": "fresh", "check": "age_lt", "field": "updatedAt", "value": "2h"},
    {"key": "stats", "check": "exists", "field": "a.b"},
    {"key": "region", "check": "in", "field": "name", "value": ["eu", "us"]},
]


class InstantRunner:
    job_type = "command"

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        return JobHandle(token, {})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


def lifecycle(store_url: str, runs: int) -> dict[str, float]:
    clock = ManualClock(NOW)
    engine = Interlock(open_store(store_url), {"command": InstantRunner()}, clock)
    document = {
        "pipeline": {"id": "bench"},
        "schedule": {"period": "hourly"},
        "validation": {"rules": RULES},
        "job": {"type": "command", "config": {"command": "true"}},
    }
    engine.apply(PipelineSetStub({"bench": Pipeline.model_validate(document)}, {}))
    for key, data in {
        "upstream": {"status": "ready"},
        "rows": {"count": 5000, "errors": 0},
        "fresh": {"updatedAt": NOW.isoformat()},
        "stats": {"a": {"b": 1}},
        "region": {"name": "eu"},
    }.items():
        engine.emit("bench", key, data)
    started = time.perf_counter()
    for i in range(runs):
        engine.open_run("bench", (NOW - dt.timedelta(hours=i + 1)).strftime("%Y-%m-%dT%H"))
    opened = time.perf_counter()
    while engine.advance_due(limit=200):
        pass
    submitted = time.perf_counter()
    clock.advance(dt.timedelta(minutes=2))
    while engine.advance_due(limit=200):
        pass
    finished = time.perf_counter()
    assert all(run.status.value == "SUCCEEDED" for run in engine.status("bench"))
    engine.store.close()
    return {
        "open_per_s": runs / (opened - started),
        "gate_and_submit_per_s": runs / (submitted - opened),
        "poll_to_success_per_s": runs / (finished - submitted),
        "end_to_end_ms_per_run": 1000 * (finished - started) / runs,
    }


def gate(iterations: int) -> dict[str, float]:
    validation = Pipeline.model_validate(
        {"pipeline": {"id": "g"}, "validation": {"rules": RULES}}
    ).validation
    sensors = {
        "upstream": Sensor("upstream", {"status": "ready"}, NOW, 1),
        "rows": Sensor("rows", {"count": 5000, "errors": 0}, NOW, 2),
        "fresh": Sensor("fresh", {"updatedAt": NOW.isoformat()}, NOW, 3),
        "stats": Sensor("stats", {"a": {"b": 1}}, NOW, 4),
        "region": Sensor("region", {"name": "eu"}, NOW, 5),
    }
    started = time.perf_counter()
    for _ in range(iterations):
        evaluate_rules(validation, sensors, NOW)
    elapsed = time.perf_counter() - started
    return {
        "evaluations_per_s": iterations / elapsed,
        "us_per_rule": 1e6 * elapsed / iterations / len(RULES),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=500, help="runs per backend (default 500; quick 40)"
    )
    parser.add_argument(
        "--iterations", type=int, default=20000, help="gate evaluations (default 20000; quick 2000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per backend (default 3; quick 1)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.iterations, args.repeat = 40, 2000, 1
    rounds: dict[str, list[dict[str, float]]] = {"memory": [], "sqlite": []}
    gates: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.repeat):  # taking turns: a busy moment slows both alike
            rounds["memory"].append(lifecycle("memory://", args.runs))
            rounds["sqlite"].append(lifecycle(f"sqlite:///{tmp}/bench-{index}.db", args.runs))
            gates.append(gate(args.iterations))
    metrics = ["open_per_s", "gate_and_submit_per_s", "poll_to_success_per_s"]
    metrics.append("end_to_end_ms_per_run")
    results: dict[str, Any] = {"runs": args.runs, "repeat": args.repeat, "quick": args.quick}
    for backend, samples in rounds.items():
        results[backend] = {m: summary([s[m] for s in samples]) for m in metrics}
    results["gate"] = {
        m: summary([g[m] for g in gates]) for m in ("evaluations_per_s", "us_per_rule")
    }
    ratios = [
        s["end_to_end_ms_per_run"] / m["end_to_end_ms_per_run"]
        for s, m in zip(rounds["sqlite"], rounds["memory"], strict=True)
    ]
    results["sqlite_vs_memory_end_to_end"] = summary(ratios)
    results["targets"] = []
    rows = [
        [backend, *(results[backend][m]["median"] for m in metrics)]
        for backend in ("memory", "sqlite")
    ]
    print(table(["backend", "open/s", "gate+submit/s", "poll->done/s", "ms/run"], rows))
    g = results["gate"]
    print(
        f"gate of {len(RULES)} rules: {g['evaluations_per_s']['median']:.0f} evaluations/s, "
        f"{g['us_per_rule']['median']:.1f} us/rule; sqlite/memory end to end "
        f"{results['sqlite_vs_memory_end_to_end']['median']:.2f}x "
        f"(medians of {args.repeat})"
    )
    write_results("engine", results, args.out)


if __name__ == "__main__":
    main()
