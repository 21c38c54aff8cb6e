"""The run lifecycle as a pure decider (DESIGN.md §5).

Every function here takes the run, the pipeline config, what was observed (an evaluation, a job
status, a budget count) and ``now``, and returns a :class:`Transition`: the next run state, the
events to publish and the rerun-ledger entries to append. Nothing here reads the clock, the
store or the network; the engine executes what these functions return, and a runtime only
executes what the engine decides. That keeps one copy of the lifecycle for every runtime.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interlock_core.config.durations import format_duration
from interlock_core.config.jobs import JobType
from interlock_core.config.models import MatchMode, Pipeline, Rule, Validation
from interlock_core.events import EventType
from interlock_core.jobs.base import FailureCategory, JobHandle, JobState, JobStatus
from interlock_core.rule_compiler import (
    CompiledGate,
    IdentityCache,
    compile_rule_shared,
    compile_validation,
)
from interlock_core.rules import Evaluation
from interlock_core.runs import NextAction, Run, RunOrigin, RunStatus
from interlock_core.sensors import Sensor

# A submit that takes longer than its lease is presumed dead, and others may recover it. The
# lease is at least this, and longer for job types whose submit may legitimately take longer.
SUBMIT_LEASE = dt.timedelta(minutes=2)
# Client-side attempts inside one submit (first try plus retries of unsent requests), and the
# margin on top of the timeouts, when sizing a lease from a job's own timeout.
_SUBMIT_TRIES = 3
_LEASE_MARGIN = dt.timedelta(minutes=1)
# A Lambda invoke may run for its 15-minute maximum before it answers.
_LAMBDA_LEASE = dt.timedelta(minutes=20)
# boto3 submits: lookups on retrying clients (4 tries of 10 s connect + 60 s read) plus the
# start call itself — about 6 minutes at worst.
_AWS_LEASE = dt.timedelta(minutes=10)
_AWS_TYPES = frozenset({JobType.GLUE, JobType.EMR, JobType.EMR_SERVERLESS, JobType.STEP_FUNCTION})
# Infrastructure failures while submitting are retried this many times in total, with backoff.
MAX_SUBMIT_ATTEMPTS = 3
SUBMIT_BACKOFF = dt.timedelta(seconds=30)

RETRY_REASON = "job-fail-retry"
DRIFT_REASONS = frozenset({"data-drift", "late-data"})
# Ledger reasons only Interlock itself may use: an operator's rerun cannot borrow their
# budgets or the late-data bypass of the circuit breaker.
RESERVED_REASONS = DRIFT_REASONS | {RETRY_REASON}
JOBLESS_OWNER = "interlock"


@dataclass(frozen=True)
class EventDraft:
    """An event the engine should publish.

    ``dedup`` names a marker: the event is published only by whoever creates that marker, so
    period-scoped alerts go out once per (pipeline, period, type).
    """

    type: EventType
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    dedup: str | None = None
    attempt: int | None = None  # the attempt it is about, when not the run's previous one


@dataclass(frozen=True)
class Transition:
    """What the lifecycle decided: the new run (None: unchanged), events and ledger entries."""

    run: Run | None
    events: list[EventDraft] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the run record must be written."""
        return self.run is not None


def _finished(run: Run, status: RunStatus, now: dt.datetime, **changes: Any) -> Run:
    """``run`` ended in ``status`` at ``now``: nothing is due for it any more."""
    return run.evolve(
        status=status, finished_at=now, updated_at=now, next_action=None, due_at=None, **changes
    )


def _event(
    event_type: EventType, message: str, dedup: str | None = None, **detail: Any
) -> EventDraft:
    return EventDraft(event_type, message, dict(detail), dedup)


def submit_lease(pipeline: Pipeline) -> dt.timedelta:
    """How long a submit may take before other controllers treat its controller as dead.

    Long enough for the slowest legitimate submit of this job (its HTTP timeout over every
    client-side try, counting the response read, or a Lambda's full run), so a slow but healthy
    submit is never taken over.
    """
    job = pipeline.job
    if job is None or job.type is None:
        return SUBMIT_LEASE
    if job.type == JobType.LAMBDA:
        return _LAMBDA_LEASE
    if job.type in _AWS_TYPES:
        return _AWS_LEASE
    timeout = getattr(job.config, "timeout", None)
    if job.type == JobType.COMMAND or not isinstance(timeout, int | float):
        return SUBMIT_LEASE  # a command's timeout is its run time; its submit is instant
    calls = 2 * _SUBMIT_TRIES
    if job.type == JobType.AIRFLOW:
        # token exchange, trigger, re-exchange after a 401, trigger again, the adopting GET
        calls *= 2
    worst = dt.timedelta(seconds=calls * timeout) + _LEASE_MARGIN
    return max(SUBMIT_LEASE, worst)


# --------------------------------------------------------------------------- the gate


def gate_validation(pipeline: Pipeline) -> tuple[Rule | None, Validation]:
    """The trigger condition to check in the gate (if any) and the validation rules.

    The trigger condition is an extra first rule of every gate: for cron pipelines it is what
    the run waits for; for sensor-driven ones it re-confirms the sensor that opened the run. It
    is skipped when the validation rules already contain the same rule (the seed repeats it)
    and the match mode is ALL — under ANY the repeated rule is one alternative among others,
    so dropping the separate trigger rule would let the gate open without the trigger.
    """
    trigger = pipeline.schedule.trigger
    validation = pipeline.validation
    if trigger is None:
        return None, validation
    trigger_rule = Rule(
        key=trigger.key, check=trigger.check, field=trigger.field, value=trigger.value
    )
    if validation.match_mode == MatchMode.ALL and any(
        (rule.key, rule.check, rule.field, rule.value)
        == (trigger_rule.key, trigger_rule.check, trigger_rule.field, trigger_rule.value)
        for rule in validation.rules
    ):
        return None, validation
    return trigger_rule, validation


def evaluate_gate(
    pipeline: Pipeline, sensors: Mapping[str, Sensor | dict[str, Any]], now: dt.datetime
) -> Evaluation:
    """Evaluate the gate: the trigger condition (if any) AND the rules in their match mode.

    The gate is compiled once per ``Pipeline`` object (one per config hash in the engine's
    config cache) and reused while that object lives (``rule_compiler``).

    Args:
        pipeline: the config.
        sensors: the sensors as seen for the run's period (see ``periods.sensors_for_period``).
        now: the evaluation instant.
    """
    return _GATES.get(pipeline).evaluate(sensors, now)


def _compile_gate(pipeline: Pipeline) -> CompiledGate:
    trigger_rule, validation = gate_validation(pipeline)
    gate = compile_validation(validation)
    if trigger_rule is None:
        return gate
    return CompiledGate(gate.rules, gate.mode, trigger=compile_rule_shared(trigger_rule))


_GATES: IdentityCache[Pipeline, CompiledGate] = IdentityCache(_compile_gate)


def failing_reasons(evaluation: Evaluation) -> list[str]:
    """The reasons of the failing rules, prefixed with their sensor key, each once (three
    rules on a missing sensor give one "not found")."""
    reasons = [f"{r.key}: {r.reason}" for r in evaluation.results if not r.passed]
    return list(dict.fromkeys(reasons))


# --------------------------------------------------------------------------- opening


def open_run(
    pipeline: Pipeline,
    config_hash: str,
    period: str,
    origin: RunOrigin,
    now: dt.datetime,
    window_ends_at: dt.datetime,
    *,
    trigger_arrived_at: dt.datetime | None = None,
) -> Run:
    """A new WAITING run whose gate is evaluated at once."""
    # Built from typed values without validation, as ``Run.evolve`` does for every later
    # change: validating would build the model's schema, which an emit need not pay for. The
    # two fields with a default factory are given, as pydantic inspects a factory's signature
    # (~2 ms) before calling it.
    return Run.model_construct(
        pipeline_id=pipeline.id,
        period=period,
        status=RunStatus.WAITING,
        attempt=1,
        # Validation turned an origin given as its value ("manual") into the enum; without it
        # the string would be kept, and ``run.origin.value`` fails (untyped callers).
        origin=RunOrigin(origin),
        config_hash=config_hash,
        opened_at=now,
        attempt_started_at=now,
        updated_at=now,
        next_action=NextAction.EVALUATE,
        due_at=now,
        window_ends_at=window_ends_at,
        trigger_arrived_at=trigger_arrived_at,
        dry_run=pipeline.dry_run,
        job_metadata={},
        last_reasons=[],
    )


def opened_events(run: Run) -> list[EventDraft]:
    """The events announcing a newly opened run."""
    return [
        _event(
            EventType.RUN_OPENED,
            f"run opened for {run.period} ({run.origin.value})",
            origin=run.origin.value,
        )
    ]


def new_attempt(
    run: Run,
    pipeline: Pipeline,
    config_hash: str,
    origin: RunOrigin,
    now: dt.datetime,
    window_ends_at: dt.datetime,
) -> Run:
    """The next attempt of ``run``: WAITING again, re-gated, with its own window and config."""
    return Run(
        pipeline_id=run.pipeline_id,
        period=run.period,
        status=RunStatus.WAITING,
        attempt=run.attempt + 1,
        version=run.version,
        origin=origin,
        config_hash=config_hash,
        opened_at=run.opened_at,
        attempt_started_at=now,
        updated_at=now,
        next_action=NextAction.EVALUATE,
        due_at=now,
        window_ends_at=window_ends_at,
        trigger_arrived_at=run.trigger_arrived_at,
        succeeded_at=run.succeeded_at,
        dry_run=pipeline.dry_run,
    )


# --------------------------------------------------------------------------- waiting


def decide_waiting(
    run: Run,
    pipeline: Pipeline,
    evaluation: Evaluation,
    now: dt.datetime,
    *,
    sensor_version: int,
    controller: str,
    token: str,
) -> Transition:
    """Decide a WAITING run after evaluating its gate.

    Passing: a job pipeline moves to SUBMITTING under a lease held by ``controller`` (the
    caller then submits); a job-less pipeline stays WAITING, ready to be claimed; a dry run
    reports what it would have done. Failing: wait for the next interval (or a new sensor),
    or end VALIDATION_EXHAUSTED when the window is over.
    """
    reasons = failing_reasons(evaluation)
    base = run.evolve(
        updated_at=now,
        last_evaluated_at=now,
        last_sensor_version=sensor_version,
        last_reasons=reasons,
    )
    if evaluation.passed:
        events: list[EventDraft] = []
        if run.gate_passed_at is None:
            events.append(
                _event(
                    EventType.VALIDATION_PASSED,
                    f"gate passed for {run.period} ({_rule_count(len(evaluation.results))})",
                    rules=len(evaluation.results),
                )
            )
        passed = base.evolve(gate_passed_at=run.gate_passed_at or now)
        if pipeline.dry_run:
            # Not a success (no ``succeeded_at``): no job ran, so once dryRun is off the
            # period runs for real, and its SLA is judged then.
            return Transition(
                _finished(
                    passed,
                    RunStatus.SUCCEEDED,
                    now,
                    message="dry run: the job would have been triggered",
                ),
                events,
            )
        if not pipeline.has_job:
            # Job-less: an orchestrator claims the run. Until the window closes the gate keeps
            # being evaluated, so "ready" stays true; after it, the run waits for its claim.
            window_end = run.window_ends_at or now
            if now < window_end:
                next_at = min(now + pipeline.schedule.evaluation.interval, window_end)
                return Transition(
                    passed.evolve(next_action=NextAction.EVALUATE, due_at=next_at), events
                )
            return Transition(passed.evolve(next_action=None, due_at=None), events)
        return Transition(
            passed.evolve(
                status=RunStatus.SUBMITTING,
                token=token,
                lease_owner=controller,
                lease_expires_at=now + submit_lease(pipeline),
                next_action=NextAction.SUBMIT,
                due_at=now + submit_lease(pipeline),
            ),
            events,
        )
    window_end = run.window_ends_at or now
    if now >= window_end:
        summary = "; ".join(reasons) or "the gate did not pass"
        if pipeline.dry_run:
            exhausted = _event(
                EventType.DRY_RUN_COMPLETED,
                f"dry run: the gate did not pass within the window: {summary}",
                outcome="validation-exhausted",
                reasons=reasons,
            )
        else:
            exhausted = _event(
                EventType.VALIDATION_EXHAUSTED,
                f"evaluation window closed before the gate passed: {summary}",
                reasons=reasons,
            )
        return Transition(
            _finished(
                base,
                RunStatus.VALIDATION_EXHAUSTED,
                now,
                message=f"evaluation window closed: {summary}",
            ),
            [exhausted],
        )
    next_at = min(now + pipeline.schedule.evaluation.interval, window_end)
    # A gate that passed once and fails again (job-less, not yet claimed) is no longer ready.
    return Transition(
        base.evolve(next_action=NextAction.EVALUATE, due_at=next_at, gate_passed_at=None)
    )


REMOVED_MESSAGE = "pipeline removed (its config was deleted); the run ends without a job"


def ended_by_removal(run: Run) -> bool:
    """Whether the run ended only because its pipeline was removed, before any job ran: not a
    failure of the period, so it runs again once the pipeline is applied again."""
    return (
        run.status == RunStatus.FAILED
        and run.message == REMOVED_MESSAGE
        and run.job_run_id is None
        and run.failure_category is None
    )


def decide_removed(run: Run, now: dt.datetime) -> Transition:
    """The pipeline's config was removed while the run had no job yet (WAITING, or between
    submit tries): it ends FAILED with the reason, and nothing new starts for it. A job that
    already runs is polled to its end and recorded as usual."""
    message = REMOVED_MESSAGE
    return Transition(
        _finished(
            run,
            RunStatus.FAILED,
            now,
            lease_owner=None,
            lease_expires_at=None,
            message=message,
        ),
        [_event(EventType.PIPELINE_REMOVED, message, reason="pipeline-removed")],
    )


# --------------------------------------------------------------------------- submitting


def decide_submitted(
    run: Run, pipeline: Pipeline, handle: JobHandle, now: dt.datetime, retries_used: int = 0
) -> Transition:
    """The job was started: RUNNING (polled), or finished already for synchronous types."""
    job = pipeline.job
    assert job is not None and job.type is not None  # only job pipelines submit
    running = run.evolve(
        status=RunStatus.RUNNING,
        job_run_id=handle.run_id,
        job_metadata=dict(handle.metadata),
        submitted_at=now,
        poll_deadline=now + job.poll_window,
        lease_owner=None,
        lease_expires_at=None,
        owner=JOBLESS_OWNER,
        updated_at=now,
        next_action=NextAction.POLL,
        due_at=now + job.check_interval,
    )
    triggered = _event(
        EventType.JOB_TRIGGERED,
        f"triggered {job.type.value} job {handle.run_id} (attempt {run.attempt})",
        jobType=job.type.value,
        runId=handle.run_id,
    )
    if handle.result is None or handle.result.state == JobState.RUNNING:
        return Transition(running, [triggered])
    return _with_prefix(
        decide_job_status(running, pipeline, handle.result, now, retries_used), [triggered]
    )


def decide_submit_error(
    run: Run,
    pipeline: Pipeline,
    category: FailureCategory,
    message: str,
    now: dt.datetime,
    retries_used: int,
    *,
    may_have_started: bool = False,
    target_dedups: bool = True,
) -> Transition:
    """Submitting failed.

    A PERMANENT error (bad request, missing secret) is a job failure of its own class. A
    failure that may have started the job (a timeout after sending) on a target that cannot
    deduplicate on the token is the same uncertainty as a crash mid-submit: the run becomes
    UNCERTAIN and is never submitted again blindly. Other infrastructure errors are retried
    with backoff (same token), then the run fails.
    """
    if category == FailureCategory.PERMANENT:
        return decide_failure(
            run, pipeline, category, f"submit refused: {message}", now, retries_used
        )
    if may_have_started and not target_dedups:
        return _uncertain(
            run,
            now,
            f"the submit of attempt {run.attempt} failed after it may have reached the target "
            f"({message}), and the job type cannot deduplicate a repeat",
        )
    failures = run.submit_failures + 1
    if failures < MAX_SUBMIT_ATTEMPTS:
        delay = SUBMIT_BACKOFF * (2 ** (failures - 1))
        return Transition(
            run.evolve(
                submit_failures=failures,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                next_action=NextAction.SUBMIT,
                due_at=now + delay,
                message=message,
            ),
            [
                _event(
                    EventType.INFRA_FAILURE,
                    f"submit failed ({failures}/{MAX_SUBMIT_ATTEMPTS}), retrying in "
                    f"{format_duration(delay)}: {message}",
                    attempt=failures,
                    error=message,
                )
            ],
        )
    if may_have_started:
        # Out of tries, and the last one may have started the job: FAILED would invite a
        # rerun (a new token) beside it.
        return _uncertain(
            run,
            now,
            f"submit retries spent ({failures}/{MAX_SUBMIT_ATTEMPTS}); the last failure "
            f"({message}) may have started the job",
        )
    return Transition(
        _finished(
            run,
            RunStatus.FAILED,
            now,
            submit_failures=failures,
            lease_owner=None,
            lease_expires_at=None,
            failure_category=category.value,
            message=message,
        ),
        [
            _event(
                EventType.INFRA_FAILURE,
                f"submit failed ({failures}/{MAX_SUBMIT_ATTEMPTS}): {message}",
                attempt=failures,
                error=message,
            ),
            _event(
                EventType.RETRY_EXHAUSTED,
                f"submit retries spent ({failures}/{MAX_SUBMIT_ATTEMPTS}) for {run.pipeline_id}",
                reason="infra",
            ),
        ],
    )


def decide_expired_lease(
    run: Run, pipeline: Pipeline, *, target_dedups: bool, controller: str, now: dt.datetime
) -> Transition:
    """A SUBMITTING run whose controller vanished mid-submit.

    Where the target dedups on the attempt's token, submitting again is safe (the repeat
    adopts the job). Otherwise nobody knows whether the job started: the run becomes
    UNCERTAIN and an operator resolves it — it is never re-submitted blindly.
    """
    if target_dedups:
        return Transition(
            run.evolve(
                lease_owner=controller,
                lease_expires_at=now + submit_lease(pipeline),
                due_at=now + submit_lease(pipeline),
                updated_at=now,
            )
        )
    return _uncertain(
        run,
        now,
        f"the submit of attempt {run.attempt} was interrupted and the job type cannot tell "
        "whether it started",
    )


def _uncertain(run: Run, now: dt.datetime, why: str) -> Transition:
    """Nobody knows whether the attempt's job started: an operator must look and resolve."""
    message = (
        f"{why}; check the target, then run "
        f"`interlock resolve {run.pipeline_id} {run.period} --succeeded|--failed|--retry`"
    )
    return Transition(
        _finished(
            run,
            RunStatus.UNCERTAIN,
            now,
            lease_owner=None,
            lease_expires_at=None,
            message=message,
        ),
        [_event(EventType.TRIGGER_UNCERTAIN, message, token=run.token)],
    )


# --------------------------------------------------------------------------- running


def decide_job_status(
    run: Run, pipeline: Pipeline, status: JobStatus, now: dt.datetime, retries_used: int
) -> Transition:
    """Decide a RUNNING run from its job's status."""
    if status.state == JobState.SUCCEEDED:
        return decide_success(run, now, status.message)
    if status.state == JobState.FAILED:
        category = status.category or FailureCategory.TRANSIENT
        return decide_failure(
            run, pipeline, category, status.message or "job failed", now, retries_used
        )
    job = pipeline.job
    assert job is not None
    if run.poll_deadline is not None and now >= run.poll_deadline:
        return Transition(
            run.evolve(updated_at=now, next_action=NextAction.CANCEL, due_at=now),
            [
                _event(
                    EventType.JOB_POLL_EXHAUSTED,
                    f"job {run.job_run_id} still running after its poll window of "
                    f"{format_duration(job.poll_window)}; cancelling it",
                    runId=run.job_run_id,
                )
            ],
        )
    return Transition(
        run.evolve(updated_at=now, next_action=NextAction.POLL, due_at=now + job.check_interval)
    )


def decide_poll_error(run: Run, pipeline: Pipeline, message: str, now: dt.datetime) -> Transition:
    """The target could not be asked; keep polling until the poll window closes."""
    return decide_job_status(
        run.evolve(message=f"status check failed: {message}"),
        pipeline,
        JobStatus(JobState.RUNNING, message=message),
        now,
        0,
    )


def decide_cancelled(
    run: Run, pipeline: Pipeline, confirmed: bool, now: dt.datetime, retries_used: int
) -> Transition:
    """After asking the target to cancel: a confirmed cancel is a TIMEOUT failure (retried
    within budget, since the old job is known to be gone); an unconfirmed one ends TIMED_OUT
    without retry, because a retry could run two jobs for one period."""
    if confirmed:
        transition = decide_failure(
            run,
            pipeline,
            FailureCategory.TIMEOUT,
            "cancelled after its poll window",
            now,
            retries_used,
        )
        cancelled = _event(
            EventType.JOB_CANCELLED, f"job {run.job_run_id} cancelled", runId=run.job_run_id
        )
        return _with_prefix(transition, [cancelled])
    message = (
        f"job {run.job_run_id} could not be confirmed cancelled; not retried (check the target)"
    )
    return Transition(
        _finished(
            run,
            RunStatus.TIMED_OUT,
            now,
            failure_category=FailureCategory.TIMEOUT.value,
            message=message,
        ),
        [_event(EventType.STALE_RUN, message, runId=run.job_run_id, cancelConfirmed=False)],
    )


def decide_success(run: Run, now: dt.datetime, message: str = "") -> Transition:
    """The attempt succeeded."""
    return Transition(
        _finished(
            run,
            RunStatus.SUCCEEDED,
            now,
            succeeded_at=now,
            failure_category=None,
            message=message or "succeeded",
        ),
        [
            _event(
                EventType.JOB_COMPLETED,
                f"{run.pipeline_id} {run.period} succeeded (attempt {run.attempt})",
                runId=run.job_run_id,
            )
        ],
    )


def retry_budget(pipeline: Pipeline, category: FailureCategory) -> int:
    """``maxCodeRetries`` for PERMANENT failures, ``maxRetries`` for the rest."""
    job = pipeline.job
    if job is None:
        return 0
    return job.max_code_retries if category == FailureCategory.PERMANENT else job.max_retries


def decide_failure(
    run: Run,
    pipeline: Pipeline,
    category: FailureCategory,
    message: str,
    now: dt.datetime,
    retries_used: int,
) -> Transition:
    """The attempt failed: retry (a new attempt that re-evaluates the gate) within the budget
    of the failure's class, else FAILED."""
    budget = retry_budget(pipeline, category)
    failed = _event(
        EventType.JOB_FAILED,
        f"{run.pipeline_id} {run.period} attempt {run.attempt} failed "
        f"({category.value}): {message}",
        category=category.value,
        runId=run.job_run_id,
        error=message,
    )
    if retries_used < budget:
        window_end = now + pipeline.schedule.evaluation.window
        retry = new_attempt(
            run, pipeline, run.config_hash, RunOrigin.RETRY, now, window_end
        ).evolve(failure_category=category.value, message=message)
        return Transition(
            retry,
            [
                failed,
                _event(
                    EventType.RETRY_SCHEDULED,
                    f"retry {retries_used + 1}/{budget} scheduled as attempt {run.attempt + 1}",
                    retries=retries_used + 1,
                    maxRetries=budget,
                    category=category.value,
                ),
            ],
            [RETRY_REASON],
        )
    return Transition(
        _finished(
            run,
            RunStatus.FAILED,
            now,
            failure_category=category.value,
            message=message,
        ),
        [
            failed,
            _event(
                EventType.RETRY_EXHAUSTED,
                f"retry limit reached ({retries_used}/{budget}) for {run.pipeline_id} {run.period}",
                retries=retries_used,
                maxRetries=budget,
                category=category.value,
            ),
        ],
    )


def _with_prefix(transition: Transition, events: Sequence[EventDraft]) -> Transition:
    return Transition(transition.run, [*events, *transition.events], transition.ledger)


# --------------------------------------------------------------------------- claims


class ClaimRefused(Exception):
    """A claim or report was refused; the message says why."""


def decide_claim(
    run: Run, pipeline: Pipeline, owner: str, evaluation: Evaluation, now: dt.datetime
) -> Transition:
    """An external orchestrator claims a job-less run whose gate passes.

    Raises:
        ClaimRefused: the pipeline has a job, the gate fails, or another owner holds it.
    """
    if pipeline.has_job:
        raise ClaimRefused(
            f"{pipeline.id} has a job; wait for its SUCCEEDED instead of claiming it"
        )
    if run.status == RunStatus.CLAIMED:
        if run.owner == owner:
            return Transition(None)  # a task retry claiming again is a no-op
        raise ClaimRefused(f"{run.pipeline_id} {run.period} is claimed by {run.owner}")
    if run.status == RunStatus.SUCCEEDED:
        raise ClaimRefused(f"{run.pipeline_id} {run.period} already succeeded")
    if run.status not in {RunStatus.WAITING, RunStatus.FAILED, RunStatus.TIMED_OUT}:
        raise ClaimRefused(f"{run.pipeline_id} {run.period} is {run.status.value}, not claimable")
    if not evaluation.passed:
        raise ClaimRefused(
            f"gate not ready for {run.pipeline_id} {run.period}: "
            + "; ".join(failing_reasons(evaluation))
        )
    job = pipeline.job
    claim_timeout = job.claim_timeout if job is not None else dt.timedelta(hours=6)
    attempt = run.attempt if run.status == RunStatus.WAITING else run.attempt + 1
    claimed = run.evolve(
        status=RunStatus.CLAIMED,
        attempt=attempt,
        owner=owner,
        claimed_at=now,
        claim_deadline=now + claim_timeout,
        attempt_started_at=now if attempt != run.attempt else run.attempt_started_at,
        gate_passed_at=run.gate_passed_at or now,
        finished_at=None,
        updated_at=now,
        next_action=NextAction.CHECK_CLAIM,
        due_at=now + claim_timeout,
        message=f"claimed by {owner}",
    )
    return Transition(
        claimed,
        [
            EventDraft(
                EventType.RUN_CLAIMED,
                f"claimed by {owner} (attempt {attempt})",
                {"owner": owner},
                attempt=attempt,  # a re-claim is about the new attempt, not the failed one
            )
        ],
    )


def decide_report(
    run: Run,
    outcome: str,
    owner: str | None,
    now: dt.datetime,
    message: str = "",
    *,
    force: bool = False,
) -> Transition:
    """The claim owner reports its run's outcome (``success`` or ``failed``).

    A report that names no owner (an operator) is refused while another owner's claim is
    live (CLAIMED): that owner is still working and will report itself. ``force`` overrides
    this, and the CLAIM_REPORTED event records it.

    Raises:
        ClaimRefused: the run is not claimed, claimed by someone else, or a live claim of
            another owner is reported without ``force``.
    """
    if outcome not in {"success", "failed"}:
        raise ClaimRefused(f"outcome must be 'success' or 'failed', not {outcome!r}")
    claim_states = {RunStatus.CLAIMED, RunStatus.TIMED_OUT}
    if run.status not in claim_states or run.owner is None:
        raise ClaimRefused(f"{run.pipeline_id} {run.period} is {run.status.value}, not claimed")
    if owner is not None and owner != run.owner:
        raise ClaimRefused(f"{run.pipeline_id} {run.period} is claimed by {run.owner}, not {owner}")
    forced = owner is None and run.status == RunStatus.CLAIMED
    if forced and not force:
        raise ClaimRefused(
            f"{run.pipeline_id} {run.period} is claimed by {run.owner}, whose claim is live "
            f"(until {run.claim_deadline:%Y-%m-%d %H:%M}Z); report as that owner, or pass "
            "--force to report over it"
            if run.claim_deadline
            else f"{run.pipeline_id} {run.period} is claimed by {run.owner}; report as that "
            "owner, or pass --force to report over it"
        )
    detail: dict[str, Any] = {"owner": run.owner, "outcome": outcome}
    if forced:
        detail["forced"] = True
    reported = EventDraft(
        EventType.CLAIM_REPORTED,
        f"{run.owner} reported {outcome}"
        if not forced
        else f"an operator reported {outcome} over the live claim of {run.owner} (--force)",
        detail,
    )
    if outcome == "success":
        return _with_prefix(
            decide_success(run, now, message or f"reported by {run.owner}"), [reported]
        )
    failed = _finished(
        run,
        RunStatus.FAILED,
        now,
        failure_category=FailureCategory.TRANSIENT.value,
        message=message or f"{run.owner} reported failure",
    )
    return Transition(
        failed,
        [
            reported,
            _event(
                EventType.JOB_FAILED,
                f"{run.pipeline_id} {run.period} attempt {run.attempt} failed "
                f"(reported by {run.owner})",
                owner=run.owner,
                error=message,
            ),
        ],
    )


def decide_stale_claim(run: Run, now: dt.datetime) -> Transition:
    """A claim unreported after ``claimTimeout``: STALE_RUN, and the run times out (its owner
    may still report late)."""
    message = (
        f"claim by {run.owner} unreported since {run.claimed_at:%Y-%m-%d %H:%M}Z"
        if run.claimed_at
        else "claim unreported"
    )
    return Transition(
        _finished(
            run,
            RunStatus.TIMED_OUT,
            now,
            message=message,
        ),
        [_event(EventType.STALE_RUN, message, owner=run.owner)],
    )


# --------------------------------------------------------------------------- reruns


@dataclass(frozen=True)
class RerunFacts:
    """What a rerun decision needs to know beyond the run and config."""

    used: int
    budget: int
    excluded_reason: str | None
    fresh_sensor_since_success: bool
    # Late data is itself the fresh sensor; an operator may also force past the breaker.
    bypass_circuit_breaker: bool = False


def rerun_budget(pipeline: Pipeline, reason: str) -> tuple[int, frozenset[str]]:
    """The budget of a rerun reason and the ledger reasons that count against it."""
    job = pipeline.job
    if reason in DRIFT_REASONS:
        return (job.max_drift_reruns if job else 1), DRIFT_REASONS
    return (job.max_manual_reruns if job else 1), frozenset({reason})


def decide_rerun(
    run: Run,
    pipeline: Pipeline,
    reason: str,
    facts: RerunFacts,
    now: dt.datetime,
    config_hash: str,
    window_ends_at: dt.datetime,
) -> Transition:
    """Reopen a finished run as a new attempt, subject to the calendar, the budget and the
    circuit breaker (a rerun after a success needs a sensor written after that success)."""
    dry = pipeline.dry_run
    rejected_type = EventType.DRY_RUN_RERUN_REJECTED if dry else EventType.RERUN_REJECTED
    if not run.is_terminal:
        return Transition(
            None,
            [
                _event(
                    rejected_type,
                    f"rerun ({reason}) refused: the run is {run.status.value}",
                    reason=reason,
                )
            ],
        )
    if facts.excluded_reason is not None:
        return Transition(
            None,
            [
                _event(
                    rejected_type, f"rerun ({reason}) refused: excluded by calendar", reason=reason
                ),
                _event(
                    EventType.PIPELINE_EXCLUDED,
                    f"{run.period} is excluded ({facts.excluded_reason})",
                    dedup=f"{EventType.PIPELINE_EXCLUDED.value}#{run.period}",
                ),
            ],
        )
    if facts.used >= facts.budget:
        return Transition(
            None,
            [
                _event(
                    rejected_type,
                    f"rerun ({reason}) refused: limit reached ({facts.used}/{facts.budget})",
                    reason=reason,
                    rerunCount=facts.used,
                    budget=facts.budget,
                )
            ],
        )
    if (
        run.status == RunStatus.SUCCEEDED
        and not facts.bypass_circuit_breaker
        and not facts.fresh_sensor_since_success
    ):
        return Transition(
            None,
            [
                _event(
                    rejected_type,
                    f"rerun ({reason}) refused: the run succeeded and no sensor changed since",
                    reason=reason,
                    circuitBreaker="tripped",
                )
            ],
        )
    if dry:
        return Transition(
            None,
            [
                _event(
                    EventType.DRY_RUN_WOULD_RERUN,
                    f"dry run: rerun ({reason}) would be accepted",
                    reason=reason,
                    rerunCount=facts.used,
                    budget=facts.budget,
                )
            ],
        )
    reopened = new_attempt(run, pipeline, config_hash, RunOrigin.RERUN, now, window_ends_at).evolve(
        message=f"rerun: {reason}"
    )
    return Transition(
        reopened,
        [
            EventDraft(
                EventType.RERUN_ACCEPTED,
                f"rerun accepted for {run.pipeline_id} {run.period} as attempt "
                f"{reopened.attempt} (reason: {reason})",
                {"reason": reason, "rerunCount": facts.used + 1, "budget": facts.budget},
                attempt=reopened.attempt,
            )
        ],
        [reason],
    )


# --------------------------------------------------------------------------- resolve


RESOLUTIONS = ("succeeded", "failed", "retry")


def decide_resolve(
    run: Run,
    pipeline: Pipeline,
    resolution: str,
    now: dt.datetime,
    config_hash: str,
    window_ends_at: dt.datetime,
    note: str = "",
) -> Transition:
    """An operator ends an uncertain or stuck run: succeeded, failed, or retry (new attempt)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}")
    if run.status in {RunStatus.SUCCEEDED, RunStatus.WAITING}:
        raise ValueError(
            f"{run.pipeline_id} {run.period} is {run.status.value}; nothing to resolve"
        )
    # Never two jobs for one period: a job that may still run is not resolved around.
    if run.status == RunStatus.RUNNING:
        raise ValueError(
            f"{run.pipeline_id} {run.period} has a running job ({run.job_run_id}); it is polled "
            "until it ends or its poll window closes and it is cancelled — resolve after that"
        )
    if (
        run.status == RunStatus.SUBMITTING
        and run.lease_expires_at is not None
        and run.lease_expires_at > now
    ):
        raise ValueError(
            f"{run.pipeline_id} {run.period} is being submitted by {run.lease_owner}; "
            "resolve only after its lease expires"
        )
    if resolution == "failed" and run.status == RunStatus.FAILED:
        raise ValueError(f"{run.pipeline_id} {run.period} is already FAILED")
    resolved = _event(
        EventType.RUN_RESOLVED,
        f"resolved as {resolution} by an operator" + (f": {note}" if note else ""),
        resolution=resolution,
        previousStatus=run.status.value,
    )
    if resolution == "succeeded":
        return _with_prefix(decide_success(run, now, note or "resolved as succeeded"), [resolved])
    if resolution == "failed":
        return Transition(
            _finished(
                run,
                RunStatus.FAILED,
                now,
                message=note or "resolved as failed",
                lease_owner=None,
                lease_expires_at=None,
            ),
            [resolved],
        )
    reopened = new_attempt(run, pipeline, config_hash, RunOrigin.MANUAL, now, window_ends_at)
    return Transition(reopened, [resolved])


def _rule_count(count: int) -> str:
    return "1 rule" if count == 1 else f"{count} rules"
