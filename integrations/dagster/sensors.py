"""Readiness sensors: launch Dagster work when an Interlock gate passes.

``wait_for="ready"`` gates a job-less pipeline: when its gate passes the sensor **claims**
the run for one Dagster run request (owner ``dagster:<sensor>/<run_key>``, see ``tags``) and
yields that request, tagged so that run reporting (``run_status.py``) reports its outcome to
the claim. ``wait_for="succeeded"`` launches when another pipeline's run has succeeded.

The run key is ``<pipeline>:<period>:<attempt>``: Dagster launches one run per key, and a
rerun's new attempt gets a new key. The JSON cursor remembers the keys already requested;
a claim this sensor holds whose key is not in the cursor (a tick that failed after claiming)
is requested again — harmless, since Dagster drops a run key it has already launched.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

# Not re-exported at the top level: it is what ``define_asset_job`` returns.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from integrations.dagster import partitions, tags
from integrations.dagster.resources import InterlockResource
from interlock_core import InterlockError, Readiness, Run, RunStatus, SensorError
from interlock_core.lifecycle import ClaimRefused, failing_reasons
from interlock_core.readiness import evaluate_many

PeriodFn = Callable[[dg.SensorEvaluationContext], str | None]
WAIT_FOR = ("ready", "succeeded")
# Run keys remembered in the cursor (newest last); old periods fall off the front.
MAX_REMEMBERED_KEYS = 500


class InterlockSensorError(Exception):
    """A sensor tick could not evaluate its pipelines (unknown pipeline, bad period)."""


@dataclass(frozen=True)
class InterlockSensorSpec:
    """One pipeline watched by ``build_interlock_sensors``.

    Attributes:
        pipeline_id: the Interlock pipeline.
        target: the job to launch (a ``JobDefinition`` or ``define_asset_job(...)``).
        wait_for: ``"ready"`` (claim the gated run) or ``"succeeded"`` (another pipeline's
            run succeeded).
        period_fn: the period to evaluate for a tick; default: the pipeline's current period.
    """

    pipeline_id: str
    target: dg.JobDefinition | UnresolvedAssetJobDefinition
    wait_for: str = "ready"
    period_fn: PeriodFn | None = None


def build_interlock_sensor(
    *,
    pipeline_id: str,
    target: Any,
    name: str | None = None,
    wait_for: str = "ready",
    period_fn: PeriodFn | None = None,
    minimum_interval_seconds: int = 30,
    resource_key: str = "interlock",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: str | None = None,
) -> dg.SensorDefinition:
    """A sensor that launches ``target`` once per Interlock attempt of ``pipeline_id``.

    Args:
        pipeline_id: the Interlock pipeline to watch.
        target: what to launch: assets, an ``AssetSelection``, a job or an asset job. When it
            is partitioned, the period is its partition key (``YYYY-MM-DD``; hourly periods
            as ``YYYY-MM-DD-HH:00``); a period with no matching key is a skip, not a claim.
        name: the sensor name (default ``interlock_<pipeline>``).
        wait_for: ``"ready"``: claim the job-less run when its gate passes; ``"succeeded"``:
            launch when the pipeline's run has succeeded.
        period_fn: ``period_fn(context) -> period``; default: the current period.
        minimum_interval_seconds: seconds between ticks.
        resource_key: the key of the ``InterlockResource``.
        default_status: whether the sensor starts running.
        description: shown in the Dagster UI.

    Returns:
        The sensor. A tick yields one ``RunRequest`` (run key ``<pipeline>:<period>:<attempt>``,
        tags ``interlock/pipeline``, ``interlock/period``, ``interlock/attempt`` and, for a
        claim, ``interlock/owner``) or a ``SkipReason`` naming the failing rules.
    """
    _check_wait_for(wait_for)
    sensor_name = name or f"interlock_{tags.dagster_name(pipeline_id)}"
    spec = InterlockSensorSpec(pipeline_id, target, wait_for, period_fn)
    # The job Dagster makes of an asset target is only named once the sensor exists.
    job_names: list[str] = []

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return _tick(context, resource_key, sensor_name, [(spec, job_names[0], False)])

    sensor = dg.SensorDefinition(
        name=sensor_name,
        evaluation_fn=evaluate,
        target=target,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=description or f"Launches {pipeline_id} when Interlock says {wait_for}.",
    )
    job_names.append(sensor.job_name or "")
    return sensor


def build_interlock_sensors(
    specs: Sequence[InterlockSensorSpec],
    *,
    name: str = "interlock_sensors",
    minimum_interval_seconds: int = 30,
    resource_key: str = "interlock",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """One sensor watching many pipelines: every pipeline is evaluated in the same tick.

    Args:
        specs: the pipelines and the jobs they launch (each target must be a job).
        name: the sensor name.
        minimum_interval_seconds: seconds between ticks.
        resource_key: the key of the ``InterlockResource``.
        default_status: whether the sensor starts running.
    """
    if not specs:
        raise ValueError("build_interlock_sensors needs at least one InterlockSensorSpec")
    jobs: dict[str, dg.JobDefinition | UnresolvedAssetJobDefinition] = {}
    for spec in specs:
        _check_wait_for(spec.wait_for)
        if not isinstance(spec.target, (dg.JobDefinition, UnresolvedAssetJobDefinition)):
            raise TypeError(
                f"InterlockSensorSpec({spec.pipeline_id!r}).target must be a job "
                f"(JobDefinition or define_asset_job(...)), not {type(spec.target).__name__}"
            )
        jobs[spec.target.name] = spec.target
    entries = [(spec, spec.target.name, True) for spec in specs]

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return _tick(context, resource_key, name, entries)

    return dg.SensorDefinition(
        name=name,
        evaluation_fn=evaluate,
        jobs=list(jobs.values()),
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description="Launches Interlock-gated jobs: "
        + ", ".join(spec.pipeline_id for spec in specs),
    )


# ----------------------------------------------------------------------------- one tick


@dataclass(frozen=True)
class _Target:
    """What a request launches: the target, its job's name, and whether requests name it
    (a sensor with several jobs must say which)."""

    definition: Any
    job_name: str
    name_the_job: bool


def _tick(
    context: dg.SensorEvaluationContext,
    resource_key: str,
    sensor_name: str,
    entries: Sequence[tuple[InterlockSensorSpec, str, bool]],
) -> dg.SensorResult:
    resource: InterlockResource = getattr(context.resources, resource_key)
    requested, cursor_was_reset = _read_cursor(context)
    requests: list[dg.RunRequest] = []
    skips: list[str] = []
    errors: list[str] = []
    readiness = _readiness(context, resource, [spec for spec, _, _ in entries])
    for (spec, job_name, name_the_job), ready in zip(entries, readiness, strict=True):
        target = _Target(spec.target, job_name, name_the_job)
        try:
            if isinstance(ready, Exception):
                raise ready
            outcome = _evaluate_spec(context, resource, sensor_name, spec, target, ready, requested)
        except (InterlockError, InterlockSensorError, SensorError, ValueError) as exc:
            errors.append(f"{spec.pipeline_id}: {exc}")
            continue
        if isinstance(outcome, str):
            skips.append(outcome)
        else:
            requests.append(outcome)
    if errors:
        message = "; ".join(errors)
        if not requests:
            # A failed tick is red in the Dagster UI; a skip would hide the misconfiguration.
            raise InterlockSensorError(message)
        context.log.error("Interlock sensor %s: %s", sensor_name, message)
    if requests:
        keys = [*requested, *(request.run_key for request in requests if request.run_key)]
        return dg.SensorResult(run_requests=requests, cursor=_cursor(keys))
    return dg.SensorResult(
        skip_reason=" | ".join(skips),
        cursor=_cursor(requested) if cursor_was_reset else None,
    )


def _readiness(
    context: dg.SensorEvaluationContext,
    resource: InterlockResource,
    specs: Sequence[InterlockSensorSpec],
) -> list[Readiness | Exception]:
    """Every spec's gate from one batch read (``readiness.evaluate_many``: the configs once,
    then sensors and run per pipeline); a spec whose period or gate cannot be read gets its
    error instead."""
    answers: list[Readiness | Exception | None] = []
    wanted: list[tuple[str, str | None]] = []
    for spec in specs:
        try:
            period = spec.period_fn(context) if spec.period_fn is not None else None
        except (InterlockError, InterlockSensorError, SensorError, ValueError) as exc:
            answers.append(exc)
            continue
        answers.append(None)
        wanted.append((spec.pipeline_id, period))
    evaluated = iter(evaluate_many(resource.get_engine(), wanted))
    return [answer if answer is not None else next(evaluated) for answer in answers]


def _evaluate_spec(
    context: dg.SensorEvaluationContext,
    resource: InterlockResource,
    sensor_name: str,
    spec: InterlockSensorSpec,
    target: _Target,
    readiness: Readiness,
    requested: list[str],
) -> dg.RunRequest | str:
    if spec.wait_for == "succeeded":
        return _after_success(context, spec, target, readiness, requested)
    return _claim_and_request(context, resource, sensor_name, spec, target, readiness, requested)


def _claim_and_request(
    context: dg.SensorEvaluationContext,
    resource: InterlockResource,
    sensor_name: str,
    spec: InterlockSensorSpec,
    target: _Target,
    readiness: Readiness,
    requested: list[str],
) -> dg.RunRequest | str:
    pipeline_id, period, run = spec.pipeline_id, readiness.period, readiness.run
    where = f"{pipeline_id} {period}"
    if run is not None and run.status == RunStatus.CLAIMED:
        if not (run.owner or "").startswith(tags.claim_owner(sensor_name, "")):
            return f"{where} is claimed by {run.owner}"
        key = tags.run_key(pipeline_id, period, run.attempt)
        if key in requested:
            return f"{where} attempt {run.attempt} already requested (run key {key})"
        # Our claim from a tick that failed before Dagster stored its run requests.
        partition_key = _partition_key(context, target, period)
        if isinstance(partition_key, _NoKey):
            return f"{where}: {partition_key.why}"
        return _request(spec, run, target, partition_key, owner=run.owner)
    if readiness.excluded is not None:
        return f"{where} is excluded ({readiness.excluded})"
    if run is not None and run.status != RunStatus.WAITING:
        return f"{where} is {run.status.value} (attempt {run.attempt}); {_after(run)}"
    if not readiness.ready:
        return f"{where} not ready: " + "; ".join(failing_reasons(readiness.evaluation))
    partition_key = _partition_key(context, target, period)
    if isinstance(partition_key, _NoKey):
        return f"{where}: {partition_key.why}"  # checked before claiming: nothing to undo
    attempt = run.attempt if run is not None else 1
    owner = tags.claim_owner(sensor_name, tags.run_key(pipeline_id, period, attempt))
    try:
        claimed = resource.claim(pipeline_id, period, owner)
    except ClaimRefused as exc:
        active = resource.get_engine().config(pipeline_id)
        if active is not None and active.pipeline.has_job:
            # Not a race that the next tick may win: the sensor is built wrongly.
            raise InterlockSensorError(
                f"{exc} (build the sensor with wait_for='succeeded')"
            ) from exc
        return f"{where}: claim refused ({exc})"
    context.log.info("Interlock: claimed %s attempt %s as %s", where, claimed.attempt, owner)
    try:
        return _request(spec, claimed, target, partition_key, owner=owner)
    except Exception as exc:
        # The claim must not wait out claimTimeout for a run that will never start.
        resource.report(pipeline_id, period, "failed", owner, f"run request not built: {exc}")
        raise


def _after(run: Run) -> str:
    if run.is_dry_run_pass:
        return "a dry run's pass: nothing launches while dryRun is on"
    if run.status == RunStatus.SUCCEEDED:
        return "a rerun opens the next attempt"
    if run.status in {RunStatus.FAILED, RunStatus.TIMED_OUT}:
        return "`interlock rerun` opens the next attempt"
    return "nothing to launch"


def _after_success(
    context: dg.SensorEvaluationContext,
    spec: InterlockSensorSpec,
    target: _Target,
    readiness: Readiness,
    requested: list[str],
) -> dg.RunRequest | str:
    where, run = f"{spec.pipeline_id} {readiness.period}", readiness.run
    if run is None or not run.is_success:
        state = f"{run.status.value} (attempt {run.attempt})" if run else "not opened"
        if run is not None and run.is_dry_run_pass:
            state = "a dry run's pass (no job ran)"
        return f"{where} has not succeeded: its run is {state}"
    key = tags.run_key(spec.pipeline_id, run.period, run.attempt)
    if key in requested:
        return f"{where} attempt {run.attempt} already requested (run key {key})"
    partition_key = _partition_key(context, target, run.period)
    if isinstance(partition_key, _NoKey):
        return f"{where}: {partition_key.why}"
    return _request(spec, run, target, partition_key, owner=None)


def _request(
    spec: InterlockSensorSpec,
    run: Run,
    target: _Target,
    partition_key: str | None,
    *,
    owner: str | None,
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=tags.run_key(spec.pipeline_id, run.period, run.attempt),
        tags=tags.run_tags(
            spec.pipeline_id, run.period, run.attempt, owner=owner, wait_for=spec.wait_for
        ),
        partition_key=partition_key,
        job_name=target.job_name if target.name_the_job else None,
    )


# ----------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class _NoKey:
    """A partitioned target with no partition key for the period, and why."""

    why: str


def _partition_key(
    context: dg.SensorEvaluationContext, target: _Target, period: str
) -> str | _NoKey | None:
    """The partition key of ``period``; None for an unpartitioned target."""
    partitions_def = _partitions_def(context, target)
    if partitions_def is None:
        return None
    candidates = partitions.partition_key_candidates(period)
    for candidate in candidates:
        try:
            if partitions_def.has_partition_key(candidate):
                return candidate
        except Exception as exc:  # dynamic partitions and the like: say why, do not claim
            return _NoKey(f"cannot check partition key {candidate!r}: {exc}")
    return _NoKey(
        f"the target's partitions have no key for period {period} (tried "
        + ", ".join(candidates)
        + "); daily partitions end yesterday unless end_offset=1, or map periods with "
        "period_fn"
    )


def _partitions_def(
    context: dg.SensorEvaluationContext, target: _Target
) -> dg.PartitionsDefinition | None:
    direct = getattr(target.definition, "partitions_def", None)
    if isinstance(direct, dg.PartitionsDefinition):
        return direct
    repository = context.repository_def
    if repository is None:
        return None
    try:
        return repository.get_job(target.job_name).partitions_def
    except dg.DagsterError:
        return None


# ----------------------------------------------------------------------------- cursor


def _read_cursor(context: dg.SensorEvaluationContext) -> tuple[list[str], bool]:
    """The run keys already requested, and whether an unreadable cursor was reset."""
    if not context.cursor:
        return [], False
    try:
        document = json.loads(context.cursor)
        keys = document["requested"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise TypeError("requested is not a list of run keys")
    except (ValueError, TypeError, KeyError) as exc:
        context.log.warning(
            "Failed to interpret cursor %r (%s). Starting from scratch.", context.cursor, exc
        )
        return [], True
    return keys, False


def _cursor(keys: list[str]) -> str:
    unique = list(dict.fromkeys(keys))
    return json.dumps({"requested": unique[-MAX_REMEMBERED_KEYS:]})


def _check_wait_for(wait_for: str) -> None:
    if wait_for not in WAIT_FOR:
        raise ValueError(f"wait_for must be 'ready' or 'succeeded', not {wait_for!r}")
