"""A command job started by a controller on another machine (sharing a PostgreSQL store).

Its state files live on that machine: a controller here finds none, which must not read as
"never started" (a retry would run the job a second time beside the first) nor let a cancel
claim success.
"""

import socket
import sys
from dataclasses import replace
from pathlib import Path

from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import JobState
from interlock_core.jobs.base import RunContext as Run
from interlock_core.jobs.command import CommandRunner
from tests.core.jobs.conftest import wait_until

RUN = Run("orders", "2026-03-04", 1)
TOKEN = "orders-2026-03-04-1"


def _private(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


def test_a_job_of_another_machine_is_running_not_failed(tmp_path: Path) -> None:
    here = CommandRunner(_private(tmp_path / "here"))
    there = CommandRunner(_private(tmp_path / "there"))
    job = CommandJob.model_validate({"command": [sys.executable, "-c", "print('ok')"]})
    handle = there.submit(job, RUN, TOKEN)
    assert wait_until(lambda: there.status(handle).state is JobState.SUCCEEDED, 15.0)
    # The same handle as a controller on another machine holds it: no state file here.
    metadata = {
        **handle.metadata,
        "host": "worker-7",
        "state_file": str(tmp_path / "gone" / f"{TOKEN}.json"),
        "lock_file": str(tmp_path / "gone" / f"{TOKEN}.lock"),
    }
    elsewhere = replace(handle, metadata=metadata)
    status = here.status(elsewhere)
    assert status.state is JobState.RUNNING
    assert "worker-7" in (status.message or "")
    assert here.cancel(elsewhere) is False
    assert handle.metadata["host"] == socket.gethostname()


def test_a_handle_without_a_host_keeps_the_local_reading(tmp_path: Path) -> None:
    here = CommandRunner(_private(tmp_path / "here"))
    job = CommandJob.model_validate({"command": [sys.executable, "-c", "print('ok')"]})
    handle = here.submit(job, RUN, TOKEN)
    assert wait_until(lambda: here.status(handle).state is JobState.SUCCEEDED, 15.0)
    old = replace(
        handle,
        metadata={
            key: value
            for key, value in handle.metadata.items()
            if key not in {"host", "state_file", "lock_file"}
        }
        | {"state_file": str(tmp_path / "gone" / f"{TOKEN}.json")},
    )
    assert here.status(old).state is JobState.FAILED
