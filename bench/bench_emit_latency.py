"""Producer emit (process start) -> job start, with ``interlock run`` on SQLite.

A producer runs ``interlock emit`` as a fresh process while a controller (``interlock run``)
serves the store; the pipeline's command job writes the time it started. Latency = job start -
the instant the bench started the emit process. Two controllers run side by side on two
stores, and the emits alternate between them:

* ``wake``: the default — ``emit`` nudges the controller through the store's wake socket
  (interlock_core.storage.sqlite_wake);
* ``poll``: the baseline — the same controller with ``INTERLOCK_SQLITE_WAKE=off``, which
  finds the write at its next poll (every 0.25 s).

Also shown: the emit process's own wall time, and sensor commit (its stored write time) -> job
start, which is the controller's share and what the wake-up changes.

Target (issue 13): wake p50 <= 250 ms.

    .venv/bin/python bench/bench_emit_latency.py            # 24 emits per mode
    .venv/bin/python bench/bench_emit_latency.py --quick    # 4 per mode
"""

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import installed_env, summary, table, write_results
from interlock_core.storage import open_store

TARGET_P50_SECONDS = 0.25
PIPELINE = """\
pipeline:
  id: lat
schedule:
  trigger:
    key: go
    check: exists
validation:
  trigger: ALL
  rules:
    - key: go
      check: exists
job:
  type: command
  config:
    command: ["/bin/sh", "-c", "date +%s.%N > {marks}/$INTERLOCK_PERIOD"]
"""


def interlock_command() -> list[str]:
    """The ``interlock`` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("interlock")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "interlock_core.cli"]


class Controller:
    """One ``interlock run`` on its own store, with its own marks folder."""

    def __init__(self, root: Path, mode: str) -> None:
        self.mode = mode
        self.folder = root / mode
        self.marks = self.folder / "marks"
        pipelines = self.folder / "pipelines"
        self.marks.mkdir(parents=True)
        pipelines.mkdir()
        (pipelines / "lat.yaml").write_text(PIPELINE.replace("{marks}", str(self.marks)))
        self.store = f"sqlite:///{self.folder / 'interlock.db'}"
        env = installed_env()  # .pyc files like an installed package (the apply warms up)
        if mode == "poll":
            env["INTERLOCK_SQLITE_WAKE"] = "off"
        subprocess.run(
            [*interlock_command(), "--store", self.store, "apply", str(pipelines)],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.env = env
        self.process = subprocess.Popen(
            [*interlock_command(), "--store", self.store, "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def emit(self, period: str) -> tuple[float, float, float]:
        """(emit process start -> job start, emit process wall, sensor commit -> job start)
        in seconds."""
        mark = self.marks / period
        argv = [*interlock_command(), "--store", self.store, "emit", "lat", "go"]
        argv += ["--period", period]
        started = time.time()
        producer = subprocess.Popen(
            argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, errors = producer.communicate(timeout=120)
        emitted = time.time() - started
        if producer.returncode != 0:
            raise RuntimeError(f"emit failed: {errors.decode()}")
        deadline = time.monotonic() + 30
        while not (mark.exists() and mark.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.mode}: no job started for {period} within 30 s")
            time.sleep(0.002)
        job_started = float(mark.read_text())
        store = open_store(self.store)
        try:
            written = store.get_sensors("lat")[f"go#{period}"].written_at
        finally:
            store.close()
        assert written is not None
        return job_started - started, emitted, job_started - written.timestamp()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 emits per mode")
    parser.add_argument("--emits", type=int, default=24, help="emits per mode (default 24)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    args = parser.parse_args()
    emits = 4 if args.quick else args.emits
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-emit-"))
    controllers = [Controller(root, "wake"), Controller(root, "poll")]
    samples: dict[str, dict[str, list[float]]] = {
        c.mode: {"latency": [], "emit_wall": [], "after_exit": [], "after_write": []}
        for c in controllers
    }
    try:
        time.sleep(2.0)  # both controllers up and idle
        first = dt.date(2026, 1, 1)
        for controller in controllers:  # warm-up (page cache, first pass), not counted
            controller.emit((first - dt.timedelta(days=1)).isoformat())
        for index in range(emits):
            period = (first + dt.timedelta(days=index)).isoformat()
            order = controllers if index % 2 == 0 else controllers[::-1]
            for controller in order:
                latency, emitted, after_write = controller.emit(period)
                samples[controller.mode]["latency"].append(latency)
                samples[controller.mode]["emit_wall"].append(emitted)
                samples[controller.mode]["after_exit"].append(latency - emitted)
                samples[controller.mode]["after_write"].append(after_write)
                time.sleep(0.3)  # let the job finish; the next emit starts from idle
    finally:
        for controller in controllers:
            controller.stop()
        shutil.rmtree(root, ignore_errors=True)

    results: dict[str, Any] = {}
    rows = []
    for mode, series in samples.items():
        latency = summary(series["latency"])
        emit_wall = summary(series["emit_wall"])
        after_exit = summary(series["after_exit"])
        after_write = summary(series["after_write"])
        results[mode] = {
            "sensor_write_to_job_start_s": after_write,
            "latency_s": latency,
            "emit_wall_s": emit_wall,
            "job_start_after_emit_exit_s": after_exit,
        }
        rows.append(
            (
                mode,
                latency["n"],
                latency["median"] * 1000,
                latency["p10"] * 1000,
                latency["p90"] * 1000,
                latency["max"] * 1000,
                emit_wall["median"] * 1000,
                after_exit["median"] * 1000,
                after_write["median"] * 1000,
                after_write["p90"] * 1000,
            )
        )
    headers = ["mode", "n", "p50 ms", "p10 ms", "p90 ms", "max ms", "emit process ms"]
    headers += ["job start - emit exit ms", "write -> job p50 ms", "write -> job p90 ms"]
    print(table(headers, rows))
    wake = results["wake"]["latency_s"]
    results["targets"] = [
        {
            "name": "emit process start -> job start, p50 (wake)",
            "value": wake["median"],
            "unit": "s",
            "limit": TARGET_P50_SECONDS,
            "met": wake["median"] <= TARGET_P50_SECONDS,
            "spread": {k: wake[k] for k in ("p10", "p90", "min", "max")},
            "baseline_poll_p50": results["poll"]["latency_s"]["median"],
        }
    ]
    write_results("bench_emit_latency", results, args.out)


if __name__ == "__main__":
    main()
