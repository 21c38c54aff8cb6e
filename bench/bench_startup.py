"""Start-up cost of ``interlock`` commands, against ``python -c pass`` and ``import boto3``.

Fresh processes, interleaved (each round runs every command once, so a busy moment slows
all of them alike): ``python -c pass``, ``python -c "import boto3"``, ``interlock --help``,
``interlock emit`` (a real write into a temporary SQLite store with one pipeline applied),
``interlock emit`` whose trigger passes and opens a run (each round on a fresh copy of a store
prepared once, copied outside the timed part), ``interlock evaluate`` and ``interlock status``.
Wall and CPU (user + system) medians with their spread; ratios to ``import boto3`` per round,
then the median ratio.

Targets (issue 13): ``interlock emit`` (also the emit that opens a run) and ``interlock --help``
<= 1.0x ``import boto3``, for wall and CPU alike.

    .venv/bin/python bench/bench_startup.py              # 15 rounds
    .venv/bin/python bench/bench_startup.py --quick      # 3 rounds
    .venv/bin/python bench/bench_startup.py --baseline-src DIR   # also an older checkout
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import child_process, installed_env, summary, table, write_results

PIPELINE = """\
pipeline:
  id: orders
schedule:
  trigger:
    key: ready
    check: equals
    field: status
    value: done
validation:
  trigger: ALL
  rules:
    - key: ready
      check: exists
    - key: ready
      field: rows
      check: gte
      value: 1
job:
  type: command
  config:
    command: ["true"]
"""
OPENS = "interlock emit, opens a run"
TARGETS = ("interlock --help", "interlock emit", OPENS)
OPENED = b"opened the run of"


def commands(store: str, cli: list[str], label: str = "interlock") -> dict[str, list[str]]:
    """The ``interlock`` commands measured, named ``<label> <command>``."""
    return {
        f"{label} --help": [*cli, "--help"],
        f"{label} emit": [*cli, "--store", store, "emit", "orders", "ready", "status=pending"],
        f"{label} evaluate": [*cli, "--store", store, "evaluate", "orders"],
        f"{label} status": [*cli, "--store", store, "status"],
    }


def opens_a_run(cli: list[str], store: Path) -> list[str]:
    """An emit whose trigger passes: on a store with no run yet, it opens the current period's."""
    return [*cli, "--store", f"sqlite:///{store}", "emit", "orders", "ready", "status=done"]


def run_opening(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one emit that opens a run, checked from its output."""
    output = cwd / "opens.out"
    with output.open("wb") as sink:
        seconds = child_process(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    text = output.read_bytes()
    if OPENED not in text:
        raise SystemExit(f"the emit did not open a run: {text.decode(errors='replace')}")
    return seconds


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one process; ``evaluate`` exits 1 (not ready), which is fine.

    ``cwd`` is a neutral folder: ``python -m`` puts the working directory first on sys.path,
    which would load this checkout's code in place of ``--baseline-src``.
    """
    return child_process(
        argv,
        allowed=(0, 1) if "evaluate" in argv else (0,),
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also time the CLI of an older checkout (a folder holding interlock_core/)",
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    python = sys.executable
    cli = [python, "-m", "interlock_core.cli"]
    script = Path(python).with_name("interlock")
    if script.exists():
        cli = [str(script)]
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-startup-"))
    env = installed_env()  # .pyc files like an installed package; the apply below warms up
    try:
        (root / "pipelines").mkdir()
        (root / "pipelines" / "orders.yaml").write_text(PIPELINE)
        store = f"sqlite:///{root / 'interlock.db'}"
        subprocess.run(
            [*cli, "--store", store, "apply", str(root / "pipelines")],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([python, "-c", "pass"], env),
            "import boto3": ([python, "-c", "import boto3"], env),
        }
        for name, argv in commands(store, cli).items():
            runs[name] = (argv, env)
        # A store prepared once (pipeline applied, no run): each round copies it afresh.
        prepared, fresh = root / "prepared.db", root / "fresh.db"
        shutil.copyfile(root / "interlock.db", prepared)
        runs[OPENS] = (opens_a_run(cli, fresh), env)
        if args.baseline_src is not None:
            old_env = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
            old_cli = [python, "-m", "interlock_core.cli"]
            for name, argv in commands(store, old_cli, "baseline").items():
                runs[name] = (argv, old_env)

        def measure(name: str) -> tuple[float, float]:
            argv, run_env = runs[name]
            if name == OPENS:
                for leftover in root.glob("fresh.db*"):  # the last round's db, -wal and -shm
                    leftover.unlink()
                shutil.copyfile(prepared, fresh)  # not timed: a store with no run yet
                return run_opening(argv, run_env, root)
            return run_once(argv, run_env, root)

        for name in runs:  # warm the page cache and the .pyc files
            measure(name)
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name in runs:
                seconds, cpu_seconds = measure(name)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    boto_wall, boto_cpu = wall["import boto3"], cpu["import boto3"]
    results: dict[str, Any] = {"rounds": rounds, "commands": {}}
    rows = []
    for name in runs:
        wall_ratio = [w / b for w, b in zip(wall[name], boto_wall, strict=True)]
        cpu_ratio = [c / b for c, b in zip(cpu[name], boto_cpu, strict=True)]
        entry = {
            "wall_s": summary(wall[name]),
            "cpu_s": summary(cpu[name]),
            "wall_ratio_to_boto3": summary(wall_ratio),
            "cpu_ratio_to_boto3": summary(cpu_ratio),
        }
        results["commands"][name] = entry
        rows.append(
            (
                name,
                statistics.median(wall[name]) * 1000,
                f"{min(wall[name]) * 1000:.0f}-{max(wall[name]) * 1000:.0f}",
                statistics.median(cpu[name]) * 1000,
                f"{min(cpu[name]) * 1000:.0f}-{max(cpu[name]) * 1000:.0f}",
                statistics.median(wall_ratio),
                statistics.median(cpu_ratio),
            )
        )
    print(
        table(
            ["command", "wall ms", "wall range", "cpu ms", "cpu range", "wall/boto3", "cpu/boto3"],
            rows,
        )
    )
    targets = []
    for name in TARGETS:
        entry = results["commands"][name]
        for kind in ("wall", "cpu"):
            ratio = entry[f"{kind}_ratio_to_boto3"]
            targets.append(
                {
                    "name": f"{name} {kind} / import boto3",
                    "value": ratio["median"],
                    "unit": "x",
                    "limit": 1.0,
                    "met": ratio["median"] <= 1.0,
                    "spread": {k: ratio[k] for k in ("p10", "p90", "min", "max")},
                }
            )
    results["targets"] = targets
    write_results("bench_startup", results, args.out)


if __name__ == "__main__":
    main()
