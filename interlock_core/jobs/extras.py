"""Optional dependencies a pipeline's job type needs, checked before anything runs.

``pip install interlock`` gives a working local runtime; the AWS job types (and Airflow on
MWAA) also need boto3, from the ``aws`` extra. ``validate`` and ``apply`` warn about a
pipeline that would fail at its first submit for want of it, with the command that fixes it.
"""

from collections.abc import Callable, Mapping
from pathlib import Path

from interlock_core.config.jobs import AirflowJob, JobType
from interlock_core.config.models import Pipeline

# Job types that always call AWS through boto3.
BOTO3_JOB_TYPES = frozenset(
    {JobType.GLUE, JobType.EMR, JobType.EMR_SERVERLESS, JobType.STEP_FUNCTION, JobType.LAMBDA}
)


def needs_boto3(pipeline: Pipeline) -> bool:
    """True when the pipeline's job calls AWS: an AWS job type, or Airflow on MWAA."""
    job = pipeline.job
    if job is None or job.type is None:
        return False
    if job.type in BOTO3_JOB_TYPES:
        return True
    return isinstance(job.config, AirflowJob) and bool(job.config.mwaa_environment)


def missing_extra_warnings(
    pipelines: Mapping[str, Pipeline],
    sources: Mapping[str, Path] | None = None,
    *,
    boto3_missing: Callable[[], str | None] | None = None,
) -> list[str]:
    """One warning per pipeline whose job type needs a package that is not installed.

    Args:
        pipelines: the pipelines by id.
        sources: the file of each pipeline (named in the warning when known).
        boto3_missing: why boto3 cannot be imported, or None (default: try the import).
    """
    needing = [pid for pid, pipeline in sorted(pipelines.items()) if needs_boto3(pipeline)]
    if not needing:
        return []
    if boto3_missing is None:
        from interlock_core.jobs.aws import boto3_missing as probe

        boto3_missing = probe
    reason = boto3_missing()
    if reason is None:
        return []
    from interlock_core.jobs.aws import AWS_EXTRA_HINT

    warnings = []
    for pipeline_id in needing:
        job = pipelines[pipeline_id].job
        assert job is not None and job.type is not None
        where = str((sources or {}).get(pipeline_id, pipeline_id))
        what = "airflow (MWAA)" if job.type == JobType.AIRFLOW else job.type.value
        warnings.append(
            f"{where}: job type {what} needs boto3, which is not installed; its submits will "
            f"fail until you run {AWS_EXTRA_HINT}"
        )
    return warnings
