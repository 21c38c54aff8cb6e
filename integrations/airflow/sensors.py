"""InterlockSensor: gate a DAG on an Interlock pipeline, in poke, reschedule or deferrable mode.

Importing this module loads no part of the engine: DAG files import it at every parse.
"""

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from integrations.airflow.errors import InterlockFatalError, InterlockUnavailableError
from integrations.airflow.hooks import DEFAULT_CONN_ID, InterlockHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integrations.airflow.gate import GateCheck

WAIT_FOR = ("ready", "succeeded")
# Airflow's own deferral timeout only backs up the trigger's deadline (the trigger ends itself).
_DEFERRAL_GRACE = 60.0


class InterlockSensor(BaseSensorOperator):
    """Waits until an Interlock pipeline is ready for this DAG run, or until its run succeeded.

    ``wait_for="ready"`` gates a job-less pipeline: when its gate passes, the sensor **claims**
    the Interlock run of the period for this DAG run (owner ``airflow:<dag id>/<run id>``; a
    retried task finds its own claim), so SLA, watchdog, drift checks and ``interlock status``
    see it. Report the outcome with ``InterlockReportOperator`` or the callbacks in
    :mod:`integrations.airflow.operators`. ``wait_for="succeeded"`` waits for another
    pipeline's run to succeed; a run that ends in failure fails the sensor at once, with
    Interlock's message.

    The period defaults to (1) the period of the Interlock asset event that triggered this DAG
    run, else (2) the DAG run's data interval start, as the local date in the pipeline's time
    zone (daily pipelines) or the UTC hour (hourly ones). No period and no data interval is an
    error, never a skip.

    Every poke logs which rules fail and why in one block; the evaluation (per-rule results,
    the run) is the task's XCom.

    Poke, reschedule and deferrable mode behave the same for ``timeout``, ``soft_fail`` and
    ``exponential_backoff``: ``soft_fail`` turns a timeout into a skip, nothing else. A store
    that cannot be reached fails the task (with its retries); an unknown pipeline, a bad period,
    a claim held by another DAG run or a failed upstream run fail it without retries. A period
    the pipeline's calendar excludes skips the task in every mode.

    Args:
        pipeline_id: the Interlock pipeline (templated).
        period: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (templated); see above for the default.
        wait_for: ``ready`` or ``succeeded``.
        interlock_conn_id: the Airflow connection of the store (type ``interlock``).
        deferrable: wait in the triggerer instead of a worker slot (default: the
            ``[operators] default_deferrable`` setting).
        **kwargs: ``BaseSensorOperator`` arguments (``poke_interval``, ``timeout``, ``mode``,
            ``soft_fail``, ``exponential_backoff``, ``max_wait``, …).
    """

    template_fields = ("pipeline_id", "period")
    ui_color = "#f3e4c7"

    def __init__(
        self,
        *,
        pipeline_id: str,
        period: str | None = None,
        wait_for: str = "ready",
        interlock_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for not in WAIT_FOR:
            raise ValueError(f"wait_for must be 'ready' or 'succeeded', not {wait_for!r}")
        self.pipeline_id = pipeline_id
        self.period = period
        self.wait_for = wait_for
        self.interlock_conn_id = interlock_conn_id
        self.deferrable = deferrable
        self._resolved_period: str | None = None

    # ------------------------------------------------------------------ one look

    def _check(self, context: "Context") -> "GateCheck":
        from integrations.airflow import context as airflow_context
        from integrations.airflow.gate import check_gate, resolve_period

        engine = InterlockHook(self.interlock_conn_id).get_conn()
        period = resolve_period(
            engine,
            self.pipeline_id,
            explicit=self.period,
            hinted=airflow_context.triggering_period(context, self.pipeline_id),
            interval_start=airflow_context.interval_start(context),
        )
        owner = airflow_context.owner_of(context)
        check = check_gate(engine, self.pipeline_id, period, self.wait_for, owner)
        self.log.info("%s", check.report)
        # The trigger (deferrable mode) keeps poking this exact period.
        self._resolved_period = check.payload["period"]
        return check

    def poke(self, context: "Context") -> PokeReturnValue:
        """One look at the gate (claiming the run when it passes, for ``ready``).

        Raises:
            AirflowSkipException: the calendar excludes the period.
            InterlockFatalError: see the class docstring; turned into a failure without
                retries by ``execute``.
            InterlockUnavailableError: the store failed.
        """
        check = self._check(context)
        if check.status == "excluded":
            raise AirflowSkipException(check.message)
        return PokeReturnValue(check.status == "done", check.payload)

    # ------------------------------------------------------------------ modes

    def execute(self, context: "Context") -> Any:
        """Poke or reschedule (Airflow's loop), or poke once and defer."""
        try:
            if self.deferrable:
                return self._execute_deferrable(context)
            return super().execute(context)
        except InterlockFatalError as exc:
            # Raised outside BaseSensorOperator's soft_fail handling: fails, never skips.
            raise AirflowFailException(str(exc)) from exc

    def _execute_deferrable(self, context: "Context") -> Any:
        from integrations.airflow.context import owner_of
        from integrations.airflow.triggers import InterlockTrigger

        started_at = time.time()
        result = self.poke(context)
        if result.is_done:
            self.log.info("Success criteria met. Exiting.")
            return result.xcom_value
        elapsed = time.time() - started_at
        if elapsed > self.timeout:
            self._timed_out(
                f"Sensor has timed out; run duration of {elapsed} seconds exceeds the "
                f"specified timeout of {self.timeout}."
            )
        trigger = InterlockTrigger(
            pipeline_id=self.pipeline_id,
            period=self._resolved_period or "",
            wait_for=self.wait_for,
            owner=owner_of(context),
            interlock_conn_id=self.interlock_conn_id,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            started_at=started_at,
            exponential_backoff=self.exponential_backoff,
            max_wait=self.max_wait.total_seconds() if self.max_wait else None,
            poke_count=1,
            jitter_seed=f"{self.dag_id}#{self.task_id}#{started_at}",
        )
        remaining = max(0.0, self.timeout - elapsed)
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + self.poke_interval + _DEFERRAL_GRACE),
        )

    def _timed_out(self, message: str) -> None:
        # The same exceptions BaseSensorOperator.execute raises when poke mode times out.
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)

    def execute_complete(self, context: "Context", event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger's single event.

        Runs inside ``BaseSensorOperator.resume_execution``, which applies ``soft_fail`` to the
        ``AirflowSensorTimeout`` raised here; Interlock errors pass through it untouched and
        :meth:`resume_execution` fails the task with them.
        """
        event = event or {}
        status = event.get("status")
        if event.get("report"):
            self.log.info("%s", event["report"])
        if status == "done":
            self.log.info("Success criteria met. Exiting.")
            return event.get("payload")
        if status == "excluded":
            raise AirflowSkipException(str(event.get("report", "excluded")).splitlines()[0])
        if status == "timeout":
            raise AirflowSensorTimeout(event.get("message", "Sensor has timed out"))
        message = str(event.get("message") or f"unexpected trigger event {event!r}")
        if status == "error" and event.get("kind") == "unavailable":
            raise InterlockUnavailableError(message)
        raise InterlockFatalError(message)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: "Context"
    ) -> Any:
        """Airflow's resumption (with its soft_fail handling), then Interlock's fatal errors
        as failures without retries."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except InterlockFatalError as exc:
            raise AirflowFailException(str(exc)) from exc
