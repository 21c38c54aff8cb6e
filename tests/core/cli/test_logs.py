"""``interlock logs``: a command job's output (per attempt, --follow), a remote job's id and
link, and clear refusals."""

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from interlock_core.engine import Interlock
from interlock_core.job_logs import remote_links
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.local_jobs import wake_finished_local_jobs
from interlock_core.runs import Run, RunStatus
from interlock_core.runtime import build_engine
from tests.core.cli.conftest import Cli
from tests.core.engine.fixtures import apply_documents

PERIOD = "2026-03-04"
SCRIPT = (
    "import os, sys, time\n"
    "print('building', os.environ['INTERLOCK_PERIOD'], 'attempt', os.environ['INTERLOCK_ATTEMPT'],"
    " flush=True)\n"
    "time.sleep(float(sys.argv[1]))\n"
    "print('done \\u2713', flush=True)\n"
    "sys.exit(int(os.environ['INTERLOCK_ATTEMPT']) == 1)\n"  # attempt 1 fails, 2 succeeds
)


def _command_pipeline(pause: float) -> dict[str, Any]:
    return {
        "pipeline": {"id": "builder"},
        "schedule": {"trigger": {"key": "go", "check": "exists"}},
        "job": {
            "type": "command",
            "config": {"command": [sys.executable, "-c", SCRIPT, str(pause)]},
            "maxRetries": 1,
            "jobCheckIntervalSeconds": 1,
        },
    }


def _engine(cli: Cli, *documents: dict[str, Any]) -> Interlock:
    engine = build_engine(cli.store_url)
    cli.opened.append(engine.store)
    apply_documents(engine, *documents)
    return engine


def _until(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _job_ended(engine: Interlock) -> bool:
    run = engine.run("builder", PERIOD)
    assert run is not None
    status = engine.runners["command"].status(JobHandle(run.job_run_id or "", run.job_metadata))
    return status.state != JobState.RUNNING


def _step(engine: Interlock) -> Run:
    """One controller pass, as `interlock run` makes it."""
    wake_finished_local_jobs(engine, engine.clock.now())
    engine.advance_due()
    run = engine.run("builder", PERIOD)
    assert run is not None
    return run


def test_each_attempt_shows_its_own_output(cli: Cli) -> None:
    engine = _engine(cli, _command_pipeline(0))
    engine.emit("builder", "go", {}, period=PERIOD)
    engine.advance_due()
    _until(lambda: _job_ended(engine), "attempt 1 to end")
    _until(lambda: _step(engine).attempt == 2, "attempt 1 to fail and attempt 2 to start")
    _until(lambda: _step(engine).status == RunStatus.SUCCEEDED, "attempt 2 to succeed")

    current = cli("logs", "builder", PERIOD)
    assert current.exit_code == 0, current.stderr
    assert f"building {PERIOD} attempt 2" in current.stdout
    assert "done \u2713" in current.stdout
    first = cli("logs", "builder", PERIOD, "--attempt", "1")
    assert f"building {PERIOD} attempt 1" in first.stdout
    assert "attempt 2" not in first.stdout
    document = json.loads(cli("logs", "builder", PERIOD, "--attempt", "1", "--json").stdout)
    assert document["jobType"] == "command" and document["attempt"] == 1
    assert Path(document["logFile"]).is_file()


def test_follow_prints_until_the_job_ends(cli: Cli) -> None:
    engine = _engine(cli, _command_pipeline(0.6))
    engine.emit("builder", "go", {}, period=PERIOD)
    engine.advance_due()
    run = engine.run("builder", PERIOD)
    assert run is not None and run.status == RunStatus.RUNNING
    followed = cli("logs", "builder", PERIOD, "--follow")
    assert followed.exit_code == 0, followed.stderr
    # Started before the job printed its last line, returned after it: both lines are there.
    assert f"building {PERIOD} attempt 1" in followed.stdout
    assert "done \u2713" in followed.stdout
    assert _job_ended(engine)


class GlueLikeRunner:
    """Stands in for a remote service: the job gets an id there."""

    job_type = "glue"

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        return JobHandle(f"jr_{token[:12]}", {"region": "eu-west-1"})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.RUNNING)

    def cancel(self, handle: JobHandle) -> bool:
        return True


def test_a_remote_job_shows_its_id_and_console_link(cli: Cli) -> None:
    engine = _engine(
        cli,
        {
            "pipeline": {"id": "etl"},
            "schedule": {"trigger": {"key": "go", "check": "exists"}},
            "job": {"type": "glue", "config": {"jobName": "nightly etl"}},
        },
    )
    engine.runners["glue"] = GlueLikeRunner()
    engine.emit("etl", "go", {}, period=PERIOD)
    engine.advance_due()
    run = engine.run("etl", PERIOD)
    assert run is not None and run.job_run_id is not None
    result = cli("logs", "etl", PERIOD)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"etl {PERIOD} attempt 1: glue job {run.job_run_id}",
        "Glue: https://eu-west-1.console.aws.amazon.com/gluestudio/home?region=eu-west-1"
        f"#/job/nightly%20etl/run/{run.job_run_id}",
        f"CloudWatch log group /aws-glue/jobs/output, stream {run.job_run_id}",
    ]


def test_refusals(cli: Cli) -> None:
    engine = _engine(cli, _command_pipeline(0))
    assert "has no run for" in cli("logs", "builder", PERIOD).stderr
    engine.emit("builder", "go", {"x": 1}, period="2026-03-05")
    waiting = cli("logs", "builder", "2026-03-05")
    assert waiting.exit_code == 1
    assert waiting.stderr == "error: attempt 1 of builder 2026-03-05 has no job: it is WAITING\n"
    too_far = cli("logs", "builder", "2026-03-05", "--attempt", "2")
    assert too_far.stderr == "error: builder 2026-03-05 has only attempt 1, not 2\n"
    assert "unknown pipeline 'nope'" in cli("logs", "nope", PERIOD).stderr
    assert cli("logs", "builder", "March").exit_code == 2


@pytest.mark.parametrize(
    ("config", "run_id", "metadata", "expected"),
    [
        (
            {"type": "airflow", "config": {"url": "https://airflow.example/", "dagId": "daily"}},
            "abc123",
            {},
            [("Airflow", "https://airflow.example/dags/daily/runs/abc123")],
        ),
        (
            {
                "type": "databricks",
                "config": {"workspaceUrl": "https://dbc.example", "jobId": 42},
            },
            "991",
            {},
            [("Databricks", "https://dbc.example/#job/42/run/991")],
        ),
        (
            {
                "type": "step-function",
                "config": {"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m"},
            },
            "arn:aws:states:us-east-1:1:execution:m:t",
            {"region": "us-east-1"},
            [
                (
                    "Step Functions",
                    "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
                    "#/v2/executions/details/arn:aws:states:us-east-1:1:execution:m:t",
                )
            ],
        ),
        (
            {"type": "lambda", "config": {"functionName": "load", "region": "eu-central-1"}},
            "req-1",
            {},
            [
                (
                    "Lambda",
                    "https://eu-central-1.console.aws.amazon.com/lambda/home?region=eu-central-1"
                    "#/functions/load?tab=monitoring",
                )
            ],
        ),
        (
            {"type": "emr", "config": {"clusterId": "j-1", "stepName": "s", "command": "x"}},
            "s-1",
            {"region": "us-west-2"},
            [
                (
                    "EMR",
                    "https://us-west-2.console.aws.amazon.com/emr/home?region=us-west-2"
                    "#/clusterDetails/j-1",
                )
            ],
        ),
        (
            {
                "type": "airflow",
                "config": {"dagId": "daily", "mwaaEnvironment": "prod", "region": "eu-west-1"},
            },
            "abc123",
            {},
            [
                (
                    "MWAA",
                    "https://eu-west-1.console.aws.amazon.com/mwaa/home?region=eu-west-1"
                    "#environments/prod",
                )
            ],
        ),
        (
            {
                "type": "emr-serverless",
                "config": {"applicationId": "00f1", "jobName": "j", "region": "us-east-2"},
            },
            "00run",
            {},
            [
                (
                    "EMR Serverless",
                    "https://us-east-2.console.aws.amazon.com/emr/home?region=us-east-2"
                    "#/serverless-applications/00f1",
                )
            ],
        ),
        (
            {
                "type": "http",
                "config": {
                    "url": "https://jobs.example/run",
                    "statusUrl": "https://jobs.example/run/{run_id}",
                },
            },
            "r-9",
            {"status_url": "https://jobs.example/run/r-9"},
            [("status", "https://jobs.example/run/r-9")],
        ),
    ],
)
def test_links_per_job_type(
    config: dict[str, Any], run_id: str, metadata: dict[str, Any], expected: list[Any]
) -> None:
    from interlock_core.config.models import Pipeline

    pipeline = Pipeline.model_validate({"pipeline": {"id": "p"}, "job": config})
    assert pipeline.job is not None
    links, _ = remote_links(pipeline.job.config, run_id, metadata, environ={})
    assert links == expected


def test_no_region_no_console_link() -> None:
    from interlock_core.config.jobs import GlueJob

    links, notes = remote_links(GlueJob(job_name="etl"), "jr_1", {}, environ={})
    assert links == []
    assert any("no region configured" in note for note in notes)
