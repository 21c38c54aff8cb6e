"""Cold-start cost of the AWS handlers: each handler module imported in a fresh interpreter.

Not a timed test. For each ``aws_runtime.handlers.<name>`` module: the median wall and CPU
time of 10 fresh ``python -c "import ..."`` processes, next to ``python -c "import boto3"``
(the floor every Python Lambda that talks to AWS pays), and the same with what the first
invocation adds (``import boto3`` and the engine's modules). Prints a table and writes
``bench/results/aws_imports.json`` (or ``--out DIR``). Its target: the costliest handler's
import CPU time at most 1.5x boto3's (CPU, not wall time, so a busy machine does not decide;
the ratio is taken per round, then its median and spread). ``--check`` exits 1 when missed.

    .venv/bin/python bench/bench_aws_imports.py [--repeat 10] [--check] [--quick] [--out DIR]
"""

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import child_process, summary, table, write_results  # noqa: E402

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
    return child_process([sys.executable, "-c", statement], cwd=ROOT)


def measure(repeat: int, first_use: bool = True) -> dict[str, Any]:
    """Cold-import wall and CPU times of boto3 and of every handler module (and, with
    ``first_use``, of each handler plus what its first invocation imports).

    The statements take turns (round robin), so a busy machine slows all of them alike.
    """
    statements = {"pass": "pass", "boto3": "import boto3"}
    for name in HANDLERS:
        module = f"aws_runtime.handlers.{name}"
        statements[name] = f"import {module}"
        if first_use:
            statements[f"{name}+first_use"] = f"import {module}; {FIRST_USE}"
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in statements}
    for _ in range(repeat):
        for key, statement in statements.items():
            samples[key].append(run_once(statement))
    # The target, per round: the costliest handler's CPU over boto3's in the same round.
    worst_ratios = [
        max(samples[name][index][1] for name in HANDLERS) / samples["boto3"][index][1]
        for index in range(repeat)
    ]
    return {
        "repeat": repeat,
        "medians": {
            key: {
                "wall": statistics.median(wall for wall, _ in values),
                "cpu": statistics.median(cpu for _, cpu in values),
                "cpu_spread": summary([cpu for _, cpu in values]),
            }
            for key, values in samples.items()
        },
        "worst_handler_cpu_vs_boto3": summary(worst_ratios),
        "limit_ratio": LIMIT,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--check", action="store_true", help="exit 1 above 1.5x boto3")
    parser.add_argument("--quick", action="store_true", help="1 round, no first use (seconds)")
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 1
    result = measure(args.repeat, first_use=not args.quick)
    medians = result["medians"]
    base = medians["boto3"]
    rows = [
        [key, times["wall"] * 1000, times["cpu"] * 1000, f"{times['cpu'] / base['cpu']:.2f}x"]
        for key, times in medians.items()
    ]
    print(f"medians of {args.repeat} fresh interpreters")
    print(table(["import", "wall ms", "cpu ms", "cpu vs boto3"], rows))
    worst = result["worst_handler_cpu_vs_boto3"]
    result["targets"] = [
        {
            "name": "costliest AWS handler import CPU / import boto3 CPU",
            "value": worst["median"],
            "spread": worst,
            "unit": "x",
            "limit": LIMIT,
            "met": worst["median"] <= LIMIT,
        }
    ]
    result["quick"] = args.quick
    write_results("aws_imports", result, args.out)
    return 1 if args.check and worst["median"] > LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
