"""A real ``interlock run`` controller SIGKILLed while a group of command jobs is submitted.

Grouped advancing (interlock_core/advancing.py) claims a whole group of due runs SUBMITTING
in one commit, starts their jobs one by one, and records them RUNNING in a second commit. A
controller killed between the two leaves runs SUBMITTING whose job already started; the
``command`` runner declares ``dedups_on_token``, so the lease resume must adopt that job
(the state file named after the token), never start a second one. Each job appends its
pipeline to a ledger: after the kill and the recovery every pipeline appears exactly once.

The controller is a real process on a real SQLite file; the recovery is an engine in this
process whose clock runs past the submit lease (waiting two real minutes would be too slow),
with the same runners and job state folder ``interlock run`` uses.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from interlock_core.events import EventType
from interlock_core.lifecycle import SUBMIT_LEASE
from interlock_core.local_engine import build_engine
from interlock_core.runs import RunStatus

PIPELINES = 24
ROUNDS = 3

PIPELINE = """\
pipeline: {{id: {id}}}
schedule:
  trigger: {{key: go, check: exists}}
  evaluation: {{window: 2h, interval: 1h}}
job:
  type: command
  config:
    command: [{python}, {script}]
  jobCheckIntervalSeconds: 1
"""

JOB = """\
import os, pathlib
with pathlib.Path({ledger!r}).open("a") as ledger:
    ledger.write(os.environ["INTERLOCK_PIPELINE"] + "\\n")
"""


class AheadClock:
    """The system clock moved past the submit lease: the killed controller's leases expired."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + SUBMIT_LEASE + dt.timedelta(seconds=5)


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def _ledger(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.mark.slow
def test_sigkill_inside_a_group_of_command_submits_never_starts_a_job_twice(
    tmp_path: Path,
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    ledger = tmp_path / "ledger.txt"
    script = tmp_path / "job.py"
    script.write_text(JOB.format(ledger=str(ledger)))
    ids = [f"p{r}x{i:02d}" for r in range(ROUNDS) for i in range(PIPELINES)]
    for pipeline_id in ids:
        (pipelines / f"{pipeline_id}.yaml").write_text(
            PIPELINE.format(id=pipeline_id, python=sys.executable, script=script)
        )
    store_url = f"sqlite:///{tmp_path / 'interlock.db'}"
    env = {**os.environ, "INTERLOCK_STORE": store_url, "INTERLOCK_PIPELINES": str(pipelines)}
    applied = subprocess.run(
        [sys.executable, "-m", "interlock_core.cli", "apply", str(pipelines)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    writer = build_engine(store_url, pipelines_dir=pipelines)
    recovery = build_engine(store_url, clock=AheadClock(), pipelines_dir=pipelines)
    lost = 0  # runs whose submit the kill cut before the wrapper started
    interrupted = 0  # runs found SUBMITTING at the kill with their job already started
    try:
        for round_ in range(ROUNDS):
            mine = ids[round_ * PIPELINES : (round_ + 1) * PIPELINES]
            for pipeline_id in mine:  # all due before the controller starts: one group
                writer.emit(pipeline_id, "go", {})
            log = (tmp_path / f"controller-{round_}.log").open("w")
            controller = subprocess.Popen(
                [sys.executable, "-m", "interlock_core.cli", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                # Kill as soon as the round's first job ran: the group's submits are in flight.
                _wait_for(
                    lambda mine=mine: any(_ledger(ledger)[p] for p in mine),
                    60,
                    "the first job of the group",
                )
                controller.send_signal(signal.SIGKILL)
                controller.wait(timeout=10)
            finally:
                if controller.poll() is None:
                    controller.kill()
                    controller.wait(timeout=10)
                log.close()
            time.sleep(0.3)  # jobs whose wrapper started finish and write the ledger
            started = _ledger(ledger)
            for pipeline_id in mine:
                [run] = writer.status(pipeline_id)
                if run.status == RunStatus.SUBMITTING and started[pipeline_id]:
                    interrupted += 1

            def finished(mine: list[str] = mine) -> bool:
                recovery.advance_due(limit=100)
                return all(recovery.status(p)[0].is_terminal for p in mine)

            _wait_for(finished, 60, "the recovery to finish every run")
            time.sleep(0.3)  # a second start of any job would have shown up by now
            started = _ledger(ledger)
            for pipeline_id in mine:
                [run] = recovery.status(pipeline_id)
                assert started[pipeline_id] <= 1, (pipeline_id, started[pipeline_id])
                if run.status != RunStatus.SUCCEEDED:
                    # The kill fell inside the runner's own submit, after it wrote the state
                    # file and before the wrapper started: the job never ran, and the resume
                    # reads the dead supervisor as a failed job (never as UNCERTAIN, never a
                    # second start). The command runner's window, not the group's.
                    assert run.status == RunStatus.FAILED, (pipeline_id, run.status)
                    assert "supervisor died" in (run.message or ""), run.message
                    assert started[pipeline_id] == 0, pipeline_id
                    lost += 1
                else:
                    assert started[pipeline_id] == 1, (pipeline_id, started[pipeline_id])
                triggered = recovery.events(pipeline_id, types=[EventType.JOB_TRIGGERED])
                assert len(triggered) == 1, pipeline_id
    finally:
        writer.store.close()
        recovery.store.close()
    print(f"\nruns SUBMITTING with their job started at a kill: {interrupted}; cut: {lost}")
