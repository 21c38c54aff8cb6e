"""The command job: real detached processes, real signals."""

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import FailureCategory, JobError, JobHandle, JobState, JobStatus
from interlock_core.jobs.base import RunContext as Run
from interlock_core.jobs.command import CommandRunner, status_from_record, supervisor_alive
from interlock_core.jobs.command_wrapper import child_environment, read_json
from tests.core.jobs.conftest import wait_until

PY = sys.executable
RUN = Run("orders", "2026-03-04", 3)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def ignores_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(x for x in status.splitlines() if x.startswith("SigIgn:")).split()[1], 16)
    return bool(ignored & (1 << (signal.SIGTERM - 1)))


@pytest.fixture
def runner(tmp_path: Path) -> CommandRunner:
    # cancel_wait is a bound, not a delay: cancel returns once the wrapper confirms, which on a
    # loaded machine (fsync, scheduling) may take seconds.
    return CommandRunner(tmp_path / "state", kill_grace=0.5, cancel_wait=30.0)


def finish(runner: CommandRunner, handle: JobHandle, timeout: float = 60.0) -> JobStatus:
    result: list[JobStatus] = []

    def done() -> bool:
        result[:] = [runner.status(handle)]
        return result[0].state is not JobState.RUNNING

    assert wait_until(done, timeout), f"still running: {result}"
    return result[0]


def log_of(handle: JobHandle) -> str:
    return Path(handle.metadata["log_file"]).read_text()


def python_job(code: str, *args: str, **fields: object) -> CommandJob:
    return CommandJob.model_validate({"command": [PY, "-c", code, *args], **fields})


def written_pid(pid_file: Path) -> int | None:
    """The pid a job wrote to ``pid_file``, or None before the write is complete."""
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def wait_for_pid(pid_file: Path) -> int:
    # The file exists a moment before its content: wait for the pid itself.
    assert wait_until(lambda: written_pid(pid_file) is not None, 30)
    pid = written_pid(pid_file)
    assert pid is not None
    return pid


def test_exit_zero_succeeds_and_submit_returns_at_once(
    runner: CommandRunner, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    # The job cannot end before the test lets it: however slowly this test is scheduled, it
    # sees the job running (a fixed sleep in the job raced a loaded machine).
    code = (
        "import os, sys, time\n"
        "deadline = time.monotonic() + 60\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('hi')\n"
    )
    handle = runner.submit(python_job(code, str(go)), RUN, "t-ok")
    # Submit did not wait for the job: it is still running.
    assert runner.status(handle).state is JobState.RUNNING
    go.write_text("")
    assert set(handle.metadata) >= {"state_file", "log_file", "lock_file", "wrapper_pid", "pid"}
    status = finish(runner, handle)
    assert status == JobStatus(JobState.SUCCEEDED, message="exit code 0")
    assert "hi" in log_of(handle)
    record = read_json(Path(handle.metadata["state_file"]))
    assert record is not None
    assert record["exit_code"] == 0
    assert record["timed_out"] is False
    assert {"started_at", "finished_at", "pid", "wrapper_pid"} <= set(record)


def test_non_zero_exit_is_transient(runner: CommandRunner) -> None:
    status = finish(runner, runner.submit(python_job("raise SystemExit(3)"), RUN, "t-three"))
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.TRANSIENT
    assert "exit code 3" in status.message


def test_missing_binary_is_permanent_127(runner: CommandRunner) -> None:
    job = CommandJob(command="/no/such/binary --flag")
    handle = runner.submit(job, RUN, "t-missing")
    status = finish(runner, handle)
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.PERMANENT
    assert "exit code 127" in status.message
    assert "/no/such/binary" in status.message


def test_missing_working_directory_is_permanent(runner: CommandRunner, tmp_path: Path) -> None:
    job = CommandJob(command=[PY, "-c", "pass"], cwd=str(tmp_path / "nowhere"))
    status = finish(runner, runner.submit(job, RUN, "t-cwd"))
    assert status.category is FailureCategory.PERMANENT
    assert "does not exist" in status.message


def test_timeout_kills_the_whole_process_group_even_sigterm_ignorers(
    runner: CommandRunner, tmp_path: Path
) -> None:
    pids = tmp_path / "pids.json"
    # The grandchild ignores SIGTERM from its first instruction (an ignored signal stays
    # ignored through fork and exec), not only once its interpreter has started: on a loaded
    # machine the timeout could fire first and SIGTERM alone would end it. The pids are
    # written atomically (the file is never seen half written) by a child that starts fast.
    code = (
        "import json, os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
        "open(sys.argv[1] + '.tmp', 'w').write(json.dumps([os.getpid(), grandchild.pid]))\n"
        "os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
        "time.sleep(60)\n"
    )
    # The timeout must outlast the job's start (two interpreters) on a loaded machine, or the
    # job is killed before it could report its pids.
    handle = runner.submit(python_job(code, str(pids), timeout=4), RUN, "t-timeout")
    # Written by rename: once the file exists its content is complete.
    assert wait_until(pids.exists, 30)
    child, grandchild = json.loads(pids.read_text())
    assert alive(child)
    assert alive(grandchild)
    assert ignores_sigterm(grandchild)
    status = finish(runner, handle)
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.TIMEOUT
    assert wait_until(lambda: not alive(child) and not alive(grandchild), 15)
    record = read_json(Path(handle.metadata["state_file"]))
    assert record is not None
    assert record["timed_out"] is True


def test_environment_is_an_allow_list(
    runner: CommandRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_VAR", "visible")
    monkeypatch.setenv("SECRET_VAR", "must-not-leak")
    code = "import json, os; print('ENV=' + json.dumps(dict(os.environ)))"
    job = python_job(code, env=["ALLOWED_VAR"], environment={"FIXED": "v1"})
    handle = runner.submit(job, RUN, "t-env")
    assert finish(runner, handle).state is JobState.SUCCEEDED
    line = next(x for x in log_of(handle).splitlines() if x.startswith("ENV="))
    env = json.loads(line[4:])
    assert env["ALLOWED_VAR"] == "visible"
    assert "SECRET_VAR" not in env
    assert env["FIXED"] == "v1"
    assert env["INTERLOCK_PERIOD"] == "2026-03-04"
    assert env["INTERLOCK_PIPELINE"] == "orders"
    assert env["INTERLOCK_ATTEMPT"] == "3"
    assert env["INTERLOCK_TOKEN"] == "t-env"
    assert "PATH" in env
    assert set(env) <= {
        "ALLOWED_VAR",
        "FIXED",
        "INTERLOCK_PERIOD",
        "INTERLOCK_PIPELINE",
        "INTERLOCK_ATTEMPT",
        "INTERLOCK_TOKEN",
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "LC_CTYPE",  # Python may set this itself (PEP 538 locale coercion)
    }
    # Nothing secret reaches the state file either: only names.
    assert "must-not-leak" not in Path(handle.metadata["state_file"]).read_text()


def test_child_environment_layers() -> None:
    spec = {
        "env_names": ["A", "MISSING"],
        "environment": {"PATH": "/opt/bin", "B": "2"},
        "interlock": {"INTERLOCK_PERIOD": "p"},
    }
    env = child_environment(spec, {"A": "1", "C": "3", "PATH": "/usr/bin", "HOME": "/h"})
    assert env == {"A": "1", "B": "2", "PATH": "/opt/bin", "HOME": "/h", "INTERLOCK_PERIOD": "p"}


def test_arguments_are_passed_literally_never_to_a_shell(
    runner: CommandRunner, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    dangerous = [f"x; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", "; rm -rf /"]
    code = "import json, sys; print('ARGV=' + json.dumps(sys.argv[1:]))"
    handle = runner.submit(python_job(code, *dangerous), RUN, "t-argv")
    assert finish(runner, handle).state is JobState.SUCCEEDED
    line = next(x for x in log_of(handle).splitlines() if x.startswith("ARGV="))
    assert json.loads(line[5:]) == dangerous
    assert not marker.exists()


def test_string_commands_are_split_with_shlex(runner: CommandRunner, tmp_path: Path) -> None:
    marker = tmp_path / "marker2"
    command = (
        f"{PY} -c 'import json, sys; print(\"ARGV=\" + json.dumps(sys.argv[1:]))' "
        f'"a b" ; touch {marker}'
    )
    handle = runner.submit(CommandJob(command=command), RUN, "t-shlex")
    assert finish(runner, handle).state is JobState.SUCCEEDED
    line = next(x for x in log_of(handle).splitlines() if x.startswith("ARGV="))
    assert json.loads(line[5:]) == ["a b", ";", "touch", str(marker)]
    assert not marker.exists()


def test_working_directory(runner: CommandRunner, tmp_path: Path) -> None:
    job = python_job("import os; print('CWD=' + os.getcwd())", cwd=str(tmp_path))
    handle = runner.submit(job, RUN, "t-wd")
    assert finish(runner, handle).state is JobState.SUCCEEDED
    assert f"CWD={tmp_path}" in log_of(handle)


def test_another_process_sees_the_result(runner: CommandRunner, tmp_path: Path) -> None:
    handle = runner.submit(python_job("raise SystemExit(0)"), RUN, "t-other")
    # A controller that never submitted anything, with only the handle's metadata.
    other = CommandRunner(tmp_path / "state")
    foreign = JobHandle(run_id=handle.run_id, metadata=json.loads(json.dumps(handle.metadata)))
    assert finish(other, foreign).state is JobState.SUCCEEDED


def test_repeated_submit_adopts_the_running_job(runner: CommandRunner, tmp_path: Path) -> None:
    count = tmp_path / "count"
    code = "import sys, time; open(sys.argv[1], 'a').write('x'); time.sleep(0.5)"
    job = python_job(code, str(count))
    first = runner.submit(job, RUN, "t-adopt")
    second = CommandRunner(tmp_path / "state").submit(job, RUN, "t-adopt")
    assert second.metadata["adopted"] is True
    assert second.metadata["state_file"] == first.metadata["state_file"]
    assert finish(runner, first).state is JobState.SUCCEEDED
    third = runner.submit(job, RUN, "t-adopt")  # after it finished: still the same job
    assert third.metadata["adopted"] is True
    assert runner.status(third).state is JobState.SUCCEEDED
    assert count.read_text() == "x"
    assert log_of(first).count("starting") == 1


def test_cancel_is_confirmed_and_the_child_is_gone(runner: CommandRunner, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
    handle = runner.submit(python_job(code, str(pid_file)), RUN, "t-cancel")
    child = wait_for_pid(pid_file)
    other = CommandRunner(tmp_path / "state", kill_grace=0.5, cancel_wait=30.0)
    assert other.cancel(handle) is True
    assert wait_until(lambda: not alive(child), 15)
    status = runner.status(handle)
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.TRANSIENT
    assert "cancelled" in status.message
    assert runner.cancel(handle) is True  # already finished: still confirmed


def test_a_dead_supervisor_never_hides_a_running_job(runner: CommandRunner, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
    handle = runner.submit(python_job(code, str(pid_file)), RUN, "t-orphan")
    child = wait_for_pid(pid_file)
    wrapper = handle.metadata["wrapper_pid"]
    os.kill(wrapper, signal.SIGKILL)
    # Its main thread turns zombie before its log pump thread has exited; the lock (held by
    # the descriptor table they share) is free only once the last thread is gone.
    assert wait_until(lambda: not supervisor_alive(Path(handle.metadata["lock_file"])), 15)
    assert not alive(wrapper)
    # The job still runs without its supervisor: reported running, never failed.
    status = runner.status(handle)
    assert status.state is JobState.RUNNING
    assert "supervisor died" in status.message
    assert runner.cancel(handle) is True
    assert not alive(child)
    assert "cancelled" in runner.status(handle).message


def test_a_dead_supervisor_with_no_job_left_is_a_transient_failure(
    runner: CommandRunner, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
    handle = runner.submit(python_job(code, str(pid_file)), RUN, "t-dead")
    child = wait_for_pid(pid_file)
    os.kill(handle.metadata["wrapper_pid"], signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    # The lock is free only once every thread of the killed wrapper has exited.
    assert wait_until(lambda: runner.status(handle).state is JobState.FAILED, 15)
    status = runner.status(handle)
    assert status.category is FailureCategory.TRANSIENT
    assert "supervisor died" in status.message


def test_unusable_token_is_permanent(runner: CommandRunner) -> None:
    with pytest.raises(JobError) as caught:
        runner.submit(CommandJob(command="true"), RUN, "../../etc/passwd")
    assert caught.value.category is FailureCategory.PERMANENT


def test_wrong_config_type_is_permanent(runner: CommandRunner) -> None:
    from interlock_core.config.jobs import HttpJob

    with pytest.raises(JobError, match="CommandJob") as caught:
        runner.submit(HttpJob(url="https://example.com"), RUN, "t-type")
    assert caught.value.category is FailureCategory.PERMANENT


@pytest.mark.parametrize(
    ("record", "state", "category"),
    [
        ({"exit_code": 0}, JobState.SUCCEEDED, None),
        ({"exit_code": 1}, JobState.FAILED, FailureCategory.TRANSIENT),
        ({"exit_code": 2}, JobState.FAILED, FailureCategory.TRANSIENT),
        ({"exit_code": 126}, JobState.FAILED, FailureCategory.PERMANENT),
        ({"exit_code": 127}, JobState.FAILED, FailureCategory.PERMANENT),
        ({"exit_code": -9}, JobState.FAILED, FailureCategory.TRANSIENT),
        ({"exit_code": -15, "timed_out": True}, JobState.FAILED, FailureCategory.TIMEOUT),
        ({"exit_code": -15, "cancelled": True}, JobState.FAILED, FailureCategory.TRANSIENT),
    ],
)
def test_exit_status_mapping(
    record: dict[str, object], state: JobState, category: FailureCategory | None
) -> None:
    status = status_from_record(record)
    assert (status.state, status.category) == (state, category)


def test_the_wrapper_does_not_carry_the_controllers_secrets(
    runner: CommandRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job may read its parent's environment from /proc/$PPID/environ: the wrapper must
    # not hold more than the job itself may see.
    monkeypatch.setenv("CONTROLLER_SECRET", "dapi-SECRET-123")
    monkeypatch.setenv("ALLOWED_VAR", "visible")
    code = (
        "import json, os\n"
        "parent = open(f'/proc/{os.getppid()}/environ', 'rb').read().decode()\n"
        "print('PARENT=' + json.dumps([os.getppid(), parent.split(chr(0))]))\n"
        "print('OWN=' + repr(os.environ.get('CONTROLLER_SECRET')))\n"
    )
    handle = runner.submit(python_job(code, env=["ALLOWED_VAR"]), RUN, "t-wrapper-env")
    assert finish(runner, handle).state is JobState.SUCCEEDED
    log = log_of(handle)
    line = next(x for x in log.splitlines() if x.startswith("PARENT="))
    parent_pid, parent_environ = json.loads(line[7:])
    assert parent_pid == handle.metadata["wrapper_pid"]  # what the job read is the wrapper's
    assert "ALLOWED_VAR=visible" in parent_environ  # allow-listed names pass through it
    assert not any("dapi-SECRET-123" in item for item in parent_environ)
    assert "OWN=None" in log
    assert "dapi-SECRET-123" not in log


def test_a_finished_job_leaves_no_background_workers(runner: CommandRunner, tmp_path: Path) -> None:
    pid_file = tmp_path / "worker"
    code = (
        "import subprocess, sys\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(sys.argv[1], 'w').write(str(worker.pid))\n"
        "raise SystemExit(1)\n"
    )
    handle = runner.submit(python_job(code, str(pid_file)), RUN, "t-leftover")
    status = finish(runner, handle)
    worker = int(pid_file.read_text())
    # Recorded as finished only once nothing of the job runs: a retry cannot overlap it.
    assert not alive(worker)
    assert status.state is JobState.FAILED
    assert "exit code 1" in status.message
    record = read_json(Path(handle.metadata["state_file"]))
    assert record is not None
    assert record["leftovers_stopped"] is True
    assert "left processes running" in log_of(handle)


def test_state_and_log_files_are_private(runner: CommandRunner) -> None:
    handle = runner.submit(python_job("print('output')"), RUN, "t-private")
    finish(runner, handle)
    for key in ("state_file", "log_file", "lock_file"):
        assert Path(handle.metadata[key]).stat().st_mode & 0o777 == 0o600, key
    assert runner.state_dir.stat().st_mode & 0o777 == 0o700


def test_submit_refusals_started_nothing(runner: CommandRunner, tmp_path: Path) -> None:
    with pytest.raises(JobError) as caught:
        runner.submit(CommandJob(command="true"), RUN, "../bad")
    assert caught.value.may_have_started is False
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(JobError, match="state directory") as caught:
        CommandRunner(blocked / "state").submit(CommandJob(command="true"), RUN, "t-dir")
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False
