"""Engine benchmarks: how fast runs move through the lifecycle, and what a gate costs.

Not a test. Prints a table and writes bench/results/engine.json.

    .venv/bin/python bench/bench_engine.py [--runs 500]
"""

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["memory"] = lifecycle("memory://", args.runs)
        results["sqlite"] = lifecycle(f"sqlite:///{tmp}/bench.db", args.runs)
    results["gate"] = gate(args.iterations)
    print(f"{'backend':<8} {'open/s':>9} {'gate+submit/s':>14} {'poll->done/s':>13} {'ms/run':>8}")
    for backend in ("memory", "sqlite"):
        r = results[backend]
        print(
            f"{backend:<8} {r['open_per_s']:>9.0f} {r['gate_and_submit_per_s']:>14.0f} "
            f"{r['poll_to_success_per_s']:>13.0f} {r['end_to_end_ms_per_run']:>8.2f}"
        )
    g = results["gate"]
    print(
        f"gate of {len(RULES)} rules: {g['evaluations_per_s']:.0f} evaluations/s, "
        f"{g['us_per_rule']:.1f} us/rule"
    )
    out = Path(__file__).with_name("results") / "engine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
