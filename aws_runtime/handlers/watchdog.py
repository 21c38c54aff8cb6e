"""Every minute: the watchdog checks, and executions that died restarted from the run record.

The checks are the local runtime's (missed ticks, stale runs, trigger recovery and deadlines,
post-run sensors, SLA). Then every run whose next step is overdue by more than
``RESTART_GRACE`` is checked against Step Functions: when the execution of its attempt is not
running (failed, aborted, timed out, never started), a new one is started, named from the
attempt's token and the run's version, so two watchdogs restart it once.
"""

import logging
from datetime import timedelta
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.watchdog")

RESTART_GRACE = timedelta(minutes=2)
MAX_RESTARTS_PER_PASS = 100


def handler(event: dict[str, Any] | None = None, lambda_context: Any = None) -> dict[str, Any]:
    """Run the watchdog once; returns what it published and restarted."""
    engine = context.engine()
    published = [event.type.value for event in engine.watchdog()]
    restarted = restart_dead_executions()
    return {"published": published, "restarted": restarted}


def restart_dead_executions() -> list[str]:
    """Start a new execution for each overdue run whose execution is not running."""
    engine = context.engine()
    now = engine.clock.now()
    restarted: list[str] = []
    arn = context.env("INTERLOCK_STATE_MACHINE_ARN")
    for run in engine.store.due_runs(now - RESTART_GRACE, limit=MAX_RESTARTS_PER_PASS):
        if run.is_terminal:
            continue
        token = context.execution_input(run)["token"]
        retry_name = f"{token}-v{run.version}"
        try:
            if any(_running(context.execution_arn(arn, name)) for name in (token, retry_name)):
                continue
            if context.start_attempt(run, name=retry_name):
                restarted.append(f"{run.pipeline_id}/{run.period}#{run.attempt}")
        except Exception:
            log.exception("restart check of %s %s failed", run.pipeline_id, run.period)
    return restarted


def _running(execution_arn: str) -> bool:
    try:
        described = context.client("stepfunctions").describe_execution(executionArn=execution_arn)
    except Exception as exc:
        if context.error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
    return described.get("status") == "RUNNING"
