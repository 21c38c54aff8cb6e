"""The command-job state folder: private to the controller's user, and per store."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import FailureCategory, JobError, JobState
from interlock_core.jobs.base import RunContext as Run
from interlock_core.jobs.command import CommandRunner
from interlock_core.jobs.state_dir import UnsafeStateDir, state_dir_for
from interlock_core.runtime import build_engine
from interlock_core.storage import open_store
from tests.core.jobs.conftest import wait_until

RUN = Run("orders", "2026-03-04", 1)
TOKEN = "orders-2026-03-04-1"


def counting_job(counter: Path) -> CommandJob:
    code = "import sys; open(sys.argv[1], 'a').write('x')"
    return CommandJob.model_validate({"command": [sys.executable, "-c", code, str(counter)]})


def run_to_end(runner: CommandRunner, job: CommandJob) -> bool:
    """Submit and wait; returns whether the submit adopted an existing job."""
    handle = runner.submit(job, RUN, TOKEN)
    assert wait_until(lambda: runner.status(handle).state is not JobState.RUNNING, 15.0)
    assert runner.status(handle).state is JobState.SUCCEEDED
    return bool(handle.metadata["adopted"])


def test_two_stores_in_one_folder_do_not_share_jobs(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    first = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    second = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    first_dir = state_dir_for(f"sqlite:///{tmp_path / 'a.db'}", first)
    second_dir = state_dir_for(f"sqlite:///{tmp_path / 'b.db'}", second)
    assert first_dir != second_dir
    assert first_dir.parent == second_dir.parent == tmp_path / ".interlock" / "jobs"
    assert not run_to_end(CommandRunner(lambda: first_dir), counting_job(counter))
    # The same token in the other store is a new job there, not the first store's job.
    assert not run_to_end(CommandRunner(lambda: second_dir), counting_job(counter))
    assert counter.read_text() == "xx"
    # A controller of the same store gets the same folder (and adopts).
    assert state_dir_for(f"sqlite:///{tmp_path / 'a.db'}", first) == first_dir
    assert run_to_end(CommandRunner(lambda: first_dir), counting_job(counter))
    assert counter.read_text() == "xx"


def test_a_recreated_database_does_not_adopt_the_old_jobs(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    url = f"sqlite:///{tmp_path / 'interlock.db'}"
    engine = build_engine(url)
    assert not run_to_end(engine.runners["command"], counting_job(counter))  # type: ignore[arg-type]
    engine.store.close()
    for leftover in tmp_path.glob("interlock.db*"):
        leftover.unlink()
    again = build_engine(url)
    assert not run_to_end(again.runners["command"], counting_job(counter))  # type: ignore[arg-type]
    again.store.close()
    assert counter.read_text() == "xx"


def test_a_folder_created_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = open_store(url)
    (tmp_path / ".interlock").mkdir(mode=0o700)
    real = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real + 1)  # the folder is now someone else's
    with pytest.raises(UnsafeStateDir, match="owned by uid"):
        state_dir_for(url, store)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = open_store(url)
    shared = tmp_path / ".interlock"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(UnsafeStateDir, match="writable by group or others"):
        state_dir_for(url, store)


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = open_store(url)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / ".interlock").symlink_to(elsewhere)
    with pytest.raises(UnsafeStateDir, match="symbolic link"):
        state_dir_for(url, store)


def test_the_runner_refuses_an_unsafe_folder_without_starting_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = build_engine(url)
    (tmp_path / ".interlock").mkdir()
    (tmp_path / ".interlock").chmod(0o777)
    runner = engine.runners["command"]
    with pytest.raises(JobError) as info:
        runner.submit(counting_job(tmp_path / "runs"), RUN, TOKEN)
    assert info.value.category is FailureCategory.PERMANENT
    assert info.value.may_have_started is False
    assert "writable by group or others" in str(info.value)
    assert not (tmp_path / "runs").exists()
    engine.store.close()


def test_memory_stores_get_a_fresh_private_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLOCK_STATE_DIR", raising=False)
    first = state_dir_for("memory://")
    second = state_dir_for("memory://")
    try:
        assert first != second
        assert f"interlock-jobs-{os.getpid()}" not in str(first)
        assert first.stat().st_mode & 0o777 == 0o700
    finally:
        first.rmdir()
        second.rmdir()


def test_job_files_never_follow_planted_links(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_text("keep")
    (folder / f"{TOKEN}.lock").symlink_to(target)
    with pytest.raises(JobError):
        CommandRunner(folder).submit(counting_job(tmp_path / "runs"), RUN, TOKEN)
    assert target.read_text() == "keep"


SUBMIT = """\
import sys
import time
from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import RunContext
from interlock_core.runtime import build_engine
engine = build_engine(sys.argv[1])
job = CommandJob.model_validate({"command": [sys.executable, "-c", sys.argv[2], sys.argv[3]]})
handle = engine.runners["command"].submit(job, RunContext("orders", "2026-03-04", 1), sys.argv[4])
print(handle.metadata["adopted"], handle.metadata["state_file"])
engine.store.close()
"""


def test_a_shared_store_keeps_job_state_in_one_folder_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A controller restarted after submitting (before recording the handle) adopts the job
    instead of starting it again: job state of a PostgreSQL store outlives the process."""
    from tests.postgres_server import fresh_schema

    monkeypatch.delenv("INTERLOCK_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    counter = tmp_path / "runs"
    slow = "import sys, time; open(sys.argv[1], 'a').write('x'); time.sleep(3)"
    with fresh_schema() as url:
        outputs = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", SUBMIT, url, slow, str(counter), TOKEN],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout.split())
        store = open_store(url)
        identity = store.get_marker("", "store-identity")
        store.close()
    assert [adopted for adopted, _ in outputs] == ["False", "True"]
    assert identity is not None
    folder = tmp_path / "state" / "interlock" / "jobs" / f"postgresql-{identity.data['id']}"
    assert {Path(state_file).parent for _, state_file in outputs} == {folder}
    assert folder.stat().st_mode & 0o777 == 0o700
    assert wait_until(lambda: counter.exists(), 10.0)
    time.sleep(0.2)
    assert counter.read_text() == "x"


def test_a_shared_store_refuses_a_state_home_folder_others_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERLOCK_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    (tmp_path / "interlock").mkdir()
    (tmp_path / "interlock").chmod(0o777)
    store = open_store("memory://")
    with pytest.raises(UnsafeStateDir, match="writable by group or others"):
        state_dir_for("postgresql://u@db/x", store)


def test_an_unwritable_state_home_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERLOCK_STATE_DIR", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))
    with pytest.raises(OSError, match="set XDG_STATE_HOME or INTERLOCK_STATE_DIR"):
        state_dir_for("postgresql://u@db/x", open_store("memory://"))
