"""Command jobs: capped logs, outcomes recorded on a full disk, no escaped daemons."""

import errno
import os
import sys
from pathlib import Path

import pytest

from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import JobState
from interlock_core.jobs.base import RunContext as Run
from interlock_core.jobs.command import CommandRunner
from interlock_core.jobs.command_wrapper import CappedLog, read_json
from tests.core.jobs.conftest import wait_until

RUN = Run("orders", "2026-03-04", 1)


def python_job(code: str, *args: str) -> CommandJob:
    return CommandJob.model_validate({"command": [sys.executable, "-c", code, *args]})


def finish(runner: CommandRunner, token: str, job: CommandJob) -> tuple[JobState, dict]:  # type: ignore[type-arg]
    handle = runner.submit(job, RUN, token)
    assert wait_until(lambda: runner.status(handle).state is not JobState.RUNNING, 60.0)
    record = read_json(Path(handle.metadata["state_file"]))
    assert record is not None
    return runner.status(handle).state, record


def test_a_runaway_log_is_capped_keeping_the_newest_output(tmp_path: Path) -> None:
    runner = CommandRunner(tmp_path / "state", kill_grace=0.5, max_log_bytes=64 * 1024)
    code = (
        "import sys\n"
        "for i in range(20000): sys.stdout.write(f'line {i:06d} ' + 'x' * 80 + '\\n')\n"
        "print('THE END')"
    )
    state, record = finish(runner, "t-big", python_job(code))
    assert state is JobState.SUCCEEDED  # about 1.8 MB written, the job's result kept
    log = Path(record["log_file"]).read_bytes()
    assert len(log) <= 64 * 1024 + 1024
    assert b"log capped at 65536 bytes" in log
    assert b"THE END" in log and b"finished: exit code 0" in log
    assert b"line 000000" not in log
    assert record["log_dropped_bytes"] > 1_000_000


def test_a_full_disk_loses_log_lines_not_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = CappedLog(tmp_path / "job.log", 1 << 20)
    log.write(b"before\n")

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(log, "_file", FullDisk())
    log.write(b"lost output\n")  # never raises
    assert log.failed == len(b"lost output\n")
    log.close()
    assert (tmp_path / "job.log").read_bytes() == b"before\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreapers are Linux-only")
def test_a_daemon_that_leaves_the_process_group_is_ended(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    code = (
        "import subprocess, sys\n"
        "d = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
        "    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "open(sys.argv[1], 'w').write(str(d.pid))\n"
    )
    runner = CommandRunner(tmp_path / "state", kill_grace=0.5)
    state, record = finish(runner, "t-daemon", python_job(code, str(pid_file)))
    assert state is JobState.SUCCEEDED
    daemon = int(pid_file.read_text())
    try:
        with open(f"/proc/{daemon}/stat") as stat:
            alive = stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    if alive:
        os.kill(daemon, 9)
    assert not alive, "the setsid daemon outlived a job recorded as finished"
    assert record["leftovers_stopped"] is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_supervisor_that_died_before_recording_the_job_never_hides_it(tmp_path: Path) -> None:
    # The window between the job's start and the supervisor recording its pid: the state file
    # still says "submitted" when the supervisor is killed, while the job runs.
    import json
    import subprocess

    from interlock_core.jobs.base import JobHandle

    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    token = "t-unrecorded"
    state_file = state_dir / f"{token}.json"
    state_file.write_text(json.dumps({"phase": "submitted", "token": token, "spec": {}}))
    job = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "INTERLOCK_TOKEN": token},
        start_new_session=True,
    )
    try:
        runner = CommandRunner(state_dir, kill_grace=0.5)
        handle = JobHandle(token, {"state_file": str(state_file)})
        status = runner.status(handle)
        assert status.state is JobState.RUNNING, status
        assert runner.cancel(handle) is True
        assert job.wait(timeout=10) is not None
        assert runner.status(handle).state is JobState.FAILED
    finally:
        if job.poll() is None:
            job.kill()


def test_the_log_cap_default_is_the_wrappers_own() -> None:
    # The wrapper runs as a standard-library-only script and keeps its own copy.
    from interlock_core.jobs import command_wrapper, log_limits

    assert log_limits.DEFAULT_MAX_LOG_BYTES == command_wrapper.DEFAULT_MAX_LOG_BYTES
