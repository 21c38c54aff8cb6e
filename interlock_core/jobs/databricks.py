"""The ``databricks`` job: Jobs API 2.1 ``run-now`` with an ``idempotency_token``.

Databricks returns the existing run for a repeated token, so a re-submit adopts it. The bearer
token is read from ``tokenEnv`` (default ``DATABRICKS_TOKEN``) at every call and never stored;
the handle keeps the variable's name.
"""

import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from interlock_core.config.jobs import DatabricksJob
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
    expect_config,
    run_variables,
)
from interlock_core.jobs.http import build_headers, http_error
from interlock_core.jobs.netguard import (
    HttpClient,
    HttpResponse,
    Resolver,
    Sleep,
    not_started,
    safe_url,
)

logger = logging.getLogger(__name__)

_RETRIES = 2
# Why a run is skipped, when the reason passes: the job's (or the workspace's) limit of
# concurrent runs was reached. Trying again later can run it. ``result_state`` carries
# MAXIMUM_CONCURRENT_RUNS_REACHED; the newer ``status.termination_details.code`` the others.
_TRANSIENT_SKIPS = frozenset(
    {
        "MAXIMUM_CONCURRENT_RUNS_REACHED",
        "MAX_CONCURRENT_RUNS_EXCEEDED",
        "WORKSPACE_RUN_LIMIT_EXCEEDED",
        "MAX_JOB_QUEUE_SIZE_EXCEEDED",
        "CLUSTER_REQUEST_LIMIT_EXCEEDED",
    }
)


def map_run_state(state: Mapping[str, Any], status: Mapping[str, Any] | None = None) -> JobStatus:
    """Map a run's ``state`` object (``life_cycle_state``, ``result_state``) to a JobStatus.

    Args:
        state: the run's ``state`` from ``runs/get``.
        status: the run's newer ``status`` object, when the answer has one: its
            ``termination_details.code`` tells why a run was skipped.
    """
    life = str(state.get("life_cycle_state") or "")
    result = str(state.get("result_state") or "")
    message = str(state.get("state_message") or "")
    detail = f"{life}/{result}" if result else life
    text = f"{detail}: {message}" if message else detail
    if life == "TERMINATED":
        if result == "SUCCESS":
            return JobStatus(JobState.SUCCEEDED, message=text)
        if result == "CANCELED":
            return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, f"cancelled ({text})")
        if result == "TIMEDOUT":
            # The job's own timeout_seconds stopped it: the TIMEOUT budget, like Glue's TIMEOUT.
            return JobStatus(JobState.FAILED, FailureCategory.TIMEOUT, text)
        return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, text)
    if life == "SKIPPED":
        details = (status or {}).get("termination_details")
        code = str(details.get("code") or "") if isinstance(details, Mapping) else ""
        # Older answers only say so in the message ("... maximum concurrent runs ...").
        concurrency = "concurrent run" in message.lower()
        if result in _TRANSIENT_SKIPS or code in _TRANSIENT_SKIPS or concurrency:
            return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, text)
        return JobStatus(JobState.FAILED, FailureCategory.PERMANENT, text)
    if life == "INTERNAL_ERROR":
        return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, text)
    return JobStatus(JobState.RUNNING, message=text or "pending")


class DatabricksRunner:
    """Runs ``databricks`` jobs.

    Args:
        sleep: waits between retries and cancel confirmations (injectable for tests).
        rand: jitter source for the backoff.
        resolver: name resolution used by the SSRF guard.
        environ: where the token is read (default ``os.environ``, at call time).
        cancel_timeout: seconds ``cancel`` waits for the run to reach a terminal state.
        cancel_poll: seconds between those checks.
    """

    job_type = "databricks"
    dedups_on_token = True  # run-now dedups on idempotency_token

    def __init__(
        self,
        *,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = socket.getaddrinfo,
        environ: Mapping[str, str] | None = None,
        cancel_timeout: float = 30.0,
        cancel_poll: float = 2.0,
    ) -> None:
        self._sleep = sleep
        self._rand = rand
        self._resolver = resolver
        self._environ = environ
        self.cancel_timeout = cancel_timeout
        self.cancel_poll = cancel_poll

    def _request(
        self, meta: Mapping[str, Any], method: str, path: str, body: Any = None
    ) -> tuple[str, HttpResponse]:
        workspace = str(meta["databricks_workspace_url"]).rstrip("/")
        url = f"{workspace}{path}"
        headers = build_headers(
            dict(meta.get("headers") or {}),
            dict(meta.get("variables") or {}),
            token_env=str(meta.get("token_env") or "DATABRICKS_TOKEN"),
            environ=self._environ,
        )
        client = HttpClient(
            timeout=float(meta.get("timeout", 30.0)),
            allow_private_network=bool(meta.get("allow_private_network")),
            sleep=self._sleep,
            rand=self._rand,
            resolver=self._resolver,
        )
        # Every call here may be repeated: run-now dedups on its idempotency_token, runs/get
        # reads and runs/cancel of a stopped run changes nothing.
        response = client.request(
            method, url, headers=headers, json_body=body, retries=_RETRIES, idempotent=True
        )
        return f"{method} {safe_url(url.split('?', 1)[0])}", response

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """``run-now`` with ``idempotency_token = token``.

        Raises:
            JobError: PERMANENT for a missing token variable or a 4xx answer, TRANSIENT for
                5xx or a timeout.
        """
        with not_started():
            config = expect_config(job, DatabricksJob)
        meta: dict[str, Any] = {
            # User info is never sent (the client dials host and port only): keep it out of
            # the handle, which is stored with the run.
            "databricks_workspace_url": safe_url(config.workspace_url),
            "databricks_job_id": str(config.job_id),
            "token_env": config.token_env,
            "headers": dict(config.headers),
            "timeout": config.timeout,
            "allow_private_network": config.allow_private_network,
            "variables": run_variables(run, token),
        }
        job_id: int | str = config.job_id
        if isinstance(job_id, str) and job_id.isdigit():
            job_id = int(job_id)
        body: dict[str, Any] = {"job_id": job_id, "idempotency_token": token}
        if config.arguments:
            body["notebook_params"] = dict(config.arguments)
        if config.job_parameters:
            body["job_parameters"] = dict(config.job_parameters)
        what, response = self._request(meta, "POST", "/api/2.1/jobs/run-now", body)
        if not 200 <= response.status < 300:
            raise http_error(what, response)
        data = response.json()
        run_id = data.get("run_id") if isinstance(data, dict) else None
        if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
            raise JobError(f"{what}: the answer has no run_id", FailureCategory.TRANSIENT)
        return JobHandle(run_id=str(run_id), metadata={**meta, "databricks_run_id": str(run_id)})

    def _state(self, handle: JobHandle) -> JobStatus:
        meta = handle.metadata
        run_id = meta.get("databricks_run_id")
        if not meta.get("databricks_workspace_url") or not run_id:
            raise JobError(
                "the handle has no databricks_workspace_url/databricks_run_id",
                FailureCategory.PERMANENT,
            )
        what, response = self._request(meta, "GET", f"/api/2.1/jobs/runs/get?run_id={run_id}")
        if not 200 <= response.status < 300:
            raise http_error(what, response)
        data = response.json()
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict):
            raise JobError(f"{what}: the answer has no state", FailureCategory.TRANSIENT)
        status = data.get("status") if isinstance(data, dict) else None
        return map_run_state(state, status if isinstance(status, dict) else None)

    def status(self, handle: JobHandle) -> JobStatus:
        """``runs/get`` mapped by :func:`map_run_state`.

        Raises:
            JobError: 4xx PERMANENT, 5xx/timeouts TRANSIENT.
        """
        return self._state(handle)

    def cancel(self, handle: JobHandle) -> bool:
        """``runs/cancel``, then True once ``runs/get`` shows a terminal state."""
        try:
            if self._state(handle).state is not JobState.RUNNING:
                return True
            _what, response = self._request(
                handle.metadata,
                "POST",
                "/api/2.1/jobs/runs/cancel",
                {"run_id": int(handle.metadata["databricks_run_id"])},
            )
        except JobError as exc:
            logger.warning("databricks cancel of %s failed: %s", handle.run_id, exc)
            return False
        if not 200 <= response.status < 300:
            logger.warning("databricks cancel of %s: %s", handle.run_id, response.describe())
            return False
        deadline = time.monotonic() + self.cancel_timeout
        while True:
            try:
                if self._state(handle).state is not JobState.RUNNING:
                    return True
            except JobError as exc:
                logger.warning("databricks cancel of %s: cannot confirm: %s", handle.run_id, exc)
            if time.monotonic() >= deadline:
                return False
            self._sleep(self.cancel_poll)
