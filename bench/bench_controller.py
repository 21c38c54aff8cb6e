"""The local controller at scale: an idle pass, a watchdog pass, every due run advanced, RSS.

Builds ``--pipelines`` pipelines (default 10 000; ``--quick``: 300) in a temporary SQLite
store — a mix of hourly crons, daily crons in several time zones and sensor-driven pipelines,
each with a few validation rules — and measures ``interlock run``'s loop
(``LocalRuntime.run_once``) on them:

* idle pass: a pass with nothing to do (median and spread over ``--passes`` passes);
* watchdog pass: the minute pass with every watchdog and SLA check;
* all due: every pipeline has a run due for evaluation whose gate passes; the wall time of
  back-to-back passes until no run is due (an instant job runner, as
  ``bench/bench_postgres.py``'s controller pass), and how many passes that took;
* peak RSS of the controller process.

Each measurement runs in a child process (so neither the parent's memory nor another
measurement's caches count), for this tree and for ``--baseline-ref`` (default ``98523ec``,
the implementation before issue #13) exported with ``git archive``, taking turns. The child
uses only stable public API (``Interlock``, ``open_store``, ``LocalRuntime``, ``Pipeline``),
so the same code runs against both trees.

    .venv/bin/python bench/bench_controller.py [--quick] [--pipelines N] [--out DIR]
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T0 = dt.datetime(2026, 3, 4, 7, 20, 30, tzinfo=dt.UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def pipeline_document(index: int) -> dict[str, Any]:
    """One pipeline of the mix: 45 % hourly cron, 45 % daily cron in a zone, 10 % sensor."""
    rules = [
        {"key": "upstream", "check": "equals", "field": "status", "value": "ready"},
        {"key": "upstream", "check": "gte", "field": "count", "value": 1},
        {"key": "quality", "check": "lte", "field": "nulls", "value": 10},
    ]
    document: dict[str, Any] = {
        "pipeline": {"id": f"p{index:05d}"},
        "validation": {"trigger": "ALL", "rules": rules},
        "job": {"type": "command", "config": {"command": ["true"]}},
    }
    kind = index % 20
    if kind < 9:
        document["schedule"] = {"cron": f"{index % 60} * * * *", "timezone": "UTC"}
    elif kind < 18:
        zone = ZONES[index % len(ZONES)]
        document["schedule"] = {"cron": f"{index % 60} {index % 24} * * *", "timezone": zone}
        if index % 3 == 0:
            document["sla"] = {"deadline": f"{(index % 24 + 2) % 24:02d}:00", "timezone": zone}
    else:
        document["schedule"] = {
            "timezone": "UTC",
            "trigger": {"key": "upstream", "check": "equals", "field": "status", "value": "ready"},
        }
    return document


# ---------------------------------------------------------------------------- child side


class InstantRunner:
    """A job runner whose jobs start and succeed at once (no process, no network).

    It stands in for the ``command`` runner, whose target deduplicates a repeated submit on
    the attempt token (it adopts the job of the same token), so it says so: the controller
    groups the writes of such runs (``interlock_core/advancing.py``). ``--no-dedup`` measures
    a runner that cannot (HTTP, Lambda, EMR…), whose runs keep one commit per step.
    """

    job_type = "command"
    dedups_on_token = True

    def submit(self, job: Any, run: Any, token: str) -> Any:
        from interlock_core.jobs.base import JobHandle

        return JobHandle(run_id=f"job-{token}", metadata={})

    def status(self, handle: Any) -> Any:
        from interlock_core.jobs.base import JobState, JobStatus

        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: Any) -> bool:
        return True


class _PipelineSet:
    """The shape ``Interlock.apply`` reads from a loaded directory."""

    def __init__(self, pipelines: dict[str, Any]) -> None:
        self.pipelines = pipelines
        self.calendars: dict[str, Any] = {}
        self.errors: list[Any] = []
        self.sources = {pid: f"{pid}.yaml" for pid in pipelines}


def _child(args: argparse.Namespace) -> None:
    """Build the store, then measure what ``args.measure`` names; print JSON on stdout."""
    import resource

    from interlock_core.clock import ManualClock
    from interlock_core.config.models import Pipeline
    from interlock_core.engine import Interlock
    from interlock_core.runtime import LocalRuntime
    from interlock_core.storage import open_store

    if args.measure == "build":
        # The pipelines are applied in a process of their own: the controller's peak RSS is
        # the controller's, not that of building 10 000 configs.
        store = open_store(f"sqlite:///{args.db}")
        engine = Interlock(store, {}, ManualClock(T0 - dt.timedelta(hours=1)))
        models = {}
        for index in range(args.pipelines):
            document = pipeline_document(index)
            models[document["pipeline"]["id"]] = Pipeline.model_validate(document)
        engine.apply(_PipelineSet(models), remove_missing=False)
        store.close()
        print(json.dumps({}))
        return
    store = open_store(f"sqlite:///{args.db}?synchronous={args.synchronous}")
    clock = ManualClock(T0)
    # A fresh engine, as ``interlock run`` starts: nothing parsed or cached yet.
    runner = InstantRunner()
    if args.no_dedup:
        runner.dedups_on_token = False
    engine = Interlock(store, {"command": runner}, clock)  # type: ignore[dict-item]
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    result: dict[str, Any] = {}
    started = time.perf_counter()
    runtime.run_once(force_checks=True)  # the first pass: catch-up, opens this hour's runs
    result["first_pass_s"] = time.perf_counter() - started
    # Settle: advance what the first pass opened until nothing is due (evaluations wait).
    for _ in range(50):
        if not store.due_runs(clock.now(), 1):
            break
        runtime.run_once()
    if args.measure == "idle":
        samples = []
        for _ in range(args.passes):
            clock.advance(dt.timedelta(milliseconds=250))
            started = time.perf_counter()
            runtime.run_once()
            samples.append(time.perf_counter() - started)
        result["idle_pass_s"] = samples
        due_left = len(store.due_runs(clock.now(), 10))
        result["due_after_idle"] = due_left
    elif args.measure == "watchdog":
        samples = []
        for _ in range(args.watchdog_passes):
            clock.advance(dt.timedelta(minutes=1))
            started = time.perf_counter()
            runtime.run_once(force_checks=True)
            samples.append(time.perf_counter() - started)
        result["watchdog_pass_s"] = samples
    elif args.measure == "due":
        # Every pipeline gets a run due now whose gate passes: sensors written straight into
        # the store (no reaction), runs opened by hand, all due for evaluation at once.
        now = clock.now()
        for pipeline_id in engine.pipeline_ids():
            store.put_sensor(pipeline_id, "upstream", {"status": "ready", "count": 5}, now)
            store.put_sensor(pipeline_id, "quality", {"nulls": 0}, now)
        runtime.run_once()  # sensor versions noticed (nudges only WAITING runs)
        for _ in range(50):
            if not store.due_runs(clock.now(), 1):
                break
            runtime.run_once()
        opened = 0
        for pipeline_id in engine.pipeline_ids():
            run = engine.open_run(pipeline_id)
            if run is not None and run.due_at is not None and run.due_at <= clock.now():
                opened += 1
        # Make every open WAITING run due now (runs the first pass opened wait for their
        # next evaluation interval).
        for run in store.due_runs(clock.now() + dt.timedelta(days=1), 1_000_000):
            if run.due_at is not None and run.due_at > clock.now():
                store.update_run(run.evolve(due_at=clock.now()), run.version)
        due = len(store.due_runs(clock.now(), 1_000_000))
        passes = 0
        advanced = 0
        started = time.perf_counter()
        while store.due_runs(clock.now(), 1) and passes < 100:
            advanced += runtime.run_once().advanced
            passes += 1
        result["all_due_s"] = time.perf_counter() - started
        result["due_runs"] = due
        result["advanced"] = advanced
        result["passes"] = passes
        result["due_left"] = len(store.due_runs(clock.now(), 1_000_000))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    print(json.dumps(result))


# ---------------------------------------------------------------------------- parent side


def export_baseline(ref: str, into: Path) -> Path:
    """``git archive`` of ``ref`` unpacked under ``into``; returns the tree's root."""
    root = into / f"baseline-{ref}"
    root.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True, timeout=120)
    return root


def measure(tree: Path, what: str, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    """One child process measuring ``what`` against the source tree ``tree`` on a fresh copy
    of the built store ``db``."""
    import shutil

    copy = db.with_name(f"{what}-{tree.name}-{time.monotonic_ns()}.db")
    if what != "build":
        shutil.copyfile(db, copy)
    env = dict(os.environ, PYTHONPATH=str(tree), INTERLOCK_BENCH_TREE=str(tree))
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--measure",
        what,
        "--pipelines",
        str(args.pipelines),
        "--passes",
        str(args.passes),
        "--watchdog-passes",
        str(args.watchdog_passes),
        "--synchronous",
        args.synchronous,
        "--db",
        str(db if what == "build" else copy),
        *(["--no-dedup"] if args.no_dedup else []),
    ]
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=3600, check=False
        )
    finally:
        if what != "build":
            for path in copy.parent.glob(copy.name + "*"):
                path.unlink()
    if done.returncode != 0:
        raise SystemExit(f"child ({tree}, {what}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Measure this tree and the baseline side by side; print a table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~300 pipelines, few passes")
    parser.add_argument(
        "--pipelines", type=int, default=None, help="pipelines (default 10 000; quick 300)"
    )
    parser.add_argument(
        "--passes", type=int, default=None, help="idle passes measured (default 30; quick 20)"
    )
    parser.add_argument(
        "--watchdog-passes", type=int, default=None, help="watchdog passes (default 3; quick 2)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="child runs per measurement (default 2; quick 1)"
    )
    parser.add_argument("--baseline-ref", default="98523ec", help="'' skips the baseline")
    parser.add_argument(
        "--synchronous",
        default="full",
        help="SQLite synchronous mode of the store (full, the controller's default; normal "
        "shows how much of the all-due time is commit fsyncs)",
    )
    parser.add_argument(
        "--no-dedup",
        action="store_true",
        help="a job runner that cannot deduplicate on the token (one commit per run step)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", default="idle", help=argparse.SUPPRESS)
    parser.add_argument("--db", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.pipelines = args.pipelines or (300 if args.quick else 10_000)
    args.passes = args.passes or (20 if args.quick else 30)
    args.watchdog_passes = args.watchdog_passes or (2 if args.quick else 3)
    if args.child:
        tree = os.environ.get("INTERLOCK_BENCH_TREE")
        sys.path.insert(0, tree or str(ROOT))
        _child(args)
        return
    sys.path.insert(0, str(HERE))
    from _common import summary, table, write_results

    rounds = args.rounds or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as scratch:
        trees = {"current": ROOT}
        if args.baseline_ref:
            trees["baseline"] = export_baseline(args.baseline_ref, Path(scratch))
        raw: dict[str, dict[str, list[Any]]] = {name: {} for name in trees}
        db = Path(scratch) / "built.db"
        measure(ROOT, "build", args, db)  # same schema on both trees
        for _ in range(rounds):
            for what in ("idle", "watchdog", "due"):
                for name, tree in trees.items():  # taking turns: a busy spell hits both
                    found = measure(tree, what, args, db)
                    for key, value in found.items():
                        values = value if isinstance(value, list) else [value]
                        raw[name].setdefault(key, []).extend(values)
    stats = {
        name: {key: summary(values) for key, values in found.items()} for name, found in raw.items()
    }
    rows = []
    metrics = [
        ("idle pass (ms)", "idle_pass_s", 1000.0),
        ("watchdog pass (s)", "watchdog_pass_s", 1.0),
        ("all due advanced (s)", "all_due_s", 1.0),
        ("passes for all due", "passes", 1.0),
        ("due runs", "due_runs", 1.0),
        ("first pass (s)", "first_pass_s", 1.0),
        ("peak RSS (MiB)", "peak_rss_mib", 1.0),
    ]
    for label, key, scale in metrics:
        row: list[Any] = [label]
        for name in trees:
            found = stats[name].get(key, {})
            if found.get("n"):
                row.append(
                    f"{found['median'] * scale:.3f} [{found['min'] * scale:.3f}"
                    f"-{found['max'] * scale:.3f}]"
                )
            else:
                row.append("-")
        rows.append(row)
    runner = "no token dedup" if args.no_dedup else "dedups on the token, as command jobs"
    print(
        f"{args.pipelines} pipelines on SQLite (synchronous={args.synchronous}, job runner "
        f"{runner}); median [min-max]"
    )
    print(table(["measure", *trees], rows))
    current = stats["current"]
    scale_note = 10_000 / args.pipelines
    targets = [
        _target("idle pass", current["idle_pass_s"], 1000.0, "ms", 50.0),
        _target("all due runs advanced", current["all_due_s"], 1.0, "s", 10.0 / scale_note),
        _target("peak RSS", current["peak_rss_mib"], 1.0, "MiB", 150.0),
    ]
    for target in targets:
        print(
            f"target {target['name']}: {target['value']:.3f} {target['unit']} "
            f"(limit {target['limit']:g}) {'met' if target['met'] else 'NOT met'}"
        )
    write_results(
        "controller",
        {
            "pipelines": args.pipelines,
            "synchronous": args.synchronous,
            "runner_dedups_on_token": not args.no_dedup,
            "baseline_ref": args.baseline_ref,
            "command": " ".join(sys.argv),
            "stats": stats,
            "targets": targets,
        },
        args.out,
    )


def _target(
    name: str, found: dict[str, float], scale: float, unit: str, limit: float
) -> dict[str, Any]:
    value = found["median"] * scale
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "limit": limit,
        "met": value <= limit,
        "spread": {key: found[key] * scale for key in ("min", "p10", "p90", "max") if key in found},
    }


if __name__ == "__main__":
    main()
