"""AWS job types when boto3 is not installed: a warning with the fix before anything runs, and
a PERMANENT submit failure that says how to fix it (never retried as if transient).

boto3 is installed in the test environment, so its absence is simulated: every ``import
boto3`` / ``import botocore`` raises ImportError, as it does in a bare ``pip install interlock``.
"""

import builtins
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from interlock_core.cli import main
from interlock_core.clock import ManualClock
from interlock_core.config.jobs import GlueJob, LambdaJob
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.jobs.airflow import AirflowRunner
from interlock_core.jobs.aws import GlueRunner, LambdaRunner
from interlock_core.jobs.base import FailureCategory, JobError, RunContext
from interlock_core.jobs.registry import default_runners
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

HINT = "pip install 'interlock[aws]'"
RUN = RunContext("orders", "2026-03-04", 1)
GLUE_PIPELINE = """\
pipeline: {id: nightly-etl}
schedule:
  trigger: {key: landed, check: exists}
job:
  type: glue
  config: {jobName: etl}
"""
COMMAND_PIPELINE = """\
pipeline: {id: local}
schedule:
  trigger: {key: landed, check: exists}
job:
  type: command
  config: {command: ["true"]}
"""


@pytest.fixture
def no_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_boto3(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in {"boto3", "botocore"}:
            raise ImportError(f"No module named {name.split('.')[0]!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_boto3)


@pytest.mark.usefixtures("no_boto3")
@pytest.mark.parametrize(
    ("runner", "job"),
    [(GlueRunner(), GlueJob(job_name="etl")), (LambdaRunner(), LambdaJob(function_name="f"))],
)
def test_a_submit_fails_permanent_with_the_fix(runner: Any, job: Any) -> None:
    with pytest.raises(JobError) as caught:
        runner.submit(job, RUN, "t" * 40)
    assert caught.value.category == FailureCategory.PERMANENT
    assert caught.value.may_have_started is False
    assert HINT in str(caught.value) and "boto3" in str(caught.value)


@pytest.mark.usefixtures("no_boto3")
def test_airflow_on_mwaa_fails_permanent_with_the_fix() -> None:
    from interlock_core.config.jobs import AirflowJob

    job = AirflowJob(dag_id="d", mwaa_environment="env", region="eu-west-1")
    with pytest.raises(JobError) as caught:
        AirflowRunner().submit(job, RUN, "t" * 40)
    assert caught.value.category == FailureCategory.PERMANENT
    assert HINT in str(caught.value)


@pytest.mark.usefixtures("no_boto3")
def test_the_run_fails_at_once_instead_of_retrying(tmp_path: Path) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC))
    engine = Interlock(open_store("memory://"), default_runners(tmp_path / "jobs"), clock)
    apply_documents(
        engine,
        {
            "pipeline": {"id": "nightly-etl"},
            "schedule": {"trigger": {"key": "landed", "check": "exists"}},
            "job": {"type": "glue", "config": {"jobName": "etl"}, "maxCodeRetries": 0},
        },
    )
    engine.emit("nightly-etl", "landed", {})
    engine.advance_due()
    run = engine.run("nightly-etl", "2026-03-04")
    assert run is not None and run.status == RunStatus.FAILED, run
    assert run.failure_category == FailureCategory.PERMANENT.value
    assert HINT in run.message
    assert run.submit_failures == 0  # no transient back-off
    failed = engine.events("nightly-etl", [EventType.JOB_FAILED])
    assert failed and HINT in failed[0].message


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.usefixtures("no_boto3")
def test_validate_and_apply_warn_with_the_fix(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "nightly-etl.yaml").write_text(GLUE_PIPELINE, encoding="utf-8")
    (pipelines / "local.yaml").write_text(COMMAND_PIPELINE, encoding="utf-8")
    validated = _cli("validate", str(pipelines))
    assert validated.exit_code == 0  # a warning, not an error: the config is valid
    [warning] = [line for line in validated.stdout.splitlines() if line.startswith("warning:")]
    assert "nightly-etl.yaml: job type glue needs boto3" in warning
    assert HINT in warning
    applied = _cli("--store", f"sqlite:///{tmp_path / 'i.db'}", "apply", str(pipelines))
    assert applied.exit_code == 0
    [warning] = [line for line in applied.stderr.splitlines() if line.startswith("warning:")]
    assert "job type glue needs boto3" in warning and HINT in warning


def test_no_warning_when_boto3_is_installed(tmp_path: Path) -> None:
    (tmp_path / "nightly-etl.yaml").write_text(GLUE_PIPELINE, encoding="utf-8")
    validated = _cli("validate", str(tmp_path / "nightly-etl.yaml"))
    assert validated.exit_code == 0
    assert "warning:" not in validated.stdout
