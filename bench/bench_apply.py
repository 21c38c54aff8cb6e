"""``interlock validate`` and ``interlock apply`` at scale (issue #13, item 5).

Generates realistic pipeline files (a mix of cron and trigger schedules, rule sets, job types
and calendars) in a temporary directory and measures, each against the baseline
implementation side by side and interleaved:

* ``validate``: ``interlock validate DIR`` (CLI, a child process);
* first apply: ``interlock apply DIR`` into an empty SQLite store;
* re-apply unchanged: ``interlock apply DIR`` again (CLI) and ``load + Interlock.apply``
  in-process (engine level, timed inside a child process so each side imports its own code);
* re-apply with 1% of the files changed (CLI);
* the watcher's fingerprint walk (``PipelineWatcher.fingerprint``, in-process).

The baseline is the code at ``--baseline-ref`` (default 98523ec), exported with
``git archive`` and run with ``PYTHONPATH`` pointing at it.

Run: ``.venv/bin/python bench/bench_apply.py`` (10 000 files) or ``--quick`` (300 files).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ROOT,
    interleaved,
    summary,
    table,
    write_results,
)

CALENDARS = {
    "us-federal": {"dates": ["2026-01-01", "2026-07-03", "2026-12-25", "2027-01-01"]},
    "uk-bank": {"dates": ["2026-04-03", "2026-05-04", "2026-12-28"]},
    "weekends-off": {"days": ["saturday", "sunday"]},
    "month-end": {"dates": [f"2026-{m:02d}-28" for m in range(1, 13)]},
}
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Europe/Berlin"]


def pipeline_text(number: int, revision: int = 0) -> str:
    """One realistic pipeline file; ``number`` picks its shape, ``revision`` its description."""
    kind = number % 4
    zone = ZONES[number % len(ZONES)]
    rules = [
        ("upstream-complete", "equals", "status", "ready"),
        ("row-count", "gte", "count", 1000 + number % 97),
        ("freshness", "age_lt", "updatedAt", f"{2 + number % 5}h"),
        ("quality", "in", "state", "[complete, partial]"),
        ("schema", "exists", "version", None),
        ("errors", "lte", "errorCount", number % 10),
    ][: 2 + number % 5]
    lines = [
        f"# generated pipeline {number}",
        "pipeline:",
        f"  id: p{number:05d}",
        f"  owner: team-{number % 40}",
        f"  description: generated pipeline {number} revision {revision}",
        "",
        "schedule:",
    ]
    if kind in (0, 1):
        lines += [
            f'  cron: "{number % 60} {number % 24} * * *"',
            f"  timezone: {zone}",
            "  evaluation:",
            "    window: 2h",
            "    interval: 5m",
        ]
        if kind == 1:
            calendar = list(CALENDARS)[number % len(CALENDARS)]
            lines += ["  exclude:", "    weekends: true", f"    calendars: [{calendar}]"]
    else:
        lines += [
            f"  timezone: {zone}",
            "  trigger:",
            f"    key: landed-{number % 50}",
            "    check: equals",
            "    field: status",
            "    value: complete",
            "  evaluation:",
            "    window: 1h",
            "    interval: 1m",
        ]
    lines += ["", "sla:", f'  deadline: "{(number % 12) + 8:02d}:30"', "  expectedDuration: 30m"]
    lines += ["", "validation:", "  trigger: ALL", "  rules:"]
    for key, check, field, value in rules:
        lines += [f"    - key: {key}", f"      check: {check}", f"      field: {field}"]
        if value is not None:
            lines.append(f"      value: {value}")
    job = number % 5
    if job == 0:
        lines += ["", "job:", "  type: command", "  config:"]
        lines += [f'    command: ["python3", "-c", "print({number})"]', "    timeout: 600"]
        lines += ["  maxRetries: 2"]
    elif job == 1:
        lines += ["", "job:", "  type: http", "  config:", "    method: POST"]
        lines += [f"    url: https://jobs.example.com/run/{number}", "  maxRetries: 1"]
    elif job == 2:
        lines += ["", "job:", "  type: glue", "  config:", f"    jobName: etl-{number}"]
    elif job == 3:
        lines += ["", "job:", "  claimTimeout: 6h"]
    if number % 7 == 0:
        lines += ["", "postRun:", "  rules:", "    - key: reconciled", "      check: equals"]
        lines += ["      field: status", "      value: matched", "  driftField: count"]
        lines += ["  driftThreshold: 50"]
    return "\n".join(lines) + "\n"


def generate(directory: Path, count: int) -> Path:
    """Write ``count`` pipeline files and the calendars; returns the pipelines directory."""
    pipelines = directory / "pipelines"
    calendars = pipelines / "calendars"
    calendars.mkdir(parents=True)
    for name, body in CALENDARS.items():
        text = f"name: {name}\n"
        for key, values in body.items():
            text += f"{key}:\n" + "".join(f"  - {value}\n" for value in values)
        (calendars / f"{name}.yaml").write_text(text)
    for number in range(count):
        (pipelines / f"p{number:05d}.yaml").write_text(pipeline_text(number))
    return pipelines


def change_files(pipelines: Path, count: int, share: float, revision: int) -> None:
    """Rewrite ``share`` of the files with a new description (a real content change)."""
    step = max(1, round(1 / share))
    for number in range(0, count, step):
        (pipelines / f"p{number:05d}.yaml").write_text(pipeline_text(number, revision))


def export_baseline(ref: str, into: Path) -> Path:
    """The tree of ``ref`` (``git archive``) in ``into``; returns it."""
    into.mkdir(parents=True, exist_ok=True)
    command = ["git", "archive", "--format=tar", ref]
    archive = subprocess.run(command, cwd=ROOT, capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=120)
    return into


CLI = "import sys; from interlock_core.cli import main; sys.exit(main())"

WORKER = r"""
import json, sys, time
from pathlib import Path
import interlock_core
from interlock_core.config.loader import load_pipelines
from interlock_core.engine import Interlock
from interlock_core.storage import open_store
# The current code skips unchanged files; the baseline has no such loader.
if (Path(interlock_core.__file__).parent / "applying.py").exists():
    from interlock_core.applying import load_changed
else:
    load_changed = lambda engine, folder: load_pipelines(folder)
folder = Path(sys.argv[1]).resolve()
store = sys.argv[2]
repeat = int(sys.argv[3])
engine = Interlock(open_store(store))
samples = []
for _ in range(repeat):
    started = time.perf_counter()
    engine.apply(load_changed(engine, folder), partial=False)
    samples.append(time.perf_counter() - started)
print(json.dumps({"file": interlock_core.__file__, "samples": samples}))
"""


class Side:
    """One implementation: the current tree or the baseline export."""

    def __init__(self, name: str, path: Path, work: Path) -> None:
        self.name = name
        self.env = {**os.environ, "PYTHONPATH": str(path)}
        self.work = work
        probe = "import interlock_core.config.loader as m; print(m.__file__)"
        found = subprocess.run(
            [sys.executable, "-c", probe],
            env=self.env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        if not Path(found).resolve().is_relative_to(path.resolve()):
            raise RuntimeError(f"{name}: imports {found}, not the code in {path}")

    def cli(self, *args: str, check: bool = True) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CLI, *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.name}: interlock {' '.join(args)}: {done.stderr[-2000:]}")
        return elapsed

    def worker(self, pipelines: Path, store: str, repeat: int) -> list[float]:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(pipelines), store, str(repeat)],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: in-process apply: {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return list(result["samples"])


def fingerprint_samples(pipelines: Path, repeat: int) -> list[float]:
    """Wall seconds of the current watcher's fingerprint walk."""
    from interlock_core.engine import Interlock
    from interlock_core.runtime import PipelineWatcher
    from interlock_core.storage.memory import MemoryStore

    watcher = PipelineWatcher(Interlock(MemoryStore()), pipelines)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        watcher.fingerprint()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 files, few repeats")
    parser.add_argument(
        "--files",
        type=int,
        default=None,
        help="number of pipeline files (default 10 000; quick 300)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="repeats per measurement (default 3; quick 2)"
    )
    parser.add_argument(
        "--baseline-ref", default="98523ec", help="git ref of the baseline (default 98523ec)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    args = parser.parse_args()
    count = args.files or (300 if args.quick else 10_000)
    repeat = args.repeat or (2 if args.quick else 3)
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-apply-"))
    try:
        results = run(work, count, repeat, args.baseline_ref)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results("bench_apply", results, args.out)


def run(work: Path, count: int, repeat: int, ref: str) -> dict[str, Any]:
    started = time.perf_counter()
    pipelines = generate(work, count)
    print(f"generated {count} files in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    sides = {
        "current": Side("current", ROOT, work),
        "baseline": Side("baseline", export_baseline(ref, work / "baseline"), work),
    }
    stores = {name: f"sqlite:///{work / f'{name}.db'}" for name in sides}
    calls = {
        name: (lambda s=side: s.cli("validate", str(pipelines))) for name, side in sides.items()
    }
    measured: dict[str, dict[str, list[float]]] = {"validate (CLI)": interleaved(calls, repeat)}

    first: dict[str, list[float]] = {name: [] for name in sides}
    for attempt in range(repeat):
        for name, side in sides.items():
            # The last first apply's store is the one the re-apply measurements start from.
            stores[name] = f"sqlite:///{work / f'first-{name}-{attempt}.db'}"
            first[name].append(side.cli("--store", stores[name], "apply", str(pipelines)))
    measured["first apply (CLI)"] = first
    calls = {
        name: (lambda s=side, n=name: s.cli("--store", stores[n], "apply", str(pipelines)))
        for name, side in sides.items()
    }
    measured["re-apply unchanged (CLI)"] = interleaved(calls, repeat)
    measured["re-apply unchanged (engine)"] = {
        name: side.worker(pipelines, stores[name], repeat) for name, side in sides.items()
    }
    changed: dict[str, list[float]] = {name: [] for name in sides}
    for revision in range(1, repeat + 1):
        change_files(pipelines, count, 0.01, revision)
        for name, side in sides.items():
            changed[name].append(side.cli("--store", stores[name], "apply", str(pipelines)))
    measured["re-apply 1% changed (CLI)"] = changed
    measured["watcher fingerprint (in-process)"] = {
        "current": fingerprint_samples(pipelines, max(repeat, 5))
    }

    rows = []
    report: dict[str, Any] = {}
    for what, by_side in measured.items():
        stats = {name: summary(samples) for name, samples in by_side.items()}
        report[what] = stats
        now = stats["current"]
        before = stats.get("baseline")
        ratio = before["median"] / now["median"] if before else None
        rows.append(
            [
                what,
                now["median"],
                f"{now['min']:.3f}-{now['max']:.3f}",
                before["median"] if before else "-",
                f"{before['min']:.3f}-{before['max']:.3f}" if before else "-",
                f"{ratio:.1f}x" if ratio else "-",
            ]
        )
    print(f"\n{count} pipeline files, {repeat} repeats, baseline {ref}")
    print(table(["measurement (s)", "current", "spread", "baseline", "spread", "speed-up"], rows))
    scale = 10_000 / count

    def target(name: str, what: str, limit: float) -> dict[str, Any]:
        stats = report[what]["current"]
        value = stats["median"]
        return {
            "name": name,
            "value": value,
            "unit": "s",
            "limit": limit / scale,
            "met": value <= limit / scale,
            "spread": {k: stats[k] for k in ("min", "max")},
            "files": count,
        }

    # The issue's limits are for 10 000 files; at other sizes the name says what was measured.
    files = "10k files" if count == 10_000 else f"{count} files (10k-file limit scaled)"
    targets = [
        target(f"validate {files}", "validate (CLI)", 3.0),
        target(f"re-apply unchanged {files}, CLI", "re-apply unchanged (CLI)", 2.0),
        target(f"re-apply unchanged {files}, engine", "re-apply unchanged (engine)", 2.0),
    ]
    return {
        "files": count,
        "repeat": repeat,
        "baseline_ref": ref,
        "results": report,
        "targets": targets,
    }


if __name__ == "__main__":
    main()
