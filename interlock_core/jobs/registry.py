"""Which runner handles which job type."""

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from interlock_core.config.jobs import JobType
from interlock_core.jobs.airflow import AirflowRunner
from interlock_core.jobs.aws import (
    ClientFactory,
    EmrRunner,
    EmrServerlessRunner,
    GlueRunner,
    LambdaRunner,
    StepFunctionRunner,
)
from interlock_core.jobs.base import JobRunner
from interlock_core.jobs.command import CommandRunner
from interlock_core.jobs.command_wrapper import DEFAULT_MAX_LOG_BYTES
from interlock_core.jobs.databricks import DatabricksRunner
from interlock_core.jobs.http import HttpRunner
from interlock_core.jobs.policy import JobPolicy, policy_runners


def _factories(
    state_dir: Path | Callable[[], Path] | None,
    client_factory: ClientFactory | None,
    sleep: Callable[[float], None],
    kill_grace: float,
    cancel_timeout: float,
    environ: Mapping[str, str] | None = None,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
) -> dict[JobType, Callable[[], JobRunner]]:
    def command() -> JobRunner:
        if state_dir is None:
            raise ValueError("command jobs need a state_dir shared by every controller")
        return CommandRunner(
            state_dir,
            kill_grace=kill_grace,
            sleep=sleep,
            environ=environ,
            max_log_bytes=max_log_bytes,
        )

    def aws(
        cls: type[GlueRunner | EmrRunner | EmrServerlessRunner | StepFunctionRunner | LambdaRunner],
    ) -> Callable[[], JobRunner]:
        return lambda: cls(
            client_factory=client_factory,
            sleep=sleep,
            cancel_timeout=cancel_timeout,
            environ=environ,
        )

    return {
        JobType.COMMAND: command,
        JobType.HTTP: lambda: HttpRunner(sleep=sleep, environ=environ),
        JobType.AIRFLOW: lambda: AirflowRunner(
            sleep=sleep, client_factory=client_factory, environ=environ
        ),
        JobType.DATABRICKS: lambda: DatabricksRunner(
            sleep=sleep, cancel_timeout=cancel_timeout, environ=environ
        ),
        JobType.GLUE: aws(GlueRunner),
        JobType.EMR: aws(EmrRunner),
        JobType.EMR_SERVERLESS: aws(EmrServerlessRunner),
        JobType.STEP_FUNCTION: aws(StepFunctionRunner),
        JobType.LAMBDA: aws(LambdaRunner),
    }


def default_runners(
    state_dir: Path | Callable[[], Path],
    *,
    client_factory: ClientFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    kill_grace: float = 5.0,
    cancel_timeout: float = 30.0,
    policy: JobPolicy | None = None,
) -> dict[str, JobRunner]:
    """One runner per job type, keyed by the type's name (``"command"``, ``"glue"``, …).

    Args:
        state_dir: where command jobs keep their state, log and lock files; every controller
            that polls the same jobs must share it.
        client_factory: ``(service, region) -> boto3 client`` for the AWS types and MWAA.
        sleep: how runners wait between retries and confirmations (tests pass a no-op).
        kill_grace: seconds between SIGTERM and SIGKILL for command jobs.
        cancel_timeout: seconds a cancel waits for the target to confirm the stop.
        policy: the operator's limits (``jobs`` in interlock.yaml); by default jobs may read
            every environment variable except Interlock's own and the alert channels'.
    """
    policy = policy or JobPolicy()
    factories = _factories(
        state_dir,
        client_factory,
        sleep,
        kill_grace,
        cancel_timeout,
        policy.environ(),
        policy.command_log_bytes,
    )
    return policy_runners({kind.value: make() for kind, make in factories.items()}, policy)


def runner_for(
    job_type: str | JobType,
    *,
    state_dir: Path | Callable[[], Path] | None = None,
    client_factory: ClientFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> JobRunner:
    """A fresh runner for ``job_type``, with default settings.

    Raises:
        ValueError: the type is unknown, or ``command`` without a ``state_dir``.
    """
    try:
        kind = JobType(job_type)
    except ValueError:
        known = ", ".join(t.value for t in JobType)
        raise ValueError(f"unknown job type {job_type!r} (known: {known})") from None
    return _factories(state_dir, client_factory, sleep, 5.0, 30.0)[kind]()
