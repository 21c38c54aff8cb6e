"""End to end: `interlock run` processes, sensors emitted from other processes, SIGTERM, restart.

Two controllers share one SQLite store; producers emit through the `interlock` CLI in their own
processes. The job (a real child process) must run exactly once, the gate must react to a new
sensor within a second although the evaluation interval is an hour, SIGTERM must stop a
controller cleanly while its job is still running, and a restarted controller must resume
polling that job to completion.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store

PIPELINE = """\
pipeline: {{id: e2e}}
schedule:
  trigger: {{key: ready, check: equals, field: status, value: ok}}
  evaluation: {{window: 2h, interval: 1h}}
validation:
  rules: [{{key: rows, check: gte, field: count, value: 10}}]
job:
  type: command
  config:
    command: [{python}, {script}]
  jobCheckIntervalSeconds: 1
"""


ALERTS = """\
alerts:
  channels:
    hook: {type: webhook, urlEnv: E2E_HOOK_URL, allowPrivateNetwork: true}
  routes:
    - {events: [RUN_OPENED, VALIDATION_PASSED, JOB_TRIGGERED, JOB_COMPLETED], channels: [hook]}
"""


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every delivered event."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        lock = threading.Lock()
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.extend(json.loads(body)["events"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock_core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Controllers:
    """Starts and stops `interlock run` processes, keeping their output."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[str]] = []

    def start(self) -> subprocess.Popen[str]:
        log = (self.logs / f"controller-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "interlock_core.cli", "run"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        path = Path(log.name)
        try:
            _wait_for(lambda: "controlling" in path.read_text(), 60, "the controller to start")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its output:\n{path.read_text()}") from None
        return process

    def output(self, index: int) -> str:
        return (self.logs / f"controller-{index}.log").read_text()

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def setup(
    tmp_path: Path,
) -> Iterator[tuple[Controllers, dict[str, str], Interlock, Path, Receiver]]:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    marker = tmp_path / "job-ran.txt"
    script = tmp_path / "job.py"
    script.write_text(
        f"import pathlib, time\npathlib.Path({str(marker)!r}).open('a').write('ran\\n')\n"
        "time.sleep(4)\n"
    )
    (pipelines / "e2e.yaml").write_text(PIPELINE.format(python=sys.executable, script=script))
    (pipelines / "interlock.yaml").write_text(ALERTS)
    receiver = Receiver()
    store_url = f"sqlite:///{tmp_path / 'interlock.db'}"
    env = {
        **os.environ,
        "INTERLOCK_STORE": store_url,
        "INTERLOCK_PIPELINES": str(pipelines),
        "E2E_HOOK_URL": receiver.url,
    }
    controllers = Controllers(env, tmp_path)
    engine = Interlock(open_store(store_url))
    try:
        yield controllers, env, engine, marker, receiver
    finally:
        controllers.kill_all()
        engine.store.close()
        receiver.server.shutdown()


@pytest.mark.slow
def test_two_controllers_sigterm_and_restart(
    setup: tuple[Controllers, dict[str, str], Interlock, Path, Receiver],
) -> None:
    controllers, env, engine, marker, receiver = setup
    first = controllers.start()
    second = controllers.start()

    emitted = _cli(env, "emit", "e2e", "ready", "status=ok")
    assert emitted.returncode == 0, emitted.stderr
    runs = lambda: engine.status("e2e")  # noqa: E731
    _wait_for(
        lambda: len(runs()) == 1 and runs()[0].last_evaluated_at is not None,
        20,
        "the run to open and be evaluated",
    )
    [run] = runs()
    assert run.status == RunStatus.WAITING
    assert any("rows" in reason for reason in run.last_reasons)

    emitted = _cli(env, "emit", "e2e", "rows", "count=50")
    assert emitted.returncode == 0, emitted.stderr
    triggered = lambda: engine.events("e2e", types=[EventType.JOB_TRIGGERED])  # noqa: E731
    _wait_for(lambda: len(triggered()) == 1, 20, "the job to be submitted")
    rows = engine.store.get_sensors("e2e")["rows"]
    assert rows.written_at is not None
    latency = (triggered()[0].at - rows.written_at).total_seconds()
    assert latency < 1.0, f"the gate reacted {latency:.2f} s after the sensor write"
    _wait_for(marker.exists, 10, "the job to start")

    # Both controllers stop while the job is still running.
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    for process in (first, second):
        assert process.wait(timeout=15) == 0
    assert "stopping" in controllers.output(0)
    [run] = runs()
    assert run.status == RunStatus.RUNNING

    controllers.start()
    _wait_for(
        lambda: runs()[0].status == RunStatus.SUCCEEDED, 30, "the restarted controller to finish"
    )
    time.sleep(1.5)  # a second submit would have shown up by now
    assert marker.read_text().splitlines() == ["ran"]
    assert len(triggered()) == 1
    assert len(engine.events("e2e", types=[EventType.JOB_COMPLETED])) == 1
    listed = _cli(env, "events", "--pipeline", "e2e", "--json")
    assert listed.returncode == 0, listed.stderr
    types = [line for line in listed.stdout.splitlines() if line.strip()]
    assert any('"JOB_COMPLETED"' in line for line in types)
    # Alerts: every routed event reaches the webhook exactly once, including RUN_OPENED,
    # which the separate `interlock emit` process published, across two controllers and a
    # restart.
    routed = {"RUN_OPENED", "VALIDATION_PASSED", "JOB_TRIGGERED", "JOB_COMPLETED"}
    _wait_for(lambda: len(receiver.events) >= 4, 15, "the alerts to be delivered")
    time.sleep(1.0)
    delivered = [str(e["type"]) for e in receiver.events]
    assert sorted(delivered) == sorted(routed), delivered
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == len(set(ids))
    print(f"\nsensor write -> submit latency: {latency * 1000:.0f} ms")
