"""Cold-start cost of the AWS handlers: each handler module imported in a fresh interpreter.

Not a timed test. For each ``aws_runtime.handlers.<name>`` module: the median wall and CPU
time of 10 fresh ``python -c "import ..."`` processes, next to ``python -c "import boto3"``
(the floor every Python Lambda that talks to AWS pays), and the same with what the first
invocation adds (``import boto3`` and the engine's modules). Prints a table and writes
bench/results/aws_imports.json. ``--check`` exits 1 when a handler's import costs more than
1.5x boto3's CPU time (CPU, not wall time, so a busy machine does not decide).

    .venv/bin/python bench/bench_aws_imports.py [--repeat 10] [--check]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = (
    "stream_router",
    "orchestrator",
    "sla_monitor",
    "watchdog",
    "event_sink",
    "alert_dispatcher",
)
LIMIT = 1.5
FIRST_USE = "import boto3, interlock_core.runtime, interlock_core.steps, interlock_core.watchdog"


def run_once(statement: str) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh ``python -c statement``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True, timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(repeat: int) -> dict[str, object]:
    """Median cold-import wall and CPU times of boto3 and of every handler module.

    The statements take turns (round robin), so a busy machine slows all of them alike.
    """
    statements = {"pass": "pass", "boto3": "import boto3"}
    for name in HANDLERS:
        module = f"aws_runtime.handlers.{name}"
        statements[name] = f"import {module}"
        statements[f"{name}+first_use"] = f"import {module}; {FIRST_USE}"
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in statements}
    for _ in range(repeat):
        for key, statement in statements.items():
            samples[key].append(run_once(statement))
    medians = {
        key: {
            "wall": statistics.median(wall for wall, _ in values),
            "cpu": statistics.median(cpu for _, cpu in values),
        }
        for key, values in samples.items()
    }
    return {
        "python": sys.version.split()[0],
        "repeat": repeat,
        "load_average": os.getloadavg()[0],
        "medians": medians,
        "limit_ratio": LIMIT,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 above 1.5x boto3")
    args = parser.parse_args()
    result = measure(args.repeat)
    medians = result["medians"]
    base = medians["boto3"]  # type: ignore[index]
    print(f"load average {result['load_average']:.1f}; medians of {args.repeat} fresh interpreters")
    print(f"{'':<34}{'wall ms':>9}{'cpu ms':>9}{'cpu vs boto3':>14}")
    worst = 0.0
    for key, times in medians.items():  # type: ignore[attr-defined]
        ratio = times["cpu"] / base["cpu"]
        if key in HANDLERS:
            worst = max(worst, ratio)
        print(f"{key:<34}{times['wall'] * 1000:9.0f}{times['cpu'] * 1000:9.0f}{ratio:13.2f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "aws_imports.json").write_text(json.dumps(result, indent=2) + "\n")
    return 1 if args.check and worst > LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
