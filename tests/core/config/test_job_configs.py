"""The job-config models load per job type (issue 13): same models, same lookups."""

import subprocess
import sys
from pathlib import Path

import pytest

from interlock_core.config import jobs
from interlock_core.config.jobs import JOB_CONFIG_MODELS, JobConfigBase, JobType

ROOT = Path(__file__).resolve().parents[3]


def test_every_job_type_has_its_model_in_type_order() -> None:
    assert list(JOB_CONFIG_MODELS) == list(JobType)
    assert len(JOB_CONFIG_MODELS) == len(JobType)
    for kind, model in JOB_CONFIG_MODELS.items():
        assert issubclass(model, JobConfigBase), kind
        assert model.__module__.startswith("interlock_core.config.job_configs."), kind
        assert JOB_CONFIG_MODELS[kind] is model  # one class per type, every lookup


def test_a_type_name_finds_its_model_and_an_unknown_one_none() -> None:
    models: dict[str, type[JobConfigBase]] = {}
    models.update(JOB_CONFIG_MODELS)
    assert JOB_CONFIG_MODELS["command"] is models["command"]  # type: ignore[index]
    assert models["emr-serverless"].__name__ == "EmrServerlessJob"
    with pytest.raises(KeyError):
        JOB_CONFIG_MODELS["cron"]  # type: ignore[index]
    assert "cron" not in JOB_CONFIG_MODELS


def test_the_model_names_still_import_from_config_jobs() -> None:
    from interlock_core.config.jobs import CommandJob, LambdaJob

    assert CommandJob is JOB_CONFIG_MODELS[JobType.COMMAND]
    assert LambdaJob is JOB_CONFIG_MODELS[JobType.LAMBDA]
    with pytest.raises(AttributeError, match="NoSuchJob"):
        jobs.NoSuchJob  # noqa: B018


def test_parsing_a_command_job_builds_no_other_job_model() -> None:
    code = (
        "import sys\n"
        "from interlock_core.config.models import Job\n"
        "job = Job.model_validate({'type': 'command', 'config': {'command': ['true']}})\n"
        "assert type(job.config).__name__ == 'CommandJob'\n"
        "prefix = 'interlock_core.config.job_configs.'\n"
        "print(sorted(m for m in sys.modules if m.startswith(prefix)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['interlock_core.config.job_configs.command']"
