"""Runs every ``bench/bench_*.py`` into one results directory and prints every target.

Called by ``bench/run_all`` (which prepares the venv and a PostgreSQL server); it can also be
run directly with the venv's Python. Each benchmark runs in its own process with ``--out DIR``
(and ``--quick`` when given), one after another so they do not slow each other down. Every
benchmark writes ``DIR/<name>.json`` with a ``"targets"`` list; the final table shows each
target's value, limit and whether it was met.

Exit code: 0 when every benchmark ran — a missed target is a result to report, not a crash —
and 1 when one crashed (non-zero exit) or wrote no JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import RESULTS, table  # noqa: E402


def discover(only: str | None = None, directory: Path = BENCH) -> list[Path]:
    """Every benchmark script, in name order (``bench/bench_*.py``)."""
    scripts = sorted(directory.glob("bench_*.py"))
    return [path for path in scripts if not only or only in path.stem]


def written_since(out: Path, started: float) -> list[Path]:
    """The JSON files in ``out`` written at or after ``started`` (this benchmark's)."""
    return sorted(path for path in out.glob("*.json") if path.stat().st_mtime >= started - 0.001)


def run_one(script: Path, out: Path, quick: bool, timeout: float | None) -> dict[str, Any]:
    """Run one benchmark; returns its name, exit status, seconds and the JSON it wrote."""
    argv = [sys.executable, str(script), "--out", str(out)]
    if quick:
        argv.append("--quick")
    env = {**os.environ, "INTERLOCK_BENCH_OUT": str(out)}
    print(f"\n== {script.name} {'--quick ' if quick else ''}--out {out}", flush=True)
    started = time.time()
    try:
        completed = subprocess.run(
            argv, cwd=script.parent.parent, env=env, timeout=timeout, check=False
        )
        code = completed.returncode
        problem = f"exit code {code}" if code else ""
    except subprocess.TimeoutExpired:
        code, problem = -1, f"timed out after {timeout:.0f} s"
    seconds = time.time() - started
    documents = []
    for path in written_since(out, started):
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            problem = problem or f"{path.name} is not JSON: {exc}"
    if not problem and not documents:
        problem = f"wrote no JSON into {out}"
    return {"script": script.name, "problem": problem, "seconds": seconds, "documents": documents}


def target_rows(outcomes: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per target of every benchmark, and one per crash or skip."""
    rows: list[list[Any]] = []
    for outcome in outcomes:
        if outcome["problem"]:
            rows.append([outcome["script"], "CRASHED", outcome["problem"], "", "", "", ""])
            continue
        for document in outcome["documents"]:
            # Some benchmarks name themselves bench_x, others x: one column reads alike.
            name = str(document.get("benchmark", outcome["script"])).removeprefix("bench_")
            if document.get("skipped"):
                rows.append([name, "(skipped)", str(document["skipped"]), "", "", "", ""])
                continue
            targets = document.get("targets") or []
            if not targets:
                rows.append([name, "(no targets)", "", "", "", "", ""])
            for target in targets:
                value = target.get("value")
                spread = target.get("spread") or {}
                spread_text = (
                    f"{_number(spread['min'])}..{_number(spread['max'])}"
                    if "min" in spread and "max" in spread
                    else ""
                )
                rows.append(
                    [
                        name,
                        target.get("name", "?"),
                        _number(value),
                        spread_text,
                        target.get("unit", ""),
                        f"<= {_number(target.get('limit'))}",
                        "yes" if target.get("met") else "NO",
                    ]
                )
    return rows


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def main(argv: list[str] | None = None, directory: Path = BENCH) -> int:
    """Run the benchmarks in ``directory``; returns the exit code (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds per bench")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results dir ({RESULTS})")
    parser.add_argument("--only", help="run only the benchmarks whose name contains this")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    parser.add_argument("--no-postgres", action="store_true", help="(handled by bench/run_all)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    scripts = discover(args.only, directory)
    if not scripts:
        print(f"no benchmark matches {args.only!r}", file=sys.stderr)
        return 1
    if not os.environ.get("INTERLOCK_TEST_POSTGRES_URL"):
        print("note: INTERLOCK_TEST_POSTGRES_URL is unset: the PostgreSQL column is skipped")
    outcomes = [run_one(script, out, args.quick, args.timeout) for script in scripts]
    print(f"\n== every target ({'quick' if args.quick else 'full'} sizes; results in {out})")
    headers = ["benchmark", "target", "median", "spread", "unit", "limit", "met"]
    print(table(headers, target_rows(outcomes)))
    for outcome in outcomes:
        print(f"{outcome['script']}: {outcome['seconds']:.1f} s {outcome['problem']}".rstrip())
    crashed = [outcome["script"] for outcome in outcomes if outcome["problem"]]
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
