"""AWS job types: glue, emr, emr-serverless, step-function and lambda, through boto3.

boto3 is imported only inside the client factories, so the core installs and imports without it.
Every runner takes a ``client_factory(service, region) -> client`` so tests can hand in
moto-backed or stubbed clients. Every handle keeps the id its target returned (the Go version
kept only Glue's), so any process can poll or cancel the job later.

Submits that the service cannot deduplicate (Glue StartJobRun, EMR AddJobFlowSteps, Lambda
Invoke) go through a client that never retries (:func:`no_retry_client_factory`): botocore
would otherwise send the call again after a read timeout, when the first one may already have
started the job. Their failures say whether the call may have reached the service
(:func:`aws_may_have_started`), so the engine only repeats what certainly did not.
"""

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from interlock_core.config.jobs import (
    EmrJob,
    EmrServerlessJob,
    GlueJob,
    LambdaJob,
    StepFunctionJob,
)
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
    decode_status,
    encode_status,
    expand_interlock,
    expect_config,
    period_parts,
    run_variables,
)
from interlock_core.jobs.netguard import not_started

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str, str | None], Any]

_CONNECT_TIMEOUT = 10
_READ_TIMEOUT = 60
# A RequestResponse invoke lasts as long as the function (up to 15 minutes).
_LAMBDA_READ_TIMEOUT = 905
_LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024

_TRANSIENT_CODES = frozenset(
    {
        "ConcurrentRunsExceededException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalServiceException",
        "InternalServiceError",
        "OperationTimeoutException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "ResourceConflictException",
    }
)
# botocore errors that come from our own configuration, not from a passing condition.
_PERMANENT_LOCAL_ERRORS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "NoRegionError",
        "ParamValidationError",
        "UnknownServiceError",
        "InvalidRegionError",
    }
)


# botocore errors raised before the request left (no connection, no credentials, a bad
# parameter): such a call certainly did not reach the service. ConnectionError is botocore's
# base of the connect failures (EndpointConnectionError, ConnectTimeoutError, ProxyConnection-
# Error); its HTTPClientError family (ReadTimeoutError, ConnectionClosedError, ...) comes after
# sending and stays "may have started".
_NOT_SENT_ERRORS = frozenset(
    {
        "ConnectionError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ProxyConnectionError",
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "UnknownCredentialError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "NoRegionError",
        "InvalidRegionError",
        "ParamValidationError",
        "UnknownServiceError",
        "ProfileNotFound",
    }
)
# Error codes that say the service gave up on the call without saying whether it acted,
# whatever their HTTP status.
_AMBIGUOUS_CODES = frozenset(
    {"OperationTimeoutException", "RequestTimeout", "RequestTimeoutException"}
)


AWS_EXTRA_HINT = "pip install 'interlock[aws]'"
"""How to install what the AWS job types (and MWAA) need."""


def boto3_missing() -> str | None:
    """Why boto3 cannot be used here, or None when it can (its import is attempted)."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError as exc:
        return f"boto3 is not installed ({exc}); install it with {AWS_EXTRA_HINT}"
    return None


def _boto_client(service: str, region: str | None, *, retries: bool) -> Any:
    # boto3 is an optional dependency: imported only when an AWS job actually runs.
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        # Retrying cannot install a package: a configuration problem, said once, with the fix.
        raise JobError(
            f"{service} jobs need boto3, which is not installed: {AWS_EXTRA_HINT}",
            FailureCategory.PERMANENT,
            may_have_started=False,
        ) from exc

    read_timeout = _LAMBDA_READ_TIMEOUT if service == "lambda" else _READ_TIMEOUT
    config = Config(
        connect_timeout=_CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        # total_max_attempts counts the first call (botocore's max_attempts does not).
        retries={"total_max_attempts": 4 if retries else 1, "mode": "standard"},
    )
    return boto3.client(service, region_name=region, config=config)


def default_client_factory(service: str, region: str | None) -> Any:
    """A boto3 client with explicit connect/read timeouts and standard retries (4 attempts)."""
    return _boto_client(service, region, retries=True)


def no_retry_client_factory(service: str, region: str | None) -> Any:
    """A boto3 client like :func:`default_client_factory`'s that makes every call once: for
    submits the service cannot deduplicate, which must not be sent twice."""
    return _boto_client(service, region, retries=False)


def resolve_region(configured: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The job config's region, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else None
    (boto3's own chain decides)."""
    env = os.environ if environ is None else environ
    return configured or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``""`` for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict):
            return str(error.get("Code", ""))
    return ""


def classify_aws_error(exc: BaseException) -> FailureCategory:
    """Throttling, 5xx and network errors are TRANSIENT; other 4xx and local configuration
    errors (no credentials, no region, bad parameters) are PERMANENT."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = aws_error_code(exc)
        meta = response.get("ResponseMetadata")
        status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
        if code in _TRANSIENT_CODES or "Throttl" in code:
            return FailureCategory.TRANSIENT
        if isinstance(status, int) and status >= 500:
            return FailureCategory.TRANSIENT
        if isinstance(status, int) and 400 <= status < 500:
            return FailureCategory.PERMANENT
        return FailureCategory.TRANSIENT
    if type(exc).__name__ in _PERMANENT_LOCAL_ERRORS:
        return FailureCategory.PERMANENT
    return FailureCategory.TRANSIENT


def aws_may_have_started(exc: BaseException) -> bool:
    """Whether the call that raised ``exc`` may have reached the service and acted.

    False for errors raised before anything was sent (no connection, no credentials, a bad
    parameter) and for a 4xx refusal (throttling, validation, access denied, a conflict); True
    for a 5xx, a read timeout, a connection closed mid-call, and anything not recognised.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = aws_error_code(exc)
        meta = response.get("ResponseMetadata")
        status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
        if code in _AMBIGUOUS_CODES:
            return True
        return not (isinstance(status, int) and 400 <= status < 500)
    # botocore's own classes only: Python's builtin ConnectionError (the base of
    # ConnectionResetError) says nothing about when the failure happened.
    names = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.startswith("botocore")}
    # After sending: read timeout, closed connection, ... And SSLError, although botocore files
    # it with the connect failures: urllib3 raises it for a TLS failure mid-response too.
    if names & {"HTTPClientError", "SSLError"}:
        return True
    return not names & _NOT_SENT_ERRORS


def aws_job_error(what: str, exc: BaseException) -> JobError:
    """A JobError for a failed AWS call, classified by :func:`classify_aws_error` and
    :func:`aws_may_have_started`."""
    return JobError(
        f"{what}: {exc}", classify_aws_error(exc), may_have_started=aws_may_have_started(exc)
    )


class _AwsRunner:
    """Client caching, error wrapping and cancel confirmation shared by the AWS runners.

    Args:
        client_factory: ``(service, region) -> client``; default boto3 with timeouts and
            retries.
        submit_client_factory: the clients for submits the service cannot deduplicate, which
            must be sent once; default :func:`no_retry_client_factory` with the default
            ``client_factory``, else ``client_factory`` itself (a custom factory decides its
            clients' retries).
        sleep: waits between confirmation polls (tests pass a no-op).
        cancel_timeout: seconds ``cancel`` waits for the target to report the job stopped.
        cancel_poll: seconds between those polls.
        environ: where ``$INTERLOCK_*`` references in step arguments, job drivers and payloads
            are read (default ``os.environ``; the runtime passes the operator's policy view,
            see :mod:`interlock_core.jobs.policy`).
    """

    job_type = ""

    def __init__(
        self,
        *,
        client_factory: ClientFactory | None = None,
        submit_client_factory: ClientFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
        cancel_timeout: float = 30.0,
        cancel_poll: float = 2.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = environ
        self._factory = client_factory or default_client_factory
        if submit_client_factory is not None:
            self._submit_factory = submit_client_factory
        elif client_factory is None:
            self._submit_factory = no_retry_client_factory
        else:
            self._submit_factory = client_factory
        self._sleep = sleep
        self.cancel_timeout = cancel_timeout
        self.cancel_poll = cancel_poll
        self._clients: dict[tuple[str, str | None, bool], Any] = {}
        self._lock = threading.Lock()

    @property
    def _env(self) -> Mapping[str, str]:
        """The environment ``$INTERLOCK_*`` references are read from (read at call time)."""
        return os.environ if self._environ is None else self._environ

    def client(self, service: str, region: str | None, *, once: bool = False) -> Any:
        """A cached client for ``service`` in ``region``; ``once=True`` for the client that
        never retries (submits the service cannot deduplicate).

        Raises:
            JobError: the client cannot be created (nothing was sent).
        """
        key = (service, region, once)
        factory = self._submit_factory if once else self._factory
        with self._lock:
            if key not in self._clients:
                try:
                    self._clients[key] = factory(service, region)
                except JobError:
                    raise
                except Exception as exc:
                    error = aws_job_error(f"cannot create a {service} client", exc)
                    error.may_have_started = False
                    raise error from exc
            return self._clients[key]

    @staticmethod
    def call(what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """Call ``method(**kwargs)``, turning any failure into a classified JobError."""
        try:
            return method(**kwargs)
        except JobError:
            raise
        except Exception as exc:
            raise aws_job_error(what, exc) from exc

    def confirm_stopped(self, poll: Callable[[], JobStatus]) -> bool:
        """Poll until the job reports a terminal state, for at most ``cancel_timeout``."""
        deadline = time.monotonic() + self.cancel_timeout
        while True:
            try:
                if poll().state is not JobState.RUNNING:
                    return True
            except JobError as exc:
                logger.warning("%s: cannot confirm the cancel: %s", self.job_type, exc)
            if time.monotonic() >= deadline:
                return False
            self._sleep(self.cancel_poll)


def _meta_str(handle: JobHandle, key: str) -> str:
    value = handle.metadata.get(key)
    if not isinstance(value, str) or not value:
        raise JobError(f"the handle's metadata has no {key}", FailureCategory.PERMANENT)
    return value


# --- Glue -----------------------------------------------------------------------------------

_GLUE_RUNNING = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
_GLUE_DEFAULT_LOG_GROUP = "/aws-glue/jobs/logs-v2"
_GLUE_EXISTING_SCAN = 50


class GlueRunner(_AwsRunner):
    """Runs ``glue`` jobs: StartJobRun, GetJobRun, BatchStopJobRun.

    ``--par_day``/``--par_hour`` and ``--interlock_token`` are added to the arguments. Glue has
    no idempotency token: before starting, the newest runs are searched for one carrying this
    token and adopted — a best effort (an older run is not found), so the runner does not claim
    to deduplicate and StartJobRun is sent once, without client retries.
    """

    job_type = "glue"
    dedups_on_token = False  # the --interlock_token scan sees only the newest runs

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Start a job run (or adopt a recent one carrying this token).

        Raises:
            JobError: classified by :func:`classify_aws_error` and
                :func:`aws_may_have_started`; a failed lookup of the recent runs is raised
                with ``may_have_started`` False (no run was started).
        """
        with not_started():
            config = expect_config(job, GlueJob)
        region = resolve_region(config.region)
        glue = self.client("glue", region)
        par_day, par_hour = period_parts(run.period)
        arguments = dict(config.arguments)
        arguments["--par_day"] = par_day
        if par_hour is not None:
            arguments["--par_hour"] = par_hour
        arguments["--interlock_token"] = token
        metadata: dict[str, Any] = {
            "glue_job_name": config.job_name,
            "region": region,
            "verify_success": config.verify_success,
            "log_group": config.log_group,
        }
        existing = self._existing_run(glue, config.job_name, token)
        if existing is not None:
            return JobHandle(
                run_id=existing,
                metadata={**metadata, "glue_job_run_id": existing, "adopted": True},
            )
        response = self.call(
            f"glue StartJobRun {config.job_name}",
            self.client("glue", region, once=True).start_job_run,
            JobName=config.job_name,
            Arguments=arguments,
        )
        run_id = str(response["JobRunId"])
        return JobHandle(run_id=run_id, metadata={**metadata, "glue_job_run_id": run_id})

    @staticmethod
    def _existing_run(glue: Any, job_name: str, token: str) -> str | None:
        try:
            response = glue.get_job_runs(JobName=job_name, MaxResults=_GLUE_EXISTING_SCAN)
        except Exception as exc:
            # Starting blind could start a second run for this token: fail this submit
            # instead, as one that started nothing, so the engine tries again later.
            error = aws_job_error(
                f"glue GetJobRuns {job_name} (looking for a run with this token before "
                "starting one)",
                exc,
            )
            error.may_have_started = False
            raise error from exc
        for job_run in response.get("JobRuns", []):
            if (job_run.get("Arguments") or {}).get("--interlock_token") == token:
                return str(job_run["Id"])
        return None

    def _get(self, handle: JobHandle) -> dict[str, Any]:
        job_name = _meta_str(handle, "glue_job_name")
        run_id = _meta_str(handle, "glue_job_run_id")
        glue = self.client("glue", handle.metadata.get("region"))
        response = self.call(
            f"glue GetJobRun {job_name}/{run_id}",
            glue.get_job_run,
            JobName=job_name,
            RunId=run_id,
            PredecessorsIncluded=False,
        )
        job_run: dict[str, Any] = response["JobRun"]
        return job_run

    def status(self, handle: JobHandle) -> JobStatus:
        """Map GetJobRun's state (Go §10.2), with the optional false-success check."""
        job_run = self._get(handle)
        state = str(job_run.get("JobRunState", ""))
        error = job_run.get("ErrorMessage") or ""
        if state == "SUCCEEDED":
            if handle.metadata.get("verify_success"):
                return self._verify(handle, job_run)
            return JobStatus(JobState.SUCCEEDED, message="SUCCEEDED")
        if state == "TIMEOUT":
            return JobStatus(JobState.FAILED, FailureCategory.TIMEOUT, f"TIMEOUT {error}".strip())
        if state in _GLUE_RUNNING or not state:
            return JobStatus(JobState.RUNNING, message=state)
        return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, f"{state} {error}".strip())

    def _verify(self, handle: JobHandle, job_run: dict[str, Any]) -> JobStatus:
        run_id = _meta_str(handle, "glue_job_run_id")
        group = (
            handle.metadata.get("log_group")
            or job_run.get("LogGroupName")
            or _GLUE_DEFAULT_LOG_GROUP
        )
        try:
            logs = self.client("logs", handle.metadata.get("region"))
            rca = logs.filter_log_events(
                logGroupName=group,
                logStreamNames=[f"{run_id}-job-insights-rca-driver"],
                filterPattern="GlueExceptionAnalysisJobFailed",
                limit=1,
            )
            for event in rca.get("events", []):
                return JobStatus(
                    JobState.FAILED,
                    FailureCategory.TRANSIENT,
                    f"SUCCEEDED (RCA: {_rca_reason(str(event.get('message', '')))})",
                )
            driver = logs.filter_log_events(
                logGroupName=group,
                logStreamNames=[run_id],
                filterPattern='?" ERROR " ?" FATAL "',
                limit=50,
            )
            for event in driver.get("events", []):
                message = str(event.get("message", ""))
                # Re-check locally: the pattern is an OR the service applies, not every backend.
                if " ERROR " in message or " FATAL " in message:
                    return JobStatus(
                        JobState.FAILED,
                        FailureCategory.TRANSIENT,
                        f"SUCCEEDED but the driver log has errors: {message[:200]}",
                    )
        except JobError as exc:
            logger.warning("glue %s: log check skipped: %s", run_id, exc)
        except Exception as exc:
            # The Go reference trusts SUCCEEDED when the logs cannot be read; so do we.
            logger.warning("glue %s: log check skipped: %s", run_id, exc)
        return JobStatus(JobState.SUCCEEDED, message="SUCCEEDED (driver log checked)")

    def cancel(self, handle: JobHandle) -> bool:
        """BatchStopJobRun, then wait for a terminal state."""
        job_name = _meta_str(handle, "glue_job_name")
        run_id = _meta_str(handle, "glue_job_run_id")
        if self._plain_status(handle).state is not JobState.RUNNING:
            return True
        glue = self.client("glue", handle.metadata.get("region"))
        try:
            response = self.call(
                f"glue BatchStopJobRun {job_name}/{run_id}",
                glue.batch_stop_job_run,
                JobName=job_name,
                JobRunIds=[run_id],
            )
        except JobError as exc:
            logger.warning("glue %s: stop request failed: %s", run_id, exc)
            return False
        for error in response.get("Errors", []):
            logger.info("glue %s: stop answered %s", run_id, error.get("ErrorDetail"))
        return self.confirm_stopped(lambda: self._plain_status(handle))

    def _plain_status(self, handle: JobHandle) -> JobStatus:
        # Cancel asks "is it still running?"; the log check is irrelevant there.
        plain = JobHandle(handle.run_id, {**handle.metadata, "verify_success": False})
        return self.status(plain)


def _rca_reason(message: str) -> str:
    try:
        data = json.loads(message)
    except ValueError:
        return message[:200]
    if isinstance(data, dict) and data.get("Failure Reason"):
        return str(data["Failure Reason"])[:200]
    return message[:200]


# --- EMR ------------------------------------------------------------------------------------

_EMR_FAILED = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})


class EmrRunner(_AwsRunner):
    """Runs ``emr`` jobs: one step (AddJobFlowSteps), DescribeStep, CancelSteps.

    EMR has no idempotency token for steps: a re-submit after a crash adds another step, which
    is why the lifecycle marks such runs UNCERTAIN instead of re-submitting (DESIGN.md §5).
    ``$INTERLOCK_PERIOD`` and friends are expanded in the step arguments.
    """

    job_type = "emr"
    dedups_on_token = False  # EMR steps have no idempotency token

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Add the step; ActionOnFailure CONTINUE so a failed step never ends the cluster.

        Raises:
            JobError: classified by :func:`classify_aws_error`.
        """
        with not_started():
            config = expect_config(job, EmrJob)
        region = resolve_region(config.region)
        # Sent once: a repeated AddJobFlowSteps adds a second step.
        emr = self.client("emr", region, once=True)
        variables = run_variables(run, token)
        if isinstance(config.arguments, dict):
            args = [f"{key}={value}" for key, value in config.arguments.items()]
        else:
            args = list(config.arguments)
        args = [str(expand_interlock(arg, variables, self._env)) for arg in args]
        response = self.call(
            f"emr AddJobFlowSteps {config.cluster_id}",
            emr.add_job_flow_steps,
            JobFlowId=config.cluster_id,
            Steps=[
                {
                    "Name": config.step_name,
                    "ActionOnFailure": "CONTINUE",
                    "HadoopJarStep": {"Jar": config.command, "Args": args},
                }
            ],
        )
        step_id = str(response["StepIds"][0])
        return JobHandle(
            run_id=step_id,
            metadata={
                "emr_cluster_id": config.cluster_id,
                "emr_step_id": step_id,
                "region": region,
            },
        )

    def status(self, handle: JobHandle) -> JobStatus:
        """COMPLETED → succeeded; FAILED/CANCELLED/INTERRUPTED → failed TRANSIENT; else running."""
        cluster_id = _meta_str(handle, "emr_cluster_id")
        step_id = _meta_str(handle, "emr_step_id")
        emr = self.client("emr", handle.metadata.get("region"))
        response = self.call(
            f"emr DescribeStep {cluster_id}/{step_id}",
            emr.describe_step,
            ClusterId=cluster_id,
            StepId=step_id,
        )
        status = response["Step"].get("Status", {})
        state = str(status.get("State", ""))
        if state == "COMPLETED":
            return JobStatus(JobState.SUCCEEDED, message=state)
        if state in _EMR_FAILED:
            details = status.get("FailureDetails") or {}
            reason = details.get("Message") or details.get("Reason") or ""
            if not reason:
                reason = (status.get("StateChangeReason") or {}).get("Message", "")
            return JobStatus(
                JobState.FAILED, FailureCategory.TRANSIENT, f"{state} {reason}".strip()
            )
        return JobStatus(JobState.RUNNING, message=state)

    def cancel(self, handle: JobHandle) -> bool:
        """CancelSteps (SEND_INTERRUPT), then wait for a terminal step state."""
        cluster_id = _meta_str(handle, "emr_cluster_id")
        step_id = _meta_str(handle, "emr_step_id")
        if self.status(handle).state is not JobState.RUNNING:
            return True
        emr = self.client("emr", handle.metadata.get("region"))
        try:
            response = self.call(
                f"emr CancelSteps {cluster_id}/{step_id}",
                emr.cancel_steps,
                ClusterId=cluster_id,
                StepIds=[step_id],
                StepCancellationOption="SEND_INTERRUPT",
            )
        except JobError as exc:
            logger.warning("emr %s: cancel request failed: %s", step_id, exc)
            return False
        for info in response.get("CancelStepsInfoList", []):
            if info.get("Status") == "FAILED":
                logger.info("emr %s: cancel refused: %s", step_id, info.get("Reason"))
        return self.confirm_stopped(lambda: self.status(handle))


# --- EMR Serverless -------------------------------------------------------------------------


class EmrServerlessRunner(_AwsRunner):
    """Runs ``emr-serverless`` jobs: StartJobRun with ``clientToken``, GetJobRun, CancelJobRun.

    The idempotency token is the ``clientToken``, so a re-submit returns the same job run.
    """

    job_type = "emr-serverless"
    dedups_on_token = True  # StartJobRun dedups on clientToken

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Start the job run.

        Raises:
            JobError: PERMANENT without ``executionRoleArn`` or ``jobDriver`` (the API requires
                both; the Go version sent neither); otherwise classified AWS errors.
        """
        with not_started():
            config = expect_config(job, EmrServerlessJob)
        if not config.execution_role_arn or not config.job_driver:
            raise JobError(
                "emr-serverless jobs need executionRoleArn and jobDriver",
                FailureCategory.PERMANENT,
                may_have_started=False,
            )
        region = resolve_region(config.region)
        client = self.client("emr-serverless", region)
        variables = run_variables(run, token)
        kwargs: dict[str, Any] = {
            "applicationId": config.application_id,
            "clientToken": token,
            "executionRoleArn": config.execution_role_arn,
            "jobDriver": expand_interlock(config.job_driver, variables, self._env),
            "name": config.job_name,
        }
        if config.configuration_overrides:
            kwargs["configurationOverrides"] = config.configuration_overrides
        response = self.call(
            f"emr-serverless StartJobRun {config.application_id}", client.start_job_run, **kwargs
        )
        job_run_id = str(response["jobRunId"])
        return JobHandle(
            run_id=job_run_id,
            metadata={
                "emr_sl_application_id": config.application_id,
                "emr_sl_job_run_id": job_run_id,
                "emr_sl_arn": response.get("arn"),
                "region": region,
            },
        )

    def status(self, handle: JobHandle) -> JobStatus:
        """SUCCESS → succeeded; FAILED/CANCELLED → failed TRANSIENT; else running."""
        application_id = _meta_str(handle, "emr_sl_application_id")
        job_run_id = _meta_str(handle, "emr_sl_job_run_id")
        client = self.client("emr-serverless", handle.metadata.get("region"))
        response = self.call(
            f"emr-serverless GetJobRun {application_id}/{job_run_id}",
            client.get_job_run,
            applicationId=application_id,
            jobRunId=job_run_id,
        )
        job_run = response["jobRun"]
        state = str(job_run.get("state", ""))
        details = job_run.get("stateDetails") or ""
        if state == "SUCCESS":
            return JobStatus(JobState.SUCCEEDED, message=state)
        if state == "CANCELLED":
            return JobStatus(
                JobState.FAILED, FailureCategory.TRANSIENT, f"cancelled {details}".strip()
            )
        if state == "FAILED":
            return JobStatus(
                JobState.FAILED, FailureCategory.TRANSIENT, f"FAILED {details}".strip()
            )
        return JobStatus(JobState.RUNNING, message=state)

    def cancel(self, handle: JobHandle) -> bool:
        """CancelJobRun, then wait for a terminal state."""
        application_id = _meta_str(handle, "emr_sl_application_id")
        job_run_id = _meta_str(handle, "emr_sl_job_run_id")
        if self.status(handle).state is not JobState.RUNNING:
            return True
        client = self.client("emr-serverless", handle.metadata.get("region"))
        try:
            self.call(
                f"emr-serverless CancelJobRun {application_id}/{job_run_id}",
                client.cancel_job_run,
                applicationId=application_id,
                jobRunId=job_run_id,
            )
        except JobError as exc:
            logger.warning("emr-serverless %s: cancel request failed: %s", job_run_id, exc)
            return False
        return self.confirm_stopped(lambda: self.status(handle))


# --- Step Functions -------------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of execution ``name`` of ``state_machine_arn``."""
    prefix, sep, machine = state_machine_arn.partition(":stateMachine:")
    if not sep:
        raise JobError(
            f"{state_machine_arn!r} is not a state machine ARN", FailureCategory.PERMANENT
        )
    return f"{prefix}:execution:{machine}:{name}"


class StepFunctionRunner(_AwsRunner):
    """Runs ``step-function`` jobs: StartExecution named after the token (idempotent),
    DescribeExecution, StopExecution."""

    job_type = "step-function"
    dedups_on_token = True  # the execution is named after the token

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Start the execution; ``ExecutionAlreadyExists`` adopts the existing one.

        Raises:
            JobError: classified by :func:`classify_aws_error`.
        """
        with not_started():
            config = expect_config(job, StepFunctionJob)
        region = resolve_region(config.region)
        sfn = self.client("stepfunctions", region)
        payload = {
            **config.arguments,
            "pipeline": run.pipeline_id,
            "period": run.period,
            "attempt": run.attempt,
        }
        metadata: dict[str, Any] = {
            "sfn_state_machine_arn": config.state_machine_arn,
            "region": region,
        }
        try:
            response = sfn.start_execution(
                stateMachineArn=config.state_machine_arn, name=token, input=json.dumps(payload)
            )
        except Exception as exc:
            if aws_error_code(exc) != "ExecutionAlreadyExists":
                raise aws_job_error(f"sfn StartExecution {config.state_machine_arn}", exc) from exc
            arn = execution_arn(config.state_machine_arn, token)
            self.call(f"sfn DescribeExecution {arn}", sfn.describe_execution, executionArn=arn)
            return JobHandle(
                run_id=arn, metadata={**metadata, "sfn_execution_arn": arn, "adopted": True}
            )
        arn = str(response["executionArn"])
        return JobHandle(run_id=arn, metadata={**metadata, "sfn_execution_arn": arn})

    def status(self, handle: JobHandle) -> JobStatus:
        """SUCCEEDED → succeeded; TIMED_OUT → failed TIMEOUT; FAILED/ABORTED → failed
        TRANSIENT; else running."""
        arn = _meta_str(handle, "sfn_execution_arn")
        sfn = self.client("stepfunctions", handle.metadata.get("region"))
        response = self.call(
            f"sfn DescribeExecution {arn}", sfn.describe_execution, executionArn=arn
        )
        state = str(response.get("status", ""))
        detail = " ".join(str(response.get(key) or "") for key in ("error", "cause")).strip()
        if state == "SUCCEEDED":
            return JobStatus(JobState.SUCCEEDED, message=state)
        if state == "TIMED_OUT":
            return JobStatus(JobState.FAILED, FailureCategory.TIMEOUT, f"{state} {detail}".strip())
        if state in ("FAILED", "ABORTED"):
            return JobStatus(
                JobState.FAILED, FailureCategory.TRANSIENT, f"{state} {detail}".strip()
            )
        return JobStatus(JobState.RUNNING, message=state)

    def cancel(self, handle: JobHandle) -> bool:
        """StopExecution; confirmed by the call (a finished execution is already stopped)."""
        arn = _meta_str(handle, "sfn_execution_arn")
        if self.status(handle).state is not JobState.RUNNING:
            return True
        sfn = self.client("stepfunctions", handle.metadata.get("region"))
        try:
            self.call(
                f"sfn StopExecution {arn}",
                sfn.stop_execution,
                executionArn=arn,
                error="Interlock.Cancelled",
                cause="cancelled by Interlock (poll window over or stale run)",
            )
        except JobError as exc:
            logger.warning("sfn %s: stop failed: %s", arn, exc)
            return self.status(handle).state is not JobState.RUNNING
        return True


# --- Lambda ---------------------------------------------------------------------------------


class LambdaRunner(_AwsRunner):
    """Runs ``lambda`` jobs: a synchronous RequestResponse Invoke; the handle has the result."""

    job_type = "lambda"
    dedups_on_token = False  # a repeated invoke runs again

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Invoke the function and wait for it.

        The payload is the config's (``$INTERLOCK_*`` expanded) or, when empty, the run's
        pipeline, period, attempt, token and ``par_day``/``par_hour``.

        Raises:
            JobError: the invoke call failed (classified by :func:`classify_aws_error`). A
                function error is not raised: it is the handle's FAILED result.
        """
        with not_started():
            config = expect_config(job, LambdaJob)
        region = resolve_region(config.region)
        # Sent once: a repeated Invoke runs the function again.
        client = self.client("lambda", region, once=True)
        variables = run_variables(run, token)
        if config.payload is None or config.payload == "":
            par_day, par_hour = period_parts(run.period)
            body = json.dumps(
                {
                    "pipeline": run.pipeline_id,
                    "period": run.period,
                    "attempt": run.attempt,
                    "token": token,
                    "par_day": par_day,
                    "par_hour": par_hour,
                }
            ).encode()
        elif isinstance(config.payload, str):
            body = str(expand_interlock(config.payload, variables, self._env)).encode()
        else:
            body = json.dumps(expand_interlock(config.payload, variables, self._env)).encode()
        response = self.call(
            f"lambda Invoke {config.function_name}",
            client.invoke,
            FunctionName=config.function_name,
            InvocationType="RequestResponse",
            Payload=body,
        )
        stream = response.get("Payload")
        try:
            payload = stream.read(_LAMBDA_MAX_PAYLOAD) if stream is not None else b""
        except Exception as exc:
            # The function ran (or runs); only its answer was lost.
            error = aws_job_error(f"lambda Invoke {config.function_name}: reading the answer", exc)
            error.may_have_started = True
            raise error from exc

        status_code = int(response.get("StatusCode", 0))
        request_id = str((response.get("ResponseMetadata") or {}).get("RequestId") or token)
        function_error = response.get("FunctionError")
        text = payload.decode("utf-8", errors="replace")
        if function_error:
            result = JobStatus(
                JobState.FAILED,
                FailureCategory.TRANSIENT,
                f"function error ({function_error}): {text[:200]}",
            )
        elif not 200 <= status_code < 300:
            result = JobStatus(
                JobState.FAILED, FailureCategory.TRANSIENT, f"invoke status {status_code}"
            )
        else:
            result = JobStatus(JobState.SUCCEEDED, message=f"invoke status {status_code}")
        return JobHandle(
            run_id=request_id,
            metadata={
                "lambda_function_name": config.function_name,
                "lambda_request_id": request_id,
                "lambda_status_code": status_code,
                "lambda_executed_version": response.get("ExecutedVersion"),
                "region": region,
                "result": encode_status(result),
            },
            result=result,
        )

    def status(self, handle: JobHandle) -> JobStatus:
        """The invoke's result, recorded at submit (in the handle and its metadata)."""
        result = handle.result or decode_status(handle.metadata.get("result"))
        if result is None:
            raise JobError("a lambda handle without a result", FailureCategory.PERMANENT)
        return result

    def cancel(self, handle: JobHandle) -> bool:
        """A synchronous invoke has finished by the time there is a handle."""
        return (handle.result or decode_status(handle.metadata.get("result"))) is not None
