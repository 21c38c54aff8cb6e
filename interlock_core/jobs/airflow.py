"""The ``airflow`` job: a DAG run through the Airflow 3 REST API v2, or MWAA's InvokeRestApi.

The idempotency token is the ``dag_run_id`` (with ``logical_date: null``, which Airflow 3 allows
for API-triggered runs), so a repeated submit gets 409 and adopts the run it already created.

Auth, read from the environment at call time and never stored: a static bearer token from
``tokenEnv``, or ``usernameEnv``/``passwordEnv`` exchanged at ``POST {url}/auth/token`` for a JWT
that is cached in this process and refreshed once when Airflow answers 401. MWAA uses the AWS
credentials of the controller.
"""

import json
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from interlock_core.config.jobs import AirflowJob
from interlock_core.jobs.aws import ClientFactory, aws_job_error, default_client_factory
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
    env_secret,
    expand_interlock,
    expect_config,
    run_variables,
)
from interlock_core.jobs.http import build_headers
from interlock_core.jobs.netguard import (
    HttpClient,
    Resolver,
    Sleep,
    category_for_status,
    excerpt,
    not_started,
    safe_url,
    status_may_have_started,
)

logger = logging.getLogger(__name__)

_SUBMIT_RETRIES = 2
_TERMINAL = frozenset({"success", "failed"})


@dataclass(frozen=True)
class _Reply:
    status: int
    data: Any
    text: str
    # Whether the request may have done something at the target (see HttpResponse).
    may_have_started: bool = True

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.text}" if self.text else f"HTTP {self.status}"


@dataclass(frozen=True)
class _Target:
    """Where and how to call one Airflow: everything but secret values."""

    dag_id: str
    url: str | None = None
    mwaa_environment: str | None = None
    region: str | None = None
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    allow_private_network: bool = False
    variables: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "airflow_url": self.url,
            "airflow_dag_id": self.dag_id,
            "mwaa_environment": self.mwaa_environment,
            "region": self.region,
            "token_env": self.token_env,
            "username_env": self.username_env,
            "password_env": self.password_env,
            "headers": dict(self.headers),
            "timeout": self.timeout,
            "allow_private_network": self.allow_private_network,
            "variables": dict(self.variables),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> "_Target":
        dag_id = meta.get("airflow_dag_id")
        if not isinstance(dag_id, str) or not (
            meta.get("airflow_url") or meta.get("mwaa_environment")
        ):
            raise JobError(
                "the handle's metadata has no airflow_dag_id/airflow_url", FailureCategory.PERMANENT
            )
        return cls(
            dag_id=dag_id,
            url=meta.get("airflow_url"),
            mwaa_environment=meta.get("mwaa_environment"),
            region=meta.get("region"),
            token_env=meta.get("token_env"),
            username_env=meta.get("username_env"),
            password_env=meta.get("password_env"),
            headers=dict(meta.get("headers") or {}),
            timeout=float(meta.get("timeout", 30.0)),
            allow_private_network=bool(meta.get("allow_private_network")),
            variables=dict(meta.get("variables") or {}),
        )

    def runs_path(self, run_id: str | None = None) -> str:
        path = f"/dags/{urllib.parse.quote(self.dag_id, safe='')}/dagRuns"
        return f"{path}/{urllib.parse.quote(run_id, safe='')}" if run_id else path


class AirflowRunner:
    """Runs ``airflow`` jobs.

    Args:
        sleep: waits between retries (injectable for tests).
        rand: jitter source for the backoff.
        resolver: name resolution used by the SSRF guard.
        environ: where credentials and ``$INTERLOCK_*`` values are read (default ``os.environ``).
        client_factory: ``(service, region) -> boto3 client`` for MWAA.
    """

    job_type = "airflow"
    dedups_on_token = True  # dag_run_id is the token: a repeat gets 409, adopts

    def __init__(
        self,
        *,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = socket.getaddrinfo,
        environ: Mapping[str, str] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self._sleep = sleep
        self._rand = rand
        self._resolver = resolver
        self._environ = environ
        self._factory = client_factory or default_client_factory
        # Access tokens from /auth/token, keyed by (url, usernameEnv, passwordEnv); in memory only.
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    @property
    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    # --- transport ------------------------------------------------------------------------

    def _client(self, target: _Target) -> HttpClient:
        return HttpClient(
            timeout=target.timeout,
            allow_private_network=target.allow_private_network,
            sleep=self._sleep,
            rand=self._rand,
            resolver=self._resolver,
        )

    def _call(
        self, target: _Target, method: str, path: str, body: Any = None, retries: int = 0
    ) -> _Reply:
        if target.mwaa_environment:
            return self._mwaa_call(target, method, path, body)
        assert target.url is not None
        url = f"{target.url.rstrip('/')}/api/v2{path}"
        client = self._client(target)
        refreshed = False
        while True:
            headers = build_headers(
                target.headers,
                target.variables,
                token_env=target.token_env,
                environ=self._environ,
            )
            if target.username_env and target.password_env:
                # However the exchange fails, the call itself was not sent.
                with not_started():
                    token = self._access_token(target, refreshed)
                headers["Authorization"] = f"Bearer {token}"
            # Every call here may be repeated: the trigger dedups on its dag_run_id (a repeat
            # gets 409), the others read, set a state or exchange credentials.
            response = client.request(
                method, url, headers=headers, json_body=body, retries=retries, idempotent=True
            )
            if response.status == 401 and target.username_env and not refreshed:
                # The cached JWT expired: exchange the credentials again, once.
                refreshed = True
                continue
            return _Reply(
                response.status, response.json(), response.excerpt(), response.may_have_started()
            )

    def _access_token(self, target: _Target, refresh: bool) -> str:
        assert target.url is not None
        assert target.username_env is not None
        assert target.password_env is not None
        key = (target.url, target.username_env, target.password_env)
        with self._lock:
            if not refresh and key in self._tokens:
                return self._tokens[key]
        credentials = {
            "username": env_secret(target.username_env, self._env),
            "password": env_secret(target.password_env, self._env),
        }
        url = f"{target.url.rstrip('/')}/auth/token"
        response = self._client(target).request(
            "POST",
            url,
            json_body=credentials,
            headers={"Accept": "application/json"},
            retries=1,
            idempotent=True,
        )
        if response.status in (401, 403):
            raise JobError(
                f"Airflow at {safe_url(target.url)} refused the credentials in "
                f"{target.username_env}/{target.password_env} (HTTP {response.status})",
                FailureCategory.PERMANENT,
            )
        if not 200 <= response.status < 300:
            raise JobError(
                f"POST {safe_url(url)}: HTTP {response.status}",
                category_for_status(response.status),
            )
        data = response.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise JobError(
                f"POST {safe_url(url)}: the answer has no access_token", FailureCategory.PERMANENT
            )
        with self._lock:
            self._tokens[key] = token
        return token

    def _mwaa_call(self, target: _Target, method: str, path: str, body: Any) -> _Reply:
        what = f"MWAA {target.mwaa_environment} {method} {path}"
        try:
            client = self._factory("mwaa", target.region)
            kwargs: dict[str, Any] = {
                "Name": target.mwaa_environment,
                "Path": path,
                "Method": method,
            }
            if body is not None:
                kwargs["Body"] = body
            response = client.invoke_rest_api(**kwargs)
        except JobError:
            raise
        except Exception as exc:
            # RestApiClientException / RestApiServerException carry Airflow's own answer.
            answer = getattr(exc, "response", None)
            if isinstance(answer, dict) and "RestApiStatusCode" in answer:
                data = answer.get("RestApiResponse")
                status = int(answer["RestApiStatusCode"])
                return _Reply(status, data, _text(data), status_may_have_started(status))
            raise aws_job_error(what, exc) from exc
        data = response.get("RestApiResponse")
        status = int(response.get("RestApiStatusCode", 200))
        return _Reply(status, data, _text(data), status_may_have_started(status))

    # --- JobRunner ------------------------------------------------------------------------

    def _conf(self, config: AirflowJob, run: RunContext, token: str) -> dict[str, Any]:
        variables = run_variables(run, token)
        conf: dict[str, Any] = {}
        body = config.body
        if isinstance(body, str) and body.strip():
            try:
                body = json.loads(str(expand_interlock(body, variables, self._env)))
            except ValueError as exc:
                raise JobError(
                    f"airflow body is not valid JSON: {exc}", FailureCategory.PERMANENT
                ) from exc
        if isinstance(body, dict):
            conf.update(expand_interlock(body, variables, self._env))
        elif body not in (None, ""):
            raise JobError("airflow body must be a JSON object", FailureCategory.PERMANENT)
        conf.update(expand_interlock(config.conf, variables, self._env))
        # The run's identity is authoritative over same-named user keys.
        conf.update(pipeline=run.pipeline_id, period=run.period, attempt=run.attempt)
        return conf

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Trigger the DAG with ``dag_run_id = token``; 409 adopts the existing run.

        Raises:
            JobError: 4xx PERMANENT, 5xx/timeouts TRANSIENT, bad credentials PERMANENT.
        """
        with not_started():
            config = expect_config(job, AirflowJob)
            conf = self._conf(config, run, token)
        target = _Target(
            dag_id=config.dag_id,
            # User info is never sent (the client dials host and port only): keep it out of
            # the handle, which is stored with the run.
            url=safe_url(config.url) if config.url else None,
            mwaa_environment=config.mwaa_environment,
            region=config.region or None,
            token_env=config.token_env,
            username_env=config.username_env,
            password_env=config.password_env,
            headers=dict(config.headers),
            timeout=config.timeout,
            allow_private_network=config.allow_private_network,
            variables=run_variables(run, token),
        )
        body = {"dag_run_id": token, "logical_date": None, "conf": conf}
        reply = self._call(target, "POST", target.runs_path(), body, retries=_SUBMIT_RETRIES)
        adopted = False
        if reply.status == 409:
            adopted = True
            reply = self._call(target, "GET", target.runs_path(token), retries=1)
        if not 200 <= reply.status < 300:
            raise self._error(target, "trigger" if not adopted else "adopt", reply)
        data = reply.data if isinstance(reply.data, dict) else {}
        dag_run_id = str(data.get("dag_run_id") or token)
        return JobHandle(
            run_id=dag_run_id,
            metadata={**target.metadata(), "airflow_dag_run_id": dag_run_id, "adopted": adopted},
        )

    def _error(self, target: _Target, action: str, reply: _Reply) -> JobError:
        where = target.mwaa_environment or safe_url(target.url or "")
        return JobError(
            f"airflow {action} {target.dag_id} at {where}: {reply.describe()}",
            category_for_status(reply.status),
            # An adopt follows a 409: the DAG run exists whatever the GET answered.
            may_have_started=action == "adopt" or reply.may_have_started,
        )

    def _get_run(self, handle: JobHandle) -> tuple[_Target, str, dict[str, Any]]:
        target = _Target.from_metadata(handle.metadata)
        dag_run_id = str(handle.metadata.get("airflow_dag_run_id") or handle.run_id)
        reply = self._call(target, "GET", target.runs_path(dag_run_id), retries=1)
        if not 200 <= reply.status < 300:
            raise self._error(target, "status", reply)
        return target, dag_run_id, reply.data if isinstance(reply.data, dict) else {}

    def status(self, handle: JobHandle) -> JobStatus:
        """success → succeeded; failed → failed TRANSIENT; queued/running/… → running.

        Raises:
            JobError: the API could not answer (4xx PERMANENT, 5xx/timeouts TRANSIENT).
        """
        _target, dag_run_id, data = self._get_run(handle)
        return _map_state(dag_run_id, data)

    def cancel(self, handle: JobHandle) -> bool:
        """Mark the DAG run failed (``PATCH state=failed``).

        True only when Airflow confirms: the PATCH answer shows the run ``failed``, or a fresh
        read shows it finished. A 2xx without a state (a proxy, an odd MWAA answer) is not a
        confirmation.
        """
        try:
            target, dag_run_id, data = self._get_run(handle)
            if str(data.get("state", "")) in _TERMINAL:
                return True
            reply = self._call(target, "PATCH", target.runs_path(dag_run_id), {"state": "failed"})
        except JobError as exc:
            logger.warning("airflow cancel of %s failed: %s", handle.run_id, exc)
            return False
        if not 200 <= reply.status < 300:
            logger.warning("airflow cancel of %s: %s", handle.run_id, reply.describe())
            return False
        answer = reply.data if isinstance(reply.data, dict) else {}
        if answer.get("state") == "failed":
            return True
        try:
            _target, _run_id, data = self._get_run(handle)
        except JobError as exc:
            logger.warning("airflow cancel of %s: cannot confirm: %s", handle.run_id, exc)
            return False
        state = str(data.get("state", ""))
        if state not in _TERMINAL:
            logger.warning("airflow cancel of %s: the run is still %s", handle.run_id, state)
            return False
        return True


def _map_state(dag_run_id: str, data: dict[str, Any]) -> JobStatus:
    state = str(data.get("state", ""))
    if state == "success":
        return JobStatus(JobState.SUCCEEDED, message=f"dag run {dag_run_id}: success")
    if state == "failed":
        return JobStatus(
            JobState.FAILED, FailureCategory.TRANSIENT, f"dag run {dag_run_id}: failed"
        )
    return JobStatus(JobState.RUNNING, message=f"dag run {dag_run_id}: {state or 'unknown'}")


def _text(data: Any) -> str:
    if data is None:
        return ""
    return excerpt(json.dumps(data).encode() if not isinstance(data, str) else data.encode())
