"""A restarted ``interlock run`` on PostgreSQL polls the command job an earlier one started.

Job state of shared stores lives in a stable per-store folder under the user's state home
(``$XDG_STATE_HOME/interlock/jobs/postgresql-<store id>/``), not in a temporary folder per
process: the second process must find the first one's job, poll it to completion and never
submit it again.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock_core.events import EventType
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.postgres_server import fresh_schema

PIPELINE = """\
pipeline: {{id: restart}}
schedule:
  timezone: UTC
  trigger: {{key: ready, check: equals, field: status, value: ok}}
  evaluation: {{window: 2h, interval: 1h}}
job:
  type: command
  config:
    command: [{python}, {script}]
  jobCheckIntervalSeconds: 1
"""

# Waits for the test to let it finish, then records that it ran.
JOB = """\
import pathlib, sys, time
here = pathlib.Path({folder!r})
while not (here / "go").exists():
    time.sleep(0.05)
with open(here / "ledger", "a") as ledger:
    ledger.write("ran\\n")
"""


@pytest.fixture
def store_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock_core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_restarted_runtime_polls_the_job_to_completion(store_url: str, tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (tmp_path / "job.py").write_text(JOB.format(folder=str(tmp_path)))
    (pipelines / "restart.yaml").write_text(
        PIPELINE.format(python=sys.executable, script=tmp_path / "job.py")
    )
    state_home = tmp_path / "state"
    env = {**os.environ, "INTERLOCK_STORE": store_url, "XDG_STATE_HOME": str(state_home)}
    for name in ("INTERLOCK_STATE_DIR", "INTERLOCK_PIPELINES"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[3]), *sys.path])

    assert _cli(env, "apply", str(pipelines)).returncode == 0
    emitted = _cli(env, "emit", "restart", "ready", "status=ok")
    assert emitted.returncode == 0, emitted.stderr
    first = _cli(env, "run", "--once", "--pipelines", str(pipelines))
    assert first.returncode == 0, first.stdout + first.stderr

    store = open_store(store_url)
    try:
        [run] = store.list_runs("restart")
        assert run.status == RunStatus.RUNNING, run

        (tmp_path / "go").touch()
        deadline = time.monotonic() + 30
        while store.list_runs("restart")[0].status == RunStatus.RUNNING:
            assert time.monotonic() < deadline, "the restarted runtime never finished the job"
            time.sleep(0.3)
            again = _cli(env, "run", "--once", "--pipelines", str(pipelines))
            assert again.returncode == 0, again.stdout + again.stderr
        [run] = store.list_runs("restart")
        assert run.status == RunStatus.SUCCEEDED, run
        assert (tmp_path / "ledger").read_text().splitlines() == ["ran"]
        triggered = store.query_events("restart", types=[EventType.JOB_TRIGGERED])
        assert len(triggered) == 1
        folders = list((state_home / "interlock" / "jobs").iterdir())
        assert len(folders) == 1 and folders[0].name.startswith("postgresql-")
        assert folders[0].stat().st_mode & 0o777 == 0o700
    finally:
        store.close()
