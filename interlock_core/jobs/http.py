"""The ``http`` job: one HTTP call, synchronous unless a status URL is configured.

Without ``statusUrl`` the call itself is the job (2xx = success) and the handle carries the
result. With ``statusUrl`` the response names a run id (``runIdField``) and the status URL is
polled, its ``statusField`` mapped through ``successValues`` / ``failureValues``.
"""

import json
import os
import random
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from interlock_core.config.jobs import HttpJob
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
    decode_status,
    encode_status,
    env_secret,
    expand_interlock,
    expect_config,
    period_parts,
    run_variables,
)
from interlock_core.jobs.netguard import (
    HttpClient,
    HttpResponse,
    Resolver,
    Sleep,
    category_for_status,
    not_started,
    safe_url,
)

# The Go reference's 3 attempts; a submit repeats only what certainly never left (see submit).
_SUBMIT_RETRIES = 2


def default_body(run: RunContext, token: str) -> dict[str, Any]:
    """The JSON sent when a job config has no body: who the run is and which period."""
    par_day, par_hour = period_parts(run.period)
    return {
        "pipeline": run.pipeline_id,
        "period": run.period,
        "attempt": run.attempt,
        "token": token,
        "par_day": par_day,
        "par_hour": par_hour,
    }


def build_headers(
    templates: Mapping[str, str],
    variables: Mapping[str, str],
    *,
    token_env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers for one call: ``templates`` with ``$INTERLOCK_*`` expanded, plus the bearer token.

    Values are computed at call time from the environment and never stored.

    Raises:
        JobError: PERMANENT when ``token_env`` names an unset variable (nothing was sent, so
            ``may_have_started`` is False).
    """
    env = os.environ if environ is None else environ
    headers: dict[str, str] = {
        "Accept": "application/json",
        **{name: str(expand_interlock(value, variables, env)) for name, value in templates.items()},
    }
    if token_env:
        with not_started():
            headers["Authorization"] = f"Bearer {env_secret(token_env, env)}"
    return headers


def read_field(data: Any, path: str) -> Any:
    """``data[a][b]`` for ``path`` ``"a.b"``; None when any step is missing."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def http_error(what: str, response: HttpResponse) -> JobError:
    """A JobError for a non-2xx answer: 4xx PERMANENT, 5xx TRANSIENT; a 3xx/4xx refusal did not
    start the job, a 5xx may have (:meth:`HttpResponse.may_have_started`)."""
    return JobError(
        f"{what}: {response.describe()}",
        category_for_status(response.status),
        may_have_started=response.may_have_started(),
    )


class HttpRunner:
    """Runs ``http`` jobs.

    Args:
        sleep: waits between retries (injectable for tests).
        rand: jitter source for the backoff.
        resolver: name resolution used by the SSRF guard (tests map names without DNS).
        environ: where ``tokenEnv`` and ``$INTERLOCK_*`` values are read (default ``os.environ``,
            read at call time).
    """

    job_type = "http"
    dedups_on_token = False  # Idempotency-Key is only a request

    def __init__(
        self,
        *,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = socket.getaddrinfo,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._sleep = sleep
        self._rand = rand
        self._resolver = resolver
        self._environ = environ

    def _client(self, timeout: float, allow_private_network: bool) -> HttpClient:
        return HttpClient(
            timeout=timeout,
            allow_private_network=allow_private_network,
            sleep=self._sleep,
            rand=self._rand,
            resolver=self._resolver,
        )

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Send the request (with ``Idempotency-Key: <token>``).

        The target is not known to deduplicate, so only failures that certainly never reached
        it (connection refused, a failed name lookup or TLS handshake) are retried here; a
        timeout or reset after sending and a 5xx answer are raised with ``may_have_started``,
        and the engine does not send the request again.

        Raises:
            JobError: 4xx PERMANENT, 5xx/timeouts TRANSIENT, a refused address PERMANENT.
        """
        with not_started():
            config = expect_config(job, HttpJob)
        env = os.environ if self._environ is None else self._environ
        variables = run_variables(run, token)
        headers = build_headers(
            config.headers, variables, token_env=config.token_env, environ=self._environ
        )
        headers["Idempotency-Key"] = token
        body: bytes
        if config.body is None or config.body == "":
            body = json.dumps(default_body(run, token)).encode()
        elif isinstance(config.body, str):
            body = str(expand_interlock(config.body, variables, env)).encode()
        else:
            body = json.dumps(expand_interlock(config.body, variables, env)).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        client = self._client(config.timeout, config.allow_private_network)
        what = f"{config.method.upper()} {safe_url(config.url)}"
        response = client.request(
            config.method,
            config.url,
            headers=headers,
            body=body,
            retries=_SUBMIT_RETRIES,
            idempotent=False,
        )
        data = response.json()
        run_id_value = read_field(data, config.run_id_field)
        run_id = str(run_id_value) if run_id_value not in (None, "") else None
        metadata: dict[str, Any] = {
            "url": safe_url(config.url),  # never user info, should a config carry some
            "method": config.method.upper(),
            "http_status": response.status,
            "token": token,
            "run_id": run_id,
        }
        if response.status == 409:
            # The target already has a request with this Idempotency-Key: adopt it.
            return self._adopt(config, run, token, run_id, metadata, what, response)
        if not 200 <= response.status < 300:
            raise http_error(what, response)
        if config.status_url is None:
            result = JobStatus(JobState.SUCCEEDED, message=f"HTTP {response.status}")
            return JobHandle(
                run_id=run_id or token,
                metadata={**metadata, "result": encode_status(result)},
                result=result,
            )
        if run_id is None and "{run_id}" in config.status_url:
            raise JobError(
                f"{what}: the response has no {config.run_id_field!r} to poll the status with",
                FailureCategory.PERMANENT,
            )
        return self._polling_handle(config, run, run_id or token, metadata)

    def _adopt(
        self,
        config: HttpJob,
        run: RunContext,
        token: str,
        run_id: str | None,
        metadata: dict[str, Any],
        what: str,
        response: HttpResponse,
    ) -> JobHandle:
        if config.status_url is None:
            # For Idempotency-Key targets, 409 means the first request with this key is still
            # being processed: its outcome is unknown, so neither success nor a permanent
            # failure. A later submit with the same token gets the stored answer replayed.
            raise JobError(
                f"{what}: {response.describe()}; a request with this Idempotency-Key is still "
                "in progress",
                FailureCategory.TRANSIENT,
            )
        if run_id is None and "{run_id}" in config.status_url:
            raise JobError(
                f"{what}: {response.describe()}; the job already exists but the answer has no "
                f"{config.run_id_field!r}, so it cannot be adopted",
                FailureCategory.PERMANENT,
            )
        return self._polling_handle(config, run, run_id or token, {**metadata, "adopted": True})

    def _polling_handle(
        self, config: HttpJob, run: RunContext, run_id: str, metadata: dict[str, Any]
    ) -> JobHandle:
        assert config.status_url is not None
        status_url = config.status_url.replace("{run_id}", urllib.parse.quote(run_id, safe=""))
        # User info is never sent (the client dials host and port only): keep it out of storage.
        status_url = safe_url(status_url)
        return JobHandle(
            run_id=run_id,
            metadata={
                **metadata,
                "run_id": run_id,
                "status_url": status_url,
                "status_field": config.status_field,
                "success_values": list(config.success_values),
                "failure_values": list(config.failure_values),
                "headers": dict(config.headers),
                "token_env": config.token_env,
                "timeout": config.timeout,
                "allow_private_network": config.allow_private_network,
                "pipeline_id": run.pipeline_id,
                "period": run.period,
                "attempt": run.attempt,
            },
        )

    def status(self, handle: JobHandle) -> JobStatus:
        """Synchronous jobs answer from the handle; others GET the status URL.

        Raises:
            JobError: the status URL failed (4xx PERMANENT, 5xx/timeouts TRANSIENT) or the
                handle lacks what polling needs.
        """
        if handle.result is not None:
            return handle.result
        meta = handle.metadata
        recorded = decode_status(meta.get("result"))
        if recorded is not None:
            return recorded
        status_url = meta.get("status_url")
        if not isinstance(status_url, str):
            raise JobError(
                "the handle has no status_url: nothing to poll", FailureCategory.PERMANENT
            )
        run = RunContext(
            str(meta.get("pipeline_id", "")),
            str(meta.get("period", "")),
            int(meta.get("attempt", 0)),
        )
        headers = build_headers(
            dict(meta.get("headers") or {}),
            run_variables(run, str(meta.get("token", ""))),
            token_env=meta.get("token_env"),
            environ=self._environ,
        )
        client = self._client(
            float(meta.get("timeout", 30)), bool(meta.get("allow_private_network"))
        )
        response = client.request("GET", status_url, headers=headers, retries=1, idempotent=True)
        what = f"GET {safe_url(status_url)}"
        if not 200 <= response.status < 300:
            raise http_error(what, response)
        field = str(meta.get("status_field", "state"))
        value = read_field(response.json(), field)
        if value is None:
            return JobStatus(JobState.RUNNING, message=f"no {field!r} in the status answer yet")
        text = str(value)
        if _matches(text, meta.get("success_values")):
            return JobStatus(JobState.SUCCEEDED, message=f"{field}={text}")
        if _matches(text, meta.get("failure_values")):
            return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, f"{field}={text}")
        return JobStatus(JobState.RUNNING, message=f"{field}={text}")

    def cancel(self, handle: JobHandle) -> bool:
        """A finished synchronous call is trivially stopped; a polled one has no cancel API."""
        result = handle.result or decode_status(handle.metadata.get("result"))
        return result is not None and result.state is not JobState.RUNNING


def _matches(value: str, candidates: Any) -> bool:
    if not isinstance(candidates, list):
        return False
    folded = value.casefold()
    return any(str(candidate).casefold() == folded for candidate in candidates)
