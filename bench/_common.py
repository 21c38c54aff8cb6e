"""What every benchmark shares: the machine it ran on, medians with spread, a table, JSON.

Each benchmark measures its baseline side by side in the same run (ratios, not absolute
times, are what carries from one machine to another), prints a table, and writes
``bench/results/<name>.json`` (or ``--out DIR``). ``bench/run_all`` runs them all.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    """Where the numbers came from: CPU, cores, memory, Python, load, git commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "commit": commit,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def summary(samples: Sequence[float]) -> dict[str, float]:
    """Median and spread (min, max, p10, p90) of a list of samples; same unit as the input."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}
    n = len(ordered)
    return {
        "n": n,
        "median": statistics.median(ordered),
        "min": ordered[0],
        "p10": ordered[max(0, int(n * 0.1) - 1)] if n >= 10 else ordered[0],
        "p90": ordered[min(n - 1, int(n * 0.9))] if n >= 10 else ordered[-1],
        "max": ordered[-1],
    }


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` calls of ``call``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def interleaved(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Wall seconds of each call, taking turns, so a busy moment slows all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    return samples


def child_process(
    argv: Sequence[str], *, allowed: Sequence[int] = (0,), **kwargs: Any
) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process run to completion.

    Killed after 300 s. Raises ``CalledProcessError`` unless it exits with an ``allowed``
    status. Waits without a timeout: ``subprocess.run(timeout=...)`` polls the child with
    sleeps that grow to 50 ms, which rounded every wall time up to the next of 113, 163,
    213... ms.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with subprocess.Popen(list(argv), **kwargs) as process:
        watchdog = threading.Timer(300, process.kill)
        watchdog.start()
        try:
            status = process.wait()  # blocks in waitpid: returns as the child exits
        finally:
            watchdog.cancel()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status not in allowed:
        raise subprocess.CalledProcessError(status, list(argv))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def installed_env() -> dict[str, str]:
    """The environment for timing ``interlock`` in child processes as a user runs it.

    An installed package has its .pyc files (pip compiles them, as it did boto3's): with
    PYTHONDONTWRITEBYTECODE set no child could write ours, and every process would recompile
    Interlock's sources (~90 ms of CPU), which no user ever pays. Run one warm-up command
    with this environment before measuring.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table; floats get 3 significant decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    body = [[cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))]
    lines.append("  ".join("-" * w for w in widths))
    for row in body:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=False)))
    return "\n".join(lines)


def write_results(name: str, results: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``results`` (with the machine added) as ``<out_dir>/<name>.json``."""
    directory = out_dir or Path(os.environ.get("INTERLOCK_BENCH_OUT", RESULTS))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {"benchmark": name, "machine": machine(), **results}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path
