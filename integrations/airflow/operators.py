"""Feeding Interlock from Airflow: write sensors, report the outcome of claimed runs.

Importing this module loads no part of the engine: DAG files import it at every parse.
"""

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from integrations.airflow.errors import InterlockFatalError, InterlockNoClaimError
from integrations.airflow.hooks import DEFAULT_CONN_ID, InterlockHook

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger("interlock.airflow")


def emit(
    pipeline_id: str,
    sensor_key: str,
    data: Mapping[str, Any] | str,
    period: str | None = None,
    *,
    interlock_conn_id: str = DEFAULT_CONN_ID,
) -> dict[str, Any]:
    """Write an Interlock sensor from ``@task`` code (a producer telling a downstream pipeline
    its input is ready).

    Example::

        @task
        def export_stock():
            rows = run_export()
            emit("warehouse-inventory", "stock-export", {"status": "done", "rows": rows})

    Args:
        pipeline_id: the pipeline the sensor belongs to.
        sensor_key: the sensor key.
        data: a JSON object (or its JSON text).
        period: write the sensor for this period (``key#<period>``).
        interlock_conn_id: the Airflow connection of the store.

    Returns:
        ``{"pipeline_id", "key", "version", "written_at"}``.

    Raises:
        InterlockFatalError: bad data, key or period, or an unknown pipeline.
        InterlockUnavailableError: the store failed.
    """
    from integrations.airflow.gate import emit_sensor

    engine = InterlockHook(interlock_conn_id).get_conn()
    return emit_sensor(engine, pipeline_id, sensor_key, data, period)


class InterlockEmitOperator(BaseOperator):
    """Writes an Interlock sensor (all arguments but the connection are templated).

    Bad data, an unknown pipeline or a bad period fail the task without retries; a store
    failure fails it with its retries. The XCom is ``{"pipeline_id", "key", "version",
    "written_at"}``.

    Args:
        pipeline_id: the pipeline the sensor belongs to.
        sensor_key: the sensor key.
        data: a JSON object (values may be templates), or a template rendering JSON text.
        period: write the sensor for this period (``key#<period>``).
        interlock_conn_id: the Airflow connection of the store.
    """

    template_fields = ("pipeline_id", "sensor_key", "data", "period")
    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        pipeline_id: str,
        sensor_key: str,
        data: Mapping[str, Any] | str,
        period: str | None = None,
        interlock_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_id = pipeline_id
        self.sensor_key = sensor_key
        self.data = data
        self.period = period
        self.interlock_conn_id = interlock_conn_id

    def execute(self, context: "Context") -> dict[str, Any]:
        """Write the sensor."""
        try:
            written = emit(
                self.pipeline_id,
                self.sensor_key,
                self.data,
                self.period,
                interlock_conn_id=self.interlock_conn_id,
            )
        except InterlockFatalError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info(
            "Interlock sensor %s/%s written (version %s)",
            self.pipeline_id,
            written["key"],
            written["version"],
        )
        return written


class InterlockReportOperator(BaseOperator):
    """Reports the outcome of the Interlock run this DAG run claimed (templated arguments).

    The run is the one ``InterlockSensor(wait_for="ready")`` claimed for this DAG run; pass
    ``period`` only to name it explicitly. Reporting the same outcome again is a no-op.
    Without a claim, ``success`` fails the task (the work ran ungated) and ``failed`` skips it
    (the gate itself failed: nothing to report).
    A typical DAG ends with ``work >> report`` and a second report task with
    ``outcome="failed"`` and ``trigger_rule="one_failed"`` — or uses
    :func:`on_success_callback` / :func:`on_failure_callback` instead.

    Args:
        pipeline_id: the pipeline.
        period: the period (default: the run this DAG run claimed).
        outcome: ``success`` or ``failed``.
        interlock_conn_id: the Airflow connection of the store.
    """

    template_fields = ("pipeline_id", "period", "outcome")
    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        pipeline_id: str,
        period: str | None = None,
        outcome: str = "success",
        interlock_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if outcome not in ("success", "failed") and "{{" not in outcome:
            raise ValueError(f"outcome must be 'success' or 'failed', not {outcome!r}")
        self.pipeline_id = pipeline_id
        self.period = period
        self.outcome = outcome
        self.interlock_conn_id = interlock_conn_id

    def execute(self, context: "Context") -> dict[str, Any]:
        """Report the outcome."""
        try:
            return report(
                context,
                self.pipeline_id,
                self.outcome,
                self.period,
                interlock_conn_id=self.interlock_conn_id,
                message=f"reported by task {self.task_id}",
            )
        except InterlockNoClaimError as exc:
            if self.outcome == "failed":
                # A failure report (trigger_rule="one_failed") after a gate that never claimed:
                # the DAG run already failed for its own reason; there is nothing to report.
                raise AirflowSkipException(f"nothing to report: {exc}") from exc
            raise AirflowFailException(str(exc)) from exc
        except InterlockFatalError as exc:
            raise AirflowFailException(str(exc)) from exc


def report(
    context: "Context | Mapping[str, Any]",
    pipeline_id: str,
    outcome: str,
    period: str | None = None,
    *,
    interlock_conn_id: str = DEFAULT_CONN_ID,
    message: str = "",
) -> dict[str, Any]:
    """Report ``outcome`` for the Interlock run this DAG run claimed (``@task`` code).

    Returns:
        ``{"pipeline_id", "period", "attempt", "status", "owner"}`` of the run after the report.

    Raises:
        InterlockFatalError: this DAG run holds no claim (or another owner does).
        InterlockUnavailableError: the store failed.
    """
    from integrations.airflow.context import owner_of
    from integrations.airflow.gate import report_claim

    owner = owner_of(context)
    engine = InterlockHook(interlock_conn_id).get_conn()
    run = report_claim(engine, pipeline_id, outcome, owner, period or None, message)
    return {
        "pipeline_id": run.pipeline_id,
        "period": run.period,
        "attempt": run.attempt,
        "status": run.status.value,
        "owner": run.owner,
    }


class InterlockReportCallback:
    """A DAG (or task) callback reporting the DAG run's outcome to its Interlock claim.

    Airflow logs what a callback raises and goes on; a failed report leaves the claim open,
    and Interlock's watchdog reports it as a STALE_RUN after ``claimTimeout``. ``pipeline_id``
    and ``period`` may be templates (rendered with the callback's context).

    Args:
        pipeline_id: the pipeline.
        outcome: ``success`` or ``failed``.
        period: the period (default: the run this DAG run claimed).
        interlock_conn_id: the Airflow connection of the store.
    """

    def __init__(
        self,
        pipeline_id: str,
        outcome: str,
        period: str | None = None,
        interlock_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        if outcome not in ("success", "failed"):
            raise ValueError(f"outcome must be 'success' or 'failed', not {outcome!r}")
        self.pipeline_id = pipeline_id
        self.outcome = outcome
        self.period = period
        self.interlock_conn_id = interlock_conn_id
        self.__name__ = f"interlock_report_{outcome}"

    def __call__(self, context: "Context | Mapping[str, Any]") -> None:
        """Report; other errors are logged by Airflow (a callback cannot fail the DAG run)."""
        reason = context.get("reason") or ""
        pipeline_id = _render(self.pipeline_id, context)
        try:
            report(
                context,
                pipeline_id,
                self.outcome,
                _render(self.period, context) if self.period else None,
                interlock_conn_id=self.interlock_conn_id,
                message=f"DAG run {self.outcome}" + (f" ({reason})" if reason else ""),
            )
        except InterlockNoClaimError as exc:
            # The gate never passed (a timeout, a skip): this DAG run has nothing to report.
            log.info("Interlock %s: nothing to report: %s", pipeline_id, exc)

    def __repr__(self) -> str:
        return f"InterlockReportCallback({self.pipeline_id!r}, {self.outcome!r})"


def on_success_callback(
    pipeline_id: str, period: str | None = None, *, interlock_conn_id: str = DEFAULT_CONN_ID
) -> Callable[[Any], None]:
    """``DAG(on_success_callback=...)``: report ``success`` for this DAG run's claim."""
    return InterlockReportCallback(pipeline_id, "success", period, interlock_conn_id)


def on_failure_callback(
    pipeline_id: str, period: str | None = None, *, interlock_conn_id: str = DEFAULT_CONN_ID
) -> Callable[[Any], None]:
    """``DAG(on_failure_callback=...)``: report ``failed`` for this DAG run's claim."""
    return InterlockReportCallback(pipeline_id, "failed", period, interlock_conn_id)


def _render(value: str, context: "Context | Mapping[str, Any]") -> str:
    if "{{" not in value:
        return value
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # The DAG's own environment (its macros and filters) when the callback gets a real DAG;
    # DAG callbacks may get the serialized DAG, which has none.
    make_env = getattr(context.get("dag"), "get_template_env", None)
    environment = (
        make_env() if callable(make_env) else SandboxedEnvironment(undefined=StrictUndefined)
    )
    return environment.from_string(value).render(**context)
