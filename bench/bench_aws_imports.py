"""Cold-start cost of the AWS handlers: each handler module imported in a fresh interpreter.

Not a timed test. For each ``aws_runtime.handlers.<name>`` module: the median wall time of 10
fresh ``python -c "import ..."`` processes, next to ``python -c "import boto3"`` (the floor
every Python Lambda that talks to AWS pays), and the same with what the first invocation
adds (``import boto3`` and the engine's modules). Prints a table and writes
bench/results/aws_imports.json. ``--check`` exits 1 when a handler's import exceeds 1.5x
boto3's.

    .venv/bin/python bench/bench_aws_imports.py [--repeat 10] [--check]
"""

import argparse
import json
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


def cold(statement: str, repeat: int) -> float:
    """Median seconds of ``python -c statement`` in fresh interpreters."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", statement], cwd=ROOT, check=True, timeout=120
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeat: int) -> dict[str, object]:
    """Median cold-import times of boto3 and of every handler module."""
    baseline = cold("import boto3", repeat)
    empty = cold("pass", repeat)
    handlers = {}
    for name in HANDLERS:
        module = f"aws_runtime.handlers.{name}"
        handlers[name] = {
            "import": cold(f"import {module}", repeat),
            "import_and_first_use": cold(f"import {module}; {FIRST_USE}", repeat),
        }
    return {
        "python": sys.version.split()[0],
        "repeat": repeat,
        "interpreter_start": empty,
        "boto3": baseline,
        "handlers": handlers,
        "limit_ratio": LIMIT,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 above 1.5x boto3")
    args = parser.parse_args()
    result = measure(args.repeat)
    boto3_time = float(result["boto3"])  # type: ignore[arg-type]
    print(f"python -c pass       {float(result['interpreter_start']) * 1000:7.0f} ms")  # type: ignore[arg-type]
    print(f"import boto3         {boto3_time * 1000:7.0f} ms")
    worst = 0.0
    for name, times in result["handlers"].items():  # type: ignore[attr-defined]
        ratio = times["import"] / boto3_time
        worst = max(worst, ratio)
        print(
            f"{name:<20} {times['import'] * 1000:7.0f} ms  ({ratio:4.2f}x boto3)"
            f"   + first use {times['import_and_first_use'] * 1000:7.0f} ms"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "aws_imports.json").write_text(json.dumps(result, indent=2) + "\n")
    return 1 if args.check and worst > LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
