"""One attempt, step by step: what a per-attempt controller (the AWS state machine) calls.

The engine's ``advance`` takes every due step of a run, whichever attempt it is on. A
controller that owns one attempt needs less: take the step that is due for *its* attempt, then
say what comes next and when. :func:`step_attempt` does that; :func:`next_step` is the pure
mapping from a run record to that answer. An attempt that is over (the run moved to another
attempt, or ended) answers ``done``, so a controller left behind exits quietly.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlock_core.engine import Interlock
from interlock_core.runs import NextAction, Run, RunStatus

EVALUATE = "evaluate"
SUBMIT = "submit"
CHECK_JOB = "check-job"
CHECK_CLAIM = "check-claim"
COMPLETE = "complete"
DONE = "done"
STEPS = (EVALUATE, SUBMIT, CHECK_JOB, CHECK_CLAIM, COMPLETE, DONE)
# Steps one call may take while the attempt stays due (an evaluate that submits a synchronous
# job is three: evaluate, submit, record the outcome).
MAX_STEPS = 8
_NEXT_FOR_ACTION = {
    NextAction.EVALUATE: EVALUATE,
    NextAction.SUBMIT: SUBMIT,
    NextAction.POLL: CHECK_JOB,
    NextAction.CANCEL: CHECK_JOB,
    NextAction.CHECK_CLAIM: CHECK_CLAIM,
}


@dataclass(frozen=True)
class AttemptStep:
    """What a controller of one attempt does next.

    Attributes:
        next: one of :data:`STEPS`.
        wait: seconds to wait before that step (0: now).
        status: the run's status (None when there is no run).
        attempt: the run's current attempt (None when there is no run).
        reason: why ``done`` (the attempt is over, or nothing is left for a controller).
    """

    next: str
    wait: int
    status: str | None
    attempt: int | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer a state machine routes on."""
        return {
            "next": self.next,
            "wait": self.wait,
            "status": self.status,
            "attempt": self.attempt,
            "reason": self.reason,
        }


def next_step(
    run: Run | None, attempt: int, now: datetime, *, max_wait: int | None = None
) -> AttemptStep:
    """What the controller of ``attempt`` does next, given the stored run (pure).

    Args:
        run: the run record (None: it does not exist).
        attempt: the attempt the controller owns.
        now: the current time.
        max_wait: cap on ``wait`` in seconds (a controller wakes at least this often).
    """
    if run is None:
        return AttemptStep(DONE, 0, None, None, "no such run")
    status = run.status.value
    if run.attempt != attempt:
        return AttemptStep(DONE, 0, status, run.attempt, f"the run is on attempt {run.attempt}")
    if run.is_terminal:
        return AttemptStep(COMPLETE, 0, status, run.attempt)
    if run.status == RunStatus.SUBMITTING:
        step = SUBMIT
    elif run.next_action is not None and run.due_at is not None:
        step = _NEXT_FOR_ACTION[run.next_action]
    else:
        return AttemptStep(DONE, 0, status, run.attempt, "waiting on an outside party")
    wait = 0
    if run.due_at is not None and run.due_at > now:
        wait = math.ceil((run.due_at - now) / timedelta(seconds=1))
    if max_wait is not None:
        wait = min(wait, max_wait)
    return AttemptStep(step, wait, status, run.attempt)


def step_attempt(
    engine: Interlock,
    pipeline_id: str,
    period: str,
    attempt: int,
    *,
    max_wait: int | None = None,
) -> AttemptStep:
    """Take the steps of ``attempt`` that are due now, then say what comes next.

    Stops as soon as the run leaves the attempt (a retry opens attempt + 1, which has its own
    controller) or another controller moves it.
    """
    run = engine.store.get_run(pipeline_id, period)
    for _ in range(MAX_STEPS):
        if run is None or run.attempt != attempt or run.is_terminal:
            break
        if run.due_at is None or run.due_at > engine.clock.now():
            break
        stepped = engine.step(run)
        run = stepped if stepped is not None else engine.store.get_run(pipeline_id, period)
        if stepped is None:
            break
    return next_step(run, attempt, engine.clock.now(), max_wait=max_wait)
