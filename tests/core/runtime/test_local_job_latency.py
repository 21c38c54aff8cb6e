"""A local ``command`` job that ends is recorded by the next pass of ``interlock run`` (a
quarter of a second), whatever the poll interval; remote job types keep
``jobCheckIntervalSeconds``. (Measured with a real ``interlock run``: 0.03-0.19 s from the
job's exit to its record.)"""

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from interlock_core.clock import SystemClock
from interlock_core.engine import Interlock
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.jobs.command import CommandRunner
from interlock_core.runs import RunStatus
from interlock_core.runtime import LocalRuntime
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents


def _pipeline(job_type: str) -> dict[str, Any]:
    config: dict[str, Any] = {"command": [sys.executable, "-c", "import time; time.sleep(0.03)"]}
    return {
        "pipeline": {"id": f"quick-{job_type}"},
        "schedule": {"trigger": {"key": "go", "check": "exists"}},
        "job": {"type": "command", "config": config, "jobCheckIntervalSeconds": 60},
    }


class RemoteRunner:
    """A remote-looking runner (no ``exits_locally``): finished at once, but only a poll says so."""

    job_type = "command"

    def __init__(self) -> None:
        self.status_calls = 0

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        return JobHandle(f"remote-{token[:8]}")

    def status(self, handle: JobHandle) -> JobStatus:
        self.status_calls += 1
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


def test_a_finished_command_job_is_recorded_by_the_next_pass(tmp_path: Path) -> None:
    runner = CommandRunner(tmp_path / "jobs")
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    engine = Interlock(store, {"command": runner}, SystemClock())
    apply_documents(engine, _pipeline("command"))
    runtime = LocalRuntime(engine, tick=0.25)
    engine.emit("quick-command", "go", {})
    runtime.run_once()  # evaluates and submits
    [run] = engine.status("quick-command")
    assert run.status == RunStatus.RUNNING
    # Its poll is a minute away (jobCheckIntervalSeconds: 60) ...
    assert run.due_at is not None
    assert run.due_at - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=50)
    handle = JobHandle(run.job_run_id or "", run.job_metadata)
    deadline = time.monotonic() + 20
    while runner.status(handle).state == JobState.RUNNING:  # the job ends on its own
        assert time.monotonic() < deadline, "the 30 ms job never ended"
        time.sleep(0.02)
    # ... yet the very next pass (every 0.25 s in `interlock run`) records its end.
    runtime.run_once()
    [run] = engine.status("quick-command")
    assert run.status == RunStatus.SUCCEEDED, run
    store.close()


def test_a_remote_job_keeps_its_poll_interval(tmp_path: Path) -> None:
    remote = RemoteRunner()
    engine = Interlock(open_store("memory://"), {"command": remote}, SystemClock())
    apply_documents(engine, _pipeline("remote"))
    runtime = LocalRuntime(engine, tick=0.01)
    engine.emit("quick-remote", "go", {})
    for _ in range(5):
        runtime.run_once()
    [run] = engine.status("quick-remote")
    assert run.status == RunStatus.RUNNING
    assert remote.status_calls == 0  # nobody asked the remote service before the interval
