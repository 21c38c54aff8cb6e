"""What every Lambda handler shares: the engine and the AWS clients, built once per container.

Powertools style: nothing is built at import time (a cold start pays only for what the first
invocation uses), everything is built once and kept for warm invocations, and tests inject
their own engine and clients with :func:`set_engine` / :func:`set_client`.

Environment (set by the deployment): ``INTERLOCK_STORE`` (the ``dynamodb://`` URL),
``INTERLOCK_STATE_MACHINE_ARN``, ``INTERLOCK_EVENT_BUS``, ``INTERLOCK_SLACK_SECRET_ARN``,
``INTERLOCK_ALERTS``, ``INTERLOCK_SCHEDULER_GROUP``, ``INTERLOCK_SCHEDULER_ROLE_ARN``.
"""

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first used: a cold start imports only what it runs
    from interlock_core.engine import Interlock
    from interlock_core.runs import Run

log = logging.getLogger("interlock.aws")

_lock = threading.Lock()
_engine: "Interlock | None" = None
_clients: dict[str, Any] = {}


class ConfigurationError(RuntimeError):
    """A required environment variable is missing; the message names it."""


def env(name: str, default: str | None = None) -> str:
    """An environment variable the deployment sets.

    Raises:
        ConfigurationError: it is missing and has no default.
    """
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigurationError(f"{name} is not set (the deployment sets it on every function)")
    return value


def engine() -> "Interlock":
    """The engine on ``INTERLOCK_STORE``, built on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                from interlock_core.runtime import build_engine

                _engine = build_engine(env("INTERLOCK_STORE"))
    return _engine


def set_engine(value: "Interlock | None") -> None:
    """Use ``value`` as the engine (tests); None forgets it, so the next use builds one."""
    global _engine
    _engine = value


def client(service: str) -> Any:
    """A boto3 client for ``service``, built on first use (timeouts, standard retries)."""
    found = _clients.get(service)
    if found is None:
        with _lock:
            found = _clients.get(service)
            if found is None:
                import boto3
                from botocore.config import Config

                config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard"})
                found = _clients[service] = boto3.client(service, config=config)
    return found


def set_client(service: str, value: Any | None) -> None:
    """Use ``value`` as the client for ``service`` (tests); None forgets it."""
    if value is None:
        _clients.pop(service, None)
    else:
        _clients[service] = value


def reset() -> None:
    """Forget the engine and every client (tests)."""
    set_engine(None)
    _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def execution_input(run: "Run") -> dict[str, Any]:
    """The state machine's input for the run's current attempt."""
    from interlock_core.jobs.base import idempotency_token

    return {
        "pipeline": run.pipeline_id,
        "period": run.period,
        "attempt": run.attempt,
        "token": idempotency_token(run.pipeline_id, run.period, run.attempt),
    }


def start_attempt(run: "Run", name: str | None = None) -> bool:
    """Start the execution that controls the run's current attempt.

    The execution is named from the attempt's token, so a second start of the same attempt
    (a repeated stream record, two routers) is a no-op.

    Returns:
        True when this call started it; False when it already existed.
    """
    payload = execution_input(run)
    try:
        client("stepfunctions").start_execution(
            stateMachineArn=env("INTERLOCK_STATE_MACHINE_ARN"),
            name=name or payload["token"],
            input=json.dumps(payload, sort_keys=True),
        )
    except Exception as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return False
        raise
    log.info("started the execution of %s %s attempt %s", run.pipeline_id, run.period, run.attempt)
    return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution ``name`` of a (standard) state machine."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
