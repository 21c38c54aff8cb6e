"""The runner registry and the package's public names."""

import subprocess
import sys
from pathlib import Path

import pytest

import interlock_core.jobs as jobs
from interlock_core.config.jobs import JobType
from interlock_core.jobs.base import JobState, RunContext, idempotency_token, period_parts
from interlock_core.jobs.command import CommandRunner
from interlock_core.jobs.registry import default_runners, runner_for


def test_every_job_type_has_a_runner(tmp_path: Path) -> None:
    runners = default_runners(tmp_path)
    assert set(runners) == {t.value for t in JobType}
    for name, runner in runners.items():
        assert runner.job_type == name
        assert callable(runner.submit)
        assert callable(runner.status)
        assert callable(runner.cancel)


def test_runner_for(tmp_path: Path) -> None:
    assert runner_for("http").job_type == "http"
    assert runner_for(JobType.STEP_FUNCTION).job_type == "step-function"
    command = runner_for("command", state_dir=tmp_path)
    assert isinstance(command, CommandRunner)
    with pytest.raises(ValueError, match="state_dir"):
        runner_for("command")
    with pytest.raises(ValueError, match="unknown job type 'ftp'"):
        runner_for("ftp")


def test_registry_runners_work_end_to_end(tmp_path: Path) -> None:
    runner = default_runners(tmp_path, kill_grace=0.2)["command"]
    job = jobs.CommandRunner  # the lazy export resolves
    assert job is CommandRunner
    from interlock_core.config.jobs import CommandJob

    handle = runner.submit(
        CommandJob(command=[sys.executable, "-c", "pass"]), RunContext("p", "2026-01-01", 1), "t"
    )
    from tests.core.jobs.conftest import wait_until

    assert wait_until(lambda: runner.status(handle).state is JobState.SUCCEEDED, 15)


def test_importing_the_package_loads_no_optional_dependency() -> None:
    code = (
        "import sys, interlock_core.jobs as j\n"
        "j.default_runners, j.GlueRunner, j.AirflowRunner\n"
        "bad = [m for m in ('boto3', 'botocore', 'airflow', 'dagster') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_names() -> None:
    for name in jobs.__all__:
        assert getattr(jobs, name) is not None
    with pytest.raises(AttributeError):
        getattr(jobs, "NoSuchThing")  # noqa: B009


def test_token_and_period_helpers() -> None:
    token = idempotency_token("orders", "2026-03-04", 1)
    assert len(token) == 40
    assert token == idempotency_token("orders", "2026-03-04", 1)
    assert token != idempotency_token("orders", "2026-03-04", 2)
    assert period_parts("2026-03-04") == ("20260304", None)
    assert period_parts("2026-03-04T07") == ("20260304", "07")


def test_a_runner_that_cannot_be_built_fails_its_submit_as_never_started(tmp_path: Path) -> None:
    # Runners are built on first use now (before, at engine start): a runner whose module
    # or constructor fails has started no job, so its run must not become UNCERTAIN (which
    # says the job may be running) but fail with the reason.
    import datetime as dt

    from interlock_core.clock import ManualClock
    from interlock_core.config.models import Pipeline
    from interlock_core.engine import Interlock
    from interlock_core.jobs.registry import LazyRunner
    from interlock_core.runs import RunStatus
    from interlock_core.storage import open_store
    from tests.scenarios.harness import PipelineSetStub

    def broken() -> CommandRunner:
        raise ImportError("No module named 'some_dependency'")

    pipeline = Pipeline.model_validate(
        {
            "pipeline": {"id": "p"},
            "job": {"type": "command", "config": {"command": ["true"]}},
        }
    )
    clock = ManualClock(dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC))
    engine = Interlock(open_store("memory://"), {"command": LazyRunner("command", broken)}, clock)
    engine.apply(PipelineSetStub({"p": pipeline}, {}), remove_missing=False)
    engine.open_run("p", "2026-03-03")
    engine.advance_due()
    run = engine.store.get_run("p", "2026-03-03")
    assert run is not None and run.status == RunStatus.FAILED, run
    assert "some_dependency" in (run.message or "")
