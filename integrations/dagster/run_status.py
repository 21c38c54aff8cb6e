"""Run reporting: the outcome of every Dagster run launched for an Interlock claim reaches
the claim, so SLA verdicts, the watchdog, drift checks and ``interlock status`` see it.

The runs are found by their tags (``interlock/owner``, ``interlock/pipeline``,
``interlock/period``, set by the readiness sensor); runs without them are ignored. A run that
fails to launch ends FAILURE in Dagster, so the failure sensor fails its claim (``JOB_FAILED``
in Interlock) instead of leaving it to time out. A failed run that Dagster will retry
(``dagster/will_retry``) is not reported: its re-execution carries the same tags and reports.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from integrations.dagster import tags
from integrations.dagster.resources import InterlockResource
from interlock_core import InterlockError, RunStatus
from interlock_core.lifecycle import ClaimRefused

# Dagster run status → (Interlock outcome, what the report says happened).
_OUTCOMES = {
    dg.DagsterRunStatus.SUCCESS: ("success", "succeeded"),
    dg.DagsterRunStatus.FAILURE: ("failed", "failed"),
    dg.DagsterRunStatus.CANCELED: ("failed", "was canceled"),
}
_MAX_MESSAGE = 500
# Set by Dagster on a failed run that its run-retry daemon will re-execute; the re-execution
# carries the same tags, so the claim waits for it.
_WILL_RETRY_TAG = "dagster/will_retry"


def build_interlock_run_status_sensors(
    *,
    name_prefix: str = "interlock",
    monitored_jobs: Sequence[Any] | None = None,
    monitor_all_code_locations: bool = False,
    minimum_interval_seconds: int | None = None,
    resource_key: str = "interlock",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> list[dg.SensorDefinition]:
    """Run-status sensors reporting SUCCESS, FAILURE and CANCELED runs to their claims.

    Args:
        name_prefix: the sensors are ``<prefix>_run_succeeded``, ``<prefix>_run_failed``
            and ``<prefix>_run_canceled``.
        monitored_jobs: the jobs to watch (default: every job of this code location; only
            runs tagged by an Interlock sensor are reported).
        monitor_all_code_locations: watch runs of every code location.
        minimum_interval_seconds: seconds between ticks.
        resource_key: the key of the ``InterlockResource``.
        default_status: whether the sensors start running (run them whenever an Interlock
            readiness sensor runs, or claims go stale).
    """
    return [
        dg.RunStatusSensorDefinition(
            name=f"{name_prefix}_run_{suffix}",
            run_status=status,
            run_status_sensor_fn=_reporter(status, resource_key),
            minimum_interval_seconds=minimum_interval_seconds,
            description=f"Reports Dagster runs that {suffix.replace('_', ' ')} to Interlock.",
            monitored_jobs=monitored_jobs,
            monitor_all_code_locations=monitor_all_code_locations,
            default_status=default_status,
            required_resource_keys={resource_key},
        )
        for status, suffix in (
            (dg.DagsterRunStatus.SUCCESS, "succeeded"),
            (dg.DagsterRunStatus.FAILURE, "failed"),
            (dg.DagsterRunStatus.CANCELED, "canceled"),
        )
    ]


def _reporter(status: dg.DagsterRunStatus, resource_key: str) -> Any:
    def report_run(context: dg.RunStatusSensorContext) -> None:
        resource: InterlockResource = getattr(context.resources, resource_key)
        report_run_outcome(context, resource, status)

    return report_run


def report_run_outcome(
    context: dg.RunStatusSensorContext,
    resource: InterlockResource,
    status: dg.DagsterRunStatus,
) -> None:
    """Report one finished Dagster run to the claim named by its tags (if any)."""
    run = context.dagster_run
    owner = run.tags.get(tags.OWNER_TAG)
    pipeline_id = run.tags.get(tags.PIPELINE_TAG)
    period = run.tags.get(tags.PERIOD_TAG)
    if not (owner and pipeline_id and period):
        return  # not launched for an Interlock claim
    if status == dg.DagsterRunStatus.FAILURE and run.tags.get(_WILL_RETRY_TAG) == "true":
        context.log.info(
            "Interlock: dagster run %s failed and will be retried; %s %s waits for the retry",
            run.run_id,
            pipeline_id,
            period,
        )
        return
    outcome, what = _OUTCOMES[status]
    message = f"dagster run {run.run_id} {what}"
    if status != dg.DagsterRunStatus.SUCCESS and context.dagster_event.message:
        message = f"{message}: {context.dagster_event.message}"[:_MAX_MESSAGE]
    try:
        reported = resource.report(pipeline_id, period, outcome, owner, message)
    except (ClaimRefused, InterlockError) as exc:
        current = resource.run(pipeline_id, period)
        # Already reported only if the claim holds this very outcome: a failed re-execution
        # of a run whose success was reported is a refused report, not a repeat.
        if current is not None and current.owner == owner and current.status == _HOLDS[outcome]:
            context.log.info("Interlock: %s %s already reported (%s)", pipeline_id, period, exc)
        else:
            context.log.warning(
                "Interlock refused the report of dagster run %s for %s %s: %s",
                run.run_id,
                pipeline_id,
                period,
                exc,
            )
        return
    context.log.info(
        "Interlock: reported %s for %s %s attempt %s (%s)",
        outcome,
        pipeline_id,
        period,
        reported.attempt,
        owner,
    )


# The run status a reported outcome leaves on the claim.
_HOLDS = {"success": RunStatus.SUCCEEDED, "failed": RunStatus.FAILED}
