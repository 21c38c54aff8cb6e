"""Where an attempt's job can be read: ``interlock logs`` (DESIGN.md §10).

A ``command`` job's output is a file on the machine whose controller ran it; a remote job has
a run id in its service, and — where the service has one — a page to open (the Airflow UI,
a Databricks run page, the AWS console). Links are built from the job config and the run id
only: no call is made, no secret is read, and a URL never carries credentials.
"""

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from interlock_core.config.jobs import (
    AirflowJob,
    DatabricksJob,
    EmrJob,
    EmrServerlessJob,
    GlueJob,
    HttpJob,
    LambdaJob,
    StepFunctionJob,
)
from interlock_core.events import EventType
from interlock_core.jobs.base import JobHandle, JobState
from interlock_core.runs import Run

if TYPE_CHECKING:
    from interlock_core.engine import Interlock

_GLUE_OUTPUT_LOG_GROUP = "/aws-glue/jobs/output"


@dataclasses.dataclass(frozen=True)
class JobLocation:
    """Where the job of one attempt is.

    Attributes:
        pipeline_id: the pipeline.
        period: the run's period.
        attempt: the attempt.
        job_type: the job's type (``command``, ``glue``, …).
        run_id: the job's id in its service (a command job's: its token).
        log_file: a command job's output file (it may be gone, or on another machine).
        links: ``(label, url)`` pairs to open the job in its service.
        notes: other places to look (log groups, ids), one line each.
        run: the run record.
        metadata: the job handle's metadata (current attempt only).
    """

    pipeline_id: str
    period: str
    attempt: int
    job_type: str | None
    run_id: str | None
    log_file: Path | None
    links: list[tuple[str, str]]
    notes: list[str]
    run: Run
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``interlock logs --json`` document."""
        return {
            "pipelineId": self.pipeline_id,
            "period": self.period,
            "attempt": self.attempt,
            "jobType": self.job_type,
            "runId": self.run_id,
            "logFile": str(self.log_file) if self.log_file is not None else None,
            "links": [{"label": label, "url": url} for label, url in self.links],
            "notes": list(self.notes),
        }


def locate_job(
    engine: "Interlock", pipeline_id: str, period: str, attempt: int | None = None
) -> JobLocation:
    """The job of an attempt (default: the current one).

    Raises:
        InterlockError: no such run or attempt, or the attempt has no job (not submitted
            yet, claimed by an orchestrator, a dry run).
    """
    from interlock_core.engine import InterlockError

    normalized = engine._normalize(period)
    run = engine.store.get_run(pipeline_id, normalized)
    if run is None:
        engine._require_config(pipeline_id)  # an unknown pipeline says so, with a suggestion
        raise InterlockError(f"{pipeline_id} has no run for {normalized}")
    wanted = run.attempt if attempt is None else attempt
    if not 1 <= wanted <= run.attempt:
        raise InterlockError(
            f"{pipeline_id} {normalized} has "
            + ("only attempt 1" if run.attempt == 1 else f"attempts 1 to {run.attempt}")
            + f", not {wanted}"
        )
    run_id, job_type, metadata = _job_of(engine, run, wanted)
    if run_id is None:
        why = f"it is {run.status.value}" if wanted == run.attempt else "none was triggered"
        if run.owner and wanted == run.attempt:
            why += f", claimed by {run.owner} (its logs are there)"
        raise InterlockError(f"attempt {wanted} of {pipeline_id} {normalized} has no job: {why}")
    active = engine.config(pipeline_id, run.config_hash or None) or engine.config(pipeline_id)
    job = active.pipeline.job if active is not None else None
    config = job.config if job is not None and (job_type is None or job.type == job_type) else None
    job_type = job_type or (job.type.value if job is not None and job.type else None)
    log_file: Path | None = None
    if job_type == "command":
        log_file = _command_log(engine, run_id, metadata)
    links, notes = remote_links(config, run_id, metadata)
    return JobLocation(
        pipeline_id, normalized, wanted, job_type, run_id, log_file, links, notes, run, metadata
    )


def command_job_finished(engine: "Interlock", location: JobLocation) -> bool:
    """True once a command job's supervisor recorded its end (or cannot be asked)."""
    runner = engine.runners.get("command")
    if runner is None or location.run_id is None:
        return True
    metadata = dict(location.metadata)
    if "state_file" not in metadata and location.log_file is not None:
        metadata["state_file"] = str(location.log_file.with_suffix(".json"))
    try:
        status = runner.status(JobHandle(location.run_id, metadata))
    except Exception:
        return True
    return status.state != JobState.RUNNING


def _job_of(
    engine: "Interlock", run: Run, attempt: int
) -> tuple[str | None, str | None, dict[str, Any]]:
    """``(run_id, job_type, metadata)`` of an attempt's job; metadata only for the current
    attempt (earlier ones are found through their JOB_TRIGGERED event)."""
    if attempt == run.attempt and run.job_run_id:
        return run.job_run_id, None, dict(run.job_metadata)
    triggered = engine.events(
        run.pipeline_id, [EventType.JOB_TRIGGERED], period=run.period, limit=None
    )
    for event in reversed(triggered):
        if event.attempt == attempt and event.detail.get("runId"):
            job_type = event.detail.get("jobType")
            return str(event.detail["runId"]), str(job_type) if job_type else None, {}
    return None, None, {}


def _command_log(engine: "Interlock", token: str, metadata: Mapping[str, Any]) -> Path | None:
    recorded = metadata.get("log_file")
    if isinstance(recorded, str) and recorded:
        return Path(recorded)
    runner = engine.runners.get("command")
    paths = getattr(runner, "paths", None)
    if paths is None:
        return None
    try:
        _, log_file, _ = paths(token)
    except Exception:
        return None
    return Path(log_file)


def remote_links(
    config: Any, run_id: str, metadata: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
    """Links to a remote job's page and notes on where its logs are, from its config."""
    env = os.environ if environ is None else environ
    region = _region(config, metadata, env)
    console = f"https://{region}.console.aws.amazon.com" if region else None
    links: list[tuple[str, str]] = []
    notes: list[str] = []
    if isinstance(config, AirflowJob):
        if config.url:
            base = config.url.rstrip("/")
            links.append(("Airflow", f"{base}/dags/{quote(config.dag_id)}/runs/{quote(run_id)}"))
        elif config.mwaa_environment and console:
            links.append(
                (
                    "MWAA",
                    f"{console}/mwaa/home?region={region}#environments/{config.mwaa_environment}",
                )
            )
            notes.append(f"DAG {config.dag_id}, run {run_id}")
    elif isinstance(config, DatabricksJob):
        base = config.workspace_url.rstrip("/")
        links.append(("Databricks", f"{base}/#job/{config.job_id}/run/{quote(run_id)}"))
    elif isinstance(config, GlueJob):
        if console:
            links.append(
                (
                    "Glue",
                    f"{console}/gluestudio/home?region={region}#/job/"
                    f"{quote(config.job_name, safe='')}/run/{quote(run_id)}",
                )
            )
        notes.append(
            f"CloudWatch log group {config.log_group or _GLUE_OUTPUT_LOG_GROUP}, stream {run_id}"
        )
    elif isinstance(config, EmrJob):
        if console:
            links.append(
                ("EMR", f"{console}/emr/home?region={region}#/clusterDetails/{config.cluster_id}")
            )
        notes.append(f"cluster {config.cluster_id}, step {run_id}")
    elif isinstance(config, EmrServerlessJob):
        if console:
            links.append(
                (
                    "EMR Serverless",
                    f"{console}/emr/home?region={region}#/serverless-applications/"
                    f"{config.application_id}",
                )
            )
        notes.append(f"application {config.application_id}, job run {run_id}")
    elif isinstance(config, StepFunctionJob):
        if console:
            links.append(
                (
                    "Step Functions",
                    f"{console}/states/home?region={region}#/v2/executions/details/{run_id}",
                )
            )
    elif isinstance(config, LambdaJob):
        if console:
            links.append(
                (
                    "Lambda",
                    f"{console}/lambda/home?region={region}#/functions/"
                    f"{quote(config.function_name, safe='')}?tab=monitoring",
                )
            )
        notes.append(f"CloudWatch log group /aws/lambda/{config.function_name}, request {run_id}")
    elif isinstance(config, HttpJob):
        status_url = metadata.get("status_url")
        if isinstance(status_url, str) and status_url:
            links.append(("status", status_url))
    aws_types = (GlueJob, EmrJob, EmrServerlessJob, StepFunctionJob, LambdaJob)
    if isinstance(config, aws_types) and not region:
        notes.append("no region configured (set the job's region or AWS_REGION) for a console link")
    return links, notes


def _region(config: Any, metadata: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    for value in (
        metadata.get("region"),
        getattr(config, "region", None),
        env.get("AWS_REGION"),
        env.get("AWS_DEFAULT_REGION"),
    ):
        if isinstance(value, str) and value:
            return value
    return None
