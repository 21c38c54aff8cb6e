"""Lease recovery with a real command job: the repeat submit adopts the running job."""

import datetime as dt
import sys
import time
from pathlib import Path

import pytest

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.jobs.base import RunContext
from interlock_core.jobs.registry import default_runners
from interlock_core.lifecycle import SUBMIT_LEASE
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)


def test_a_crash_after_starting_a_command_job_does_not_run_it_twice(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    script = tmp_path / "job.py"
    script.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).open('a').write('ran\\n')\n")
    runners = default_runners(tmp_path / "jobs", kill_grace=0.5)
    assert runners["command"].dedups_on_token is True  # type: ignore[attr-defined]
    assert runners["http"].dedups_on_token is False  # type: ignore[attr-defined]
    clock = ManualClock(NOW)
    engine = Interlock(open_store("memory://"), runners, clock, controller_id="dead")
    apply_documents(
        engine,
        {
            "pipeline": {"id": "orders"},
            "schedule": {"trigger": {"key": "go", "check": "exists"}},
            "job": {"type": "command", "config": {"command": [sys.executable, str(script)]}},
        },
    )
    engine.emit("orders", "go", {})
    # The controller wins the claim and starts the job, then dies before recording it.
    original_submit = runners["command"].submit

    def submit_then_die(job, run: RunContext, token: str):  # type: ignore[no-untyped-def]
        original_submit(job, run, token)
        raise SystemExit("controller killed")

    runners["command"].submit = submit_then_die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        engine.advance_due()
    runners["command"].submit = original_submit  # type: ignore[method-assign]
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.SUBMITTING

    # Another controller picks the run up once the lease has expired.
    survivor = Interlock(engine.store, runners, clock, controller_id="survivor")
    clock.advance(SUBMIT_LEASE + dt.timedelta(seconds=1))
    survivor.advance_due()
    run = survivor.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.RUNNING
    handle_meta = run.job_metadata
    assert handle_meta.get("adopted") is True

    deadline = time.monotonic() + 60  # a bound: the loop ends when the run does
    while time.monotonic() < deadline:
        clock.advance(dt.timedelta(minutes=1))
        survivor.advance_due()
        run = survivor.run("orders", "2026-03-04")
        assert run is not None
        if run.status != RunStatus.RUNNING:
            break
        time.sleep(0.05)
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert marker.read_text().splitlines() == ["ran"]
