"""The state machine's task: one step of one attempt, and what comes next (DESIGN.md §10).

Input ``{"mode": M, "pipeline": ID, "period": P, "attempt": N, "token": T}`` with mode
``evaluate``, ``submit``, ``check-job``, ``check-claim`` or ``complete``; the answer is
``{"next": STEP, "wait": SECONDS, "status": ..., "attempt": ..., "reason": ...}`` and the state
machine only routes on ``next`` and waits ``wait``. Every mode takes whatever step of the
attempt is due (the run record, not the mode, says which); ``complete`` reports the outcome.
An attempt that is over answers ``done``.

``{"mode": "open-tick", "pipeline": ID}`` (EventBridge Scheduler, one schedule per cron
pipeline) opens the run of the pipeline's latest due tick; idempotent. The stream router then
starts its execution.
"""

import logging
import os
from datetime import timedelta
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.orchestrator")

MODES = ("evaluate", "submit", "check-job", "check-claim", "complete", "open-tick")
# A Wait state may not exceed a year; an execution wakes at least this often anyway, so a run
# whose due time moved earlier underneath it is never left waiting long.
MAX_WAIT_SECONDS = 3600
# How far back an open-tick looks for the tick it was fired for (a late-delivered schedule).
TICK_LOOKBACK = timedelta(minutes=30)


def handler(event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Run one orchestrator mode; returns the next step for the state machine."""
    mode = event.get("mode")
    if mode not in MODES:
        raise ValueError(f"unknown orchestrator mode {mode!r}; use one of {', '.join(MODES)}")
    pipeline_id = _text(event, "pipeline")
    if mode == "open-tick":
        return open_tick(pipeline_id)
    from interlock_core.steps import step_attempt

    period = _text(event, "period")
    attempt = event.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValueError(f"attempt must be a positive integer, got {attempt!r}")
    max_wait = int(os.environ.get("INTERLOCK_MAX_WAIT_SECONDS", MAX_WAIT_SECONDS))
    step = step_attempt(context.engine(), pipeline_id, period, attempt, max_wait=max_wait)
    if step.next == "done":
        log.info("%s %s attempt %s: done (%s)", pipeline_id, period, attempt, step.reason)
    return step.to_dict()


def open_tick(pipeline_id: str) -> dict[str, Any]:
    """Open the run of the pipeline's latest due cron tick (or inclusion date)."""
    from interlock_core.watchdog import check_scheduled_runs

    engine = context.engine()
    active = engine.config(pipeline_id)
    if active is None:
        return {"opened": False, "reason": f"unknown pipeline {pipeline_id!r}"}
    now = engine.clock.now()
    check_scheduled_runs(engine, active, now, lookback=TICK_LOOKBACK)
    return {"opened": True, "pipeline": pipeline_id}


def _text(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"the orchestrator input needs {name!r} (a non-empty string)")
    return value
