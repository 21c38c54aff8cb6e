"""Which runner handles which job type.

A runner's module is imported when a job of its type is first submitted, polled or
cancelled, not when the engine is built: ``interlock emit`` and the other short commands
never load the HTTP client, ssl, or the AWS and Airflow runners (issue 13).
"""

import importlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock_core.config.jobs import JobType
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobRunner,
    JobStatus,
    RunContext,
)
from interlock_core.jobs.log_limits import DEFAULT_MAX_LOG_BYTES
from interlock_core.jobs.policy import JobPolicy, policy_runners

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock_core.jobs.aws import ClientFactory

# Job type -> "module:class" of its runner.
RUNNER_CLASSES: dict[JobType, str] = {
    JobType.COMMAND: "interlock_core.jobs.command:CommandRunner",
    JobType.HTTP: "interlock_core.jobs.http:HttpRunner",
    JobType.AIRFLOW: "interlock_core.jobs.airflow:AirflowRunner",
    JobType.DATABRICKS: "interlock_core.jobs.databricks:DatabricksRunner",
    JobType.GLUE: "interlock_core.jobs.aws:GlueRunner",
    JobType.EMR: "interlock_core.jobs.aws:EmrRunner",
    JobType.EMR_SERVERLESS: "interlock_core.jobs.aws:EmrServerlessRunner",
    JobType.STEP_FUNCTION: "interlock_core.jobs.aws:StepFunctionRunner",
    JobType.LAMBDA: "interlock_core.jobs.aws:LambdaRunner",
}
_AWS_TYPES = (JobType.GLUE, JobType.EMR, JobType.EMR_SERVERLESS, JobType.STEP_FUNCTION)


def runner_class(kind: JobType) -> Any:
    """The runner class of a job type, imported now."""
    module_name, _, attribute = RUNNER_CLASSES[kind].partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class LazyRunner:
    """A runner built (and its module imported) on first use; then it is that runner.

    Every attribute other than ``job_type`` is the built runner's, so callers and tests see
    no difference but the time the import happens.
    """

    def __init__(self, job_type: str, make: Callable[[], JobRunner]) -> None:
        self.job_type = job_type
        self._make = make
        self._runner: JobRunner | None = None
        self._lock = threading.Lock()

    @property
    def runner(self) -> JobRunner:
        """The real runner, built on the first call."""
        runner = self._runner
        if runner is None:
            with self._lock:
                runner = self._runner
                if runner is None:
                    runner = self._runner = self._make()
        return runner

    def submit(self, job: "BaseModel", run: RunContext, token: str) -> JobHandle:
        """The runner's submit; a runner that cannot be built has started no job.

        Raises:
            JobError: the runner cannot be built (PERMANENT, never started: the run fails
                with the reason instead of waiting as UNCERTAIN), or its submit failed.
        """
        try:
            runner = self.runner
        except Exception as exc:
            raise JobError(
                f"the {self.job_type} runner cannot be loaded: {type(exc).__name__}: {exc}",
                FailureCategory.PERMANENT,
                may_have_started=False,
            ) from exc
        return runner.submit(job, run, token)

    def status(self, handle: JobHandle) -> JobStatus:
        """The runner's status."""
        return self.runner.status(handle)

    def cancel(self, handle: JobHandle) -> bool:
        """The runner's cancel."""
        return self.runner.cancel(handle)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not built yet (or copy/pickle probes): no import
            raise AttributeError(name)
        try:
            runner = self.runner
        except Exception as exc:
            # A runner that cannot be built has none of its attributes: optional ones read
            # with a default (``dedups_on_token``) take it; ``submit`` says why it failed.
            raise AttributeError(name) from exc
        return getattr(runner, name)


def _factories(
    state_dir: Path | Callable[[], Path] | None,
    client_factory: "ClientFactory | None",
    sleep: Callable[[float], None],
    kill_grace: float,
    cancel_timeout: float,
    environ: Mapping[str, str] | None = None,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
) -> dict[JobType, Callable[[], JobRunner]]:
    def command() -> JobRunner:
        if state_dir is None:
            raise ValueError("command jobs need a state_dir shared by every controller")
        runner: JobRunner = runner_class(JobType.COMMAND)(
            state_dir,
            kill_grace=kill_grace,
            sleep=sleep,
            environ=environ,
            max_log_bytes=max_log_bytes,
        )
        return runner

    def aws(kind: JobType) -> Callable[[], JobRunner]:
        return lambda: runner_class(kind)(
            client_factory=client_factory,
            sleep=sleep,
            cancel_timeout=cancel_timeout,
            environ=environ,
        )

    return {
        JobType.COMMAND: command,
        JobType.HTTP: lambda: runner_class(JobType.HTTP)(sleep=sleep, environ=environ),
        JobType.AIRFLOW: lambda: runner_class(JobType.AIRFLOW)(
            sleep=sleep, client_factory=client_factory, environ=environ
        ),
        JobType.DATABRICKS: lambda: runner_class(JobType.DATABRICKS)(
            sleep=sleep, cancel_timeout=cancel_timeout, environ=environ
        ),
        **{kind: aws(kind) for kind in _AWS_TYPES},
        JobType.LAMBDA: aws(JobType.LAMBDA),
    }


def default_runners(
    state_dir: Path | Callable[[], Path],
    *,
    client_factory: "ClientFactory | None" = None,
    sleep: Callable[[float], None] = time.sleep,
    kill_grace: float = 5.0,
    cancel_timeout: float = 30.0,
    policy: JobPolicy | None = None,
) -> dict[str, JobRunner]:
    """One runner per job type, keyed by the type's name (``"command"``, ``"glue"``, …).

    Each is built, and its module imported, when first used (:class:`LazyRunner`).

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
    lazy: dict[str, JobRunner] = {
        kind.value: LazyRunner(kind.value, make) for kind, make in factories.items()
    }
    return policy_runners(lazy, policy)


def runner_for(
    job_type: str | JobType,
    *,
    state_dir: Path | Callable[[], Path] | None = None,
    client_factory: "ClientFactory | None" = None,
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
