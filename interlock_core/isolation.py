"""Failure isolation in a controller pass: one bad run or pipeline never stops the others.

A controller pass (the local runtime's loop, the watchdog, an AWS handler's batch) works through
many pipelines and runs. Anything one of them raises — a sensor document too deep to read back,
a store row written by a buggy producer, a bug — is caught here, logged, and published as one
``CONTROLLER_ERROR`` event naming the pipeline, the step and the error, and the pass goes on.
The event is deduplicated per (pipeline, step, period, error) for an hour so a run that fails
on every pass does not flood the alert channels; a run that failed is pushed back
(:data:`RETRY_DELAY`) so it cannot starve the runs behind it either.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from interlock_core.events import EventType
from interlock_core.redaction import printable

if TYPE_CHECKING:
    from interlock_core.engine import Interlock
    from interlock_core.runs import Run

log = logging.getLogger("interlock.isolation")

T = TypeVar("T")

# A failing run is retried this much later, not on every tick.
RETRY_DELAY = timedelta(minutes=1)
# The same failure is published at most once per this window.
REPEAT_AFTER = timedelta(hours=1)
MAX_ERROR_TEXT = 300


def describe(error: BaseException) -> str:
    """A one-line, bounded description of ``error`` (its type and message)."""
    text = printable(" ".join(str(error).split())) or "no message"
    if len(text) > MAX_ERROR_TEXT:
        text = text[: MAX_ERROR_TEXT - 3] + "..."
    return f"{type(error).__name__}: {text}"


def record_failure(
    engine: "Interlock",
    pipeline_id: str,
    step: str,
    error: BaseException,
    *,
    period: str | None = None,
    attempt: int | None = None,
) -> None:
    """Log ``error`` and publish it as a ``CONTROLLER_ERROR`` event; never raises.

    Args:
        engine: whose store and alert sink get the event.
        pipeline_id: the pipeline whose work failed (``""`` for the controller itself).
        step: what was being done (``"advance"``, ``"watchdog check sla"``, …).
        error: what was raised.
        period: the run's period, when the failure is about one run.
        attempt: the run's attempt, when known.
    """
    reason = describe(error)
    log.error(
        "%s failed for %s%s: %s",
        step,
        pipeline_id or "interlock",
        f" {period}" if period else "",
        reason,
        exc_info=error,
    )
    try:
        now = engine.clock.now()
        marker = f"controller-error#{step}#{period or ''}#{type(error).__name__}"
        if not engine.store.put_marker(pipeline_id, marker, now, expires_at=now + REPEAT_AFTER):
            return
        engine.publish(
            EventType.CONTROLLER_ERROR,
            pipeline_id,
            f"{step} failed{f' for {period}' if period else ''}: {reason}; "
            "the other pipelines and runs were not affected",
            period=period,
            attempt=attempt,
            detail={"step": step, "error": reason},
        )
    except Exception:  # the store itself may be what fails: the log line above stays
        log.exception("could not record the failure of %s for %s", step, pipeline_id)


def isolated(
    engine: "Interlock",
    pipeline_id: str,
    step: str,
    work: Callable[[], T],
    *,
    period: str | None = None,
    attempt: int | None = None,
) -> tuple[bool, T | None]:
    """Run ``work``; on any exception record it (see :func:`record_failure`) and carry on.

    Returns:
        ``(True, result)`` when ``work`` returned, ``(False, None)`` when it raised.
    """
    try:
        return True, work()
    except Exception as exc:  # isolating arbitrary failures is the point
        record_failure(engine, pipeline_id, step, exc, period=period, attempt=attempt)
        return False, None


def advance_isolated(engine: "Interlock", run: "Run") -> bool:
    """Advance one due run in isolation; a failing run is recorded and pushed back.

    Returns:
        True when the run was advanced, False when advancing it failed.
    """
    done, _ = isolated(
        engine,
        run.pipeline_id,
        "advance",
        lambda: engine.advance(run.pipeline_id, run.period),
        period=run.period,
        attempt=run.attempt,
    )
    if not done:
        _push_back(engine, run)
    return done


def push_back(engine: "Interlock", run: "Run") -> None:
    """Push a run whose advance failed back by :data:`RETRY_DELAY`; never raises."""
    _push_back(engine, run)


def _push_back(engine: "Interlock", run: "Run") -> None:
    try:
        current = engine.store.get_run(run.pipeline_id, run.period) or run
        if current.due_at is None:
            return
        later = engine.clock.now() + RETRY_DELAY
        if current.due_at < later:
            engine.store.update_run(current.evolve(due_at=later), current.version)
    except Exception:
        log.exception("could not push back the failing run %s %s", run.pipeline_id, run.period)
