"""Every minute: the watchdog checks, and executions that died restarted from the run record.

The checks are the local runtime's (missed ticks, stale runs, trigger recovery and deadlines,
post-run sensors, SLA). Then every run whose next step is overdue by more than
``RESTART_GRACE`` is checked against Step Functions: when the execution of its attempt is not
running (failed, aborted, timed out, never started), a new one is started, named from the
attempt's token and the run's version, so two watchdogs restart it once. An attempt with
any execution running — the first one, or a restart of any earlier version (a restart moves
the run's version as it steps) — is never restarted: two live controllers of one attempt
would step it side by side.
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
    overdue = [
        run
        for run in engine.store.due_runs(now - RESTART_GRACE, limit=MAX_RESTARTS_PER_PASS)
        if not run.is_terminal
    ]
    if not overdue:
        return restarted
    running = _running_tokens(arn)
    for run in overdue:
        token = context.execution_input(run)["token"]
        retry_name = f"{token}-v{run.version}"
        try:
            if token in running:
                continue
            # ListExecutions may lag a start by a moment: ask for the two likeliest names too.
            if any(_running(context.execution_arn(arn, name)) for name in (token, retry_name)):
                continue
            if context.start_attempt(run, name=retry_name):
                restarted.append(f"{run.pipeline_id}/{run.period}#{run.attempt}")
        except Exception:
            log.exception("restart check of %s %s failed", run.pipeline_id, run.period)
    return restarted


def _running_tokens(state_machine_arn: str) -> set[str]:
    """The attempt tokens of every RUNNING execution (``<token>`` or ``<token>-v<version>``)."""
    tokens: set[str] = set()
    sfn = context.client("stepfunctions")
    request: dict[str, Any] = {"stateMachineArn": state_machine_arn, "statusFilter": "RUNNING"}
    while True:
        page = sfn.list_executions(**request)
        for execution in page.get("executions", []):
            tokens.add(execution["name"].split("-v", 1)[0])
        if not page.get("nextToken"):
            return tokens
        request["nextToken"] = page["nextToken"]


def _running(execution_arn: str) -> bool:
    try:
        described = context.client("stepfunctions").describe_execution(executionArn=execution_arn)
    except Exception as exc:
        if context.error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
    return described.get("status") == "RUNNING"
