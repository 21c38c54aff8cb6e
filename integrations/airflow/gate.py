"""What every Interlock task asks the engine, in one place.

The sensor's ``poke``, the deferrable trigger and the AssetWatcher trigger all call
:func:`check_gate`; the operators and callbacks call :func:`emit_sensor` and
:func:`report_claim`. Nothing here knows about Airflow, and nothing here decides readiness: the
engine evaluates the gate, claims and reports; this module only asks and translates the answer
into "done", "waiting", "excluded" or an error (:mod:`integrations.airflow.errors`).
"""

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from integrations.airflow.errors import (
    InterlockFatalError,
    InterlockNoClaimError,
    InterlockTaskError,
    InterlockUnavailableError,
)
from interlock_core.config.errors import ConfigError
from interlock_core.engine import Interlock, InterlockError, Readiness
from interlock_core.lifecycle import ClaimRefused
from interlock_core.periods import period_at
from interlock_core.runs import Run, RunStatus

WAIT_FOR = ("ready", "succeeded")
OUTCOMES = ("success", "failed")

# How many of a pipeline's newest runs a report searches for this DAG run's claim before it
# searches them all.
_RECENT_RUNS = 200

DONE = "done"
WAITING = "waiting"
EXCLUDED = "excluded"


@dataclasses.dataclass(frozen=True)
class GateCheck:
    """One look at a pipeline's gate (or run) for one period.

    Attributes:
        status: ``done`` (the task may go on), ``waiting`` or ``excluded`` (the calendar
            excludes the period: no run will ever open).
        payload: the evaluation as JSON (per-rule results, the run): the sensor's XCom.
        report: the same, as one readable block for the task log.
    """

    status: str
    payload: dict[str, Any]
    report: str

    @property
    def message(self) -> str:
        """The first line of the report."""
        return self.report.splitlines()[0]


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn whatever the engine or the store raises into one of the two task errors.

    Refusals (unknown pipeline, bad period or data, a refused claim) are fatal; everything
    else — the store unreachable, a driver error — is "unavailable", so the task is retried.
    """
    try:
        yield
    except InterlockTaskError:
        raise
    except (InterlockError, ConfigError, ClaimRefused, ValueError) as exc:
        # SensorError is a ValueError: bad sensor data never gets better by retrying.
        raise InterlockFatalError(str(exc)) from exc
    except Exception as exc:
        raise InterlockUnavailableError(f"Interlock store error: {exc}") from exc


def resolve_period(
    engine: Interlock,
    pipeline_id: str,
    *,
    explicit: str | None,
    hinted: str | None = None,
    interval_start: datetime | None = None,
) -> str:
    """The period a task works on.

    Args:
        engine: the engine.
        pipeline_id: the pipeline.
        explicit: the task's ``period`` argument (rendered), which wins.
        hinted: the period an Interlock asset event named (event-driven DAG runs).
        interval_start: the DAG run's data interval start: rendered as the local date in the
            pipeline's time zone (daily pipelines) or the UTC hour (hourly ones).

    Raises:
        InterlockFatalError: unknown pipeline, or no period at all (never a skip).
    """
    # A template that renders blank ("{{ params.period }}" with no param) names no period:
    # handing "" to the engine would pick the wall clock's current period instead.
    given = _given(explicit)
    if given:
        return given
    if hinted:
        return hinted
    with translated_errors():
        active = engine.config(pipeline_id)
    if active is None:
        raise InterlockFatalError(f"unknown Interlock pipeline {pipeline_id!r} (apply its config)")
    if interval_start is None:
        raise InterlockFatalError(
            f"no period for {pipeline_id}: this DAG run has no data interval (a manual or "
            "asset-triggered run); pass period=... to the task"
        )
    pipeline = active.pipeline
    return period_at(interval_start, pipeline.granularity, pipeline.schedule.tz)


def check_gate(
    engine: Interlock, pipeline_id: str, period: str, wait_for: str, owner: str
) -> GateCheck:
    """Look once: is the pipeline ready (and now claimed by ``owner``), or has its run
    succeeded?

    Args:
        engine: the engine.
        pipeline_id: the pipeline.
        period: the period (normalised by the engine).
        wait_for: ``ready`` — gate a job-less pipeline and claim its run for ``owner`` when the
            gate passes (idempotent: a task retry finds its own claim); ``succeeded`` — wait
            for the run of the period to succeed.
        owner: the claim owner, e.g. ``airflow:<dag id>/<run id>``.

    Raises:
        InterlockFatalError: unknown pipeline, bad period, a pipeline with a job gated with
            ``ready``, a claim held by another owner, a run that already succeeded (``ready``)
            or ended in failure (``succeeded``).
        InterlockUnavailableError: the store failed.
    """
    if wait_for not in WAIT_FOR:
        raise InterlockFatalError(f"wait_for must be 'ready' or 'succeeded', not {wait_for!r}")
    with translated_errors():
        if wait_for == "succeeded":
            return _check_succeeded(engine, pipeline_id, period)
        return _check_ready(engine, pipeline_id, period, owner)


def _check_ready(engine: Interlock, pipeline_id: str, period: str, owner: str) -> GateCheck:
    active = engine.config(pipeline_id)
    if active is None:
        raise InterlockFatalError(f"unknown Interlock pipeline {pipeline_id!r} (apply its config)")
    if active.pipeline.has_job:
        raise InterlockFatalError(
            f"{pipeline_id} has a job that Interlock runs itself; wait for it with "
            "wait_for='succeeded' instead of claiming it"
        )
    readiness = engine.evaluate(pipeline_id, period)
    run = readiness.run
    if readiness.excluded is not None and run is None:
        return _result(EXCLUDED, readiness, "ready", f"excluded ({readiness.excluded})")
    if run is not None and run.status == RunStatus.CLAIMED:
        if run.owner != owner:
            raise InterlockFatalError(
                f"{pipeline_id} {readiness.period} is claimed by {run.owner}, not {owner}"
            )
        return _result(DONE, readiness, "ready", "READY (claimed by this DAG run)", run)
    if run is not None and run.is_success:
        raise InterlockFatalError(
            f"{pipeline_id} {readiness.period} already succeeded (attempt {run.attempt}, "
            f"{run.owner or 'Interlock'}); request a rerun (`interlock rerun`) to run it again"
        )
    if not readiness.ready:
        return _result(WAITING, readiness, "ready", "NOT READY")
    try:
        claimed = engine.claim(pipeline_id, readiness.period, owner)
    except ClaimRefused as exc:
        # The gate may have closed between the evaluation and the claim: keep waiting then.
        again = engine.evaluate(pipeline_id, readiness.period)
        if not again.ready:
            return _result(WAITING, again, "ready", "NOT READY")
        raise InterlockFatalError(str(exc)) from exc
    return _result(DONE, readiness, "ready", "READY (claimed)", claimed)


def _check_succeeded(engine: Interlock, pipeline_id: str, period: str) -> GateCheck:
    readiness = engine.evaluate(pipeline_id, period)
    run = readiness.run
    if run is not None and run.is_success:
        return _result(DONE, readiness, "succeeded", "SUCCEEDED")
    if run is not None and run.is_dry_run_pass:
        # Recorded SUCCEEDED, yet no job ran: the period runs for real once dryRun is off.
        return _result(WAITING, readiness, "succeeded", "NOT SUCCEEDED (dry run: no job ran)")
    if run is not None and run.is_terminal:
        raise InterlockFatalError(
            f"{pipeline_id} {readiness.period} ended {run.status.value} "
            f"(attempt {run.attempt}): {run.message or 'no message'}"
        )
    if run is None and readiness.excluded is not None:
        return _result(EXCLUDED, readiness, "succeeded", f"excluded ({readiness.excluded})")
    state = run.status.value if run is not None else "no run yet"
    return _result(WAITING, readiness, "succeeded", f"NOT SUCCEEDED ({state})")


def watch_gate(engine: Interlock, pipeline_id: str, wait_for: str) -> GateCheck:
    """Look once at the current period without claiming anything (AssetWatcher triggers).

    ``done`` means "fire an event": with ``ready``, the gate passes and the period's current
    attempt is still WAITING (no DAG run has claimed it); with ``succeeded``, the period's run
    succeeded.

    Raises:
        InterlockFatalError: unknown pipeline, or ``ready`` on a pipeline with a job.
        InterlockUnavailableError: the store failed.
    """
    if wait_for not in WAIT_FOR:
        raise InterlockFatalError(f"wait_for must be 'ready' or 'succeeded', not {wait_for!r}")
    with translated_errors():
        active = engine.config(pipeline_id)
        if active is None:
            raise InterlockFatalError(
                f"unknown Interlock pipeline {pipeline_id!r} (apply its config)"
            )
        readiness = engine.evaluate(pipeline_id)
        run = readiness.run
        if wait_for == "succeeded":
            if run is not None and run.is_success:
                return _result(DONE, readiness, "succeeded", "SUCCEEDED")
            state = run.status.value if run is not None else "no run yet"
            return _result(WAITING, readiness, "succeeded", f"NOT SUCCEEDED ({state})")
        if active.pipeline.has_job:
            raise InterlockFatalError(
                f"{pipeline_id} has a job that Interlock runs itself; watch it with "
                "wait_for='succeeded'"
            )
        if readiness.excluded is not None and run is None:
            return _result(EXCLUDED, readiness, "ready", f"excluded ({readiness.excluded})")
        if run is not None and run.status != RunStatus.WAITING:
            # Taken care of in this attempt: claimed by a DAG run (which reports its outcome),
            # or finished. A rerun opens a new WAITING attempt, which fires again.
            return _result(WAITING, readiness, "ready", f"{run.status.value} already")
        if not readiness.ready:
            return _result(WAITING, readiness, "ready", "NOT READY")
        return _result(DONE, readiness, "ready", "READY")


def _result(
    status: str, readiness: Readiness, wait_for: str, verdict: str, run: Run | None = None
) -> GateCheck:
    run = run or readiness.run
    evaluation = readiness.evaluation
    rules = [result.to_document() for result in evaluation.results]
    payload: dict[str, Any] = {
        "pipeline_id": readiness.pipeline_id,
        "period": readiness.period,
        "wait_for": wait_for,
        "done": status == DONE,
        "ready": readiness.ready,
        "excluded": readiness.excluded,
        "summary": evaluation.summary(),
        "rules": rules,
        "run": _run_payload(run),
    }
    passing = sum(1 for rule in rules if rule["passed"])
    counted = f"{passing} of {len(rules)} rules pass" if rules else "no rules"
    lines = [
        f"Interlock {readiness.pipeline_id} {readiness.period} (wait_for={wait_for}): "
        f"{verdict} — {counted}"
    ]
    width = max((len(_rule_name(r)) for r in rules), default=0)
    for rule in rules:
        mark = " ok " if rule["passed"] else "FAIL"
        lines.append(f"  [{mark}] {_rule_name(rule):<{width}}  {rule['reason']}")
    if run is None:
        lines.append("  run: none yet")
    else:
        owner = f", owner {run.owner}" if run.owner else ""
        lines.append(f"  run: {run.status.value} (attempt {run.attempt}{owner})")
    return GateCheck(status, payload, "\n".join(lines))


def _rule_name(rule: Mapping[str, Any]) -> str:
    where = f"{rule['key']}.{rule['field']}" if rule["field"] else rule["key"]
    return f"{where} {rule['check']}"


def _run_payload(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "status": run.status.value,
        "attempt": run.attempt,
        "owner": run.owner,
        "message": run.message,
        "dry_run": run.dry_run,
    }


def emit_sensor(
    engine: Interlock,
    pipeline_id: str,
    key: str,
    data: Mapping[str, Any] | str,
    period: str | None = None,
) -> dict[str, Any]:
    """Write a sensor through the engine (which opens runs, late data, post-run checks).

    Args:
        engine: the engine.
        pipeline_id: the pipeline the sensor belongs to.
        key: the sensor key.
        data: a JSON object, or its JSON text (what a template renders).
        period: when given, the sensor is written as ``key#<period>``.

    Returns:
        ``{"pipeline_id", "key", "version", "written_at"}`` (the XCom of the emit task).

    Raises:
        InterlockFatalError: bad data, key, period or unknown pipeline.
        InterlockUnavailableError: the store failed.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InterlockFatalError(f"sensor data for {key!r} is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InterlockFatalError(
            f"sensor data for {key!r} must be a JSON object, not {type(data).__name__}"
        )
    with translated_errors():
        sensor = engine.emit(pipeline_id, key, data, _given(period))
    return {
        "pipeline_id": pipeline_id,
        "key": sensor.key,
        "version": sensor.version,
        "written_at": sensor.written_at.isoformat() if sensor.written_at else None,
    }


def report_claim(
    engine: Interlock,
    pipeline_id: str,
    outcome: str,
    owner: str,
    period: str | None = None,
    message: str = "",
) -> Run:
    """Report the outcome of the run ``owner`` claimed.

    Reporting the same outcome twice (a retried task, a callback after a report task) is a
    no-op.

    Args:
        engine: the engine.
        pipeline_id: the pipeline.
        outcome: ``success`` or ``failed``.
        owner: the claim owner (this DAG run).
        period: the period; by default the run this owner claimed.
        message: recorded with the outcome.

    Raises:
        InterlockFatalError: no such claim, or the run is claimed by someone else.
        InterlockUnavailableError: the store failed.
    """
    if outcome not in OUTCOMES:
        raise InterlockFatalError(f"outcome must be 'success' or 'failed', not {outcome!r}")
    with translated_errors():
        run = _claimed_run(engine, pipeline_id, owner, _given(period))
        finished = RunStatus.SUCCEEDED if outcome == "success" else RunStatus.FAILED
        if run.owner == owner and run.status == finished:
            return run
        try:
            return engine.report(pipeline_id, run.period, outcome, owner=owner, message=message)
        except ClaimRefused as exc:
            raise InterlockFatalError(str(exc)) from exc


def _given(period: str | None) -> str | None:
    """A rendered ``period`` argument, or None when it is missing or blank."""
    return str(period).strip() or None if period is not None else None


def _claimed_run(engine: Interlock, pipeline_id: str, owner: str, period: str | None) -> Run:
    if period:
        run = engine.run(pipeline_id, period)
        if run is None:
            raise InterlockNoClaimError(f"no Interlock run for {pipeline_id} {period} to report")
        return run
    # The newest periods first (the usual case: a DAG run claims a recent period), then all of
    # them: a backfill DAG run claims an old period that many newer runs may hide.
    for limit in (_RECENT_RUNS, None):
        mine = [run for run in engine.status(pipeline_id, limit=limit) if run.owner == owner]
        live = [run for run in mine if run.status in {RunStatus.CLAIMED, RunStatus.TIMED_OUT}]
        if live or mine:
            return (live or mine)[0]
    raise InterlockNoClaimError(
        f"no run of {pipeline_id} is claimed by {owner} (gate the DAG with "
        "InterlockSensor(wait_for='ready') first, or pass period=...)"
    )
