"""Triggers: the deferred InterlockSensor's wait, and event-driven scheduling on readiness.

Both ask the engine the same question the sensor's ``poke`` asks
(:mod:`integrations.airflow.gate`), on a worker thread: the engine and its store are
synchronous, and a blocking call in the triggerer's event loop would stall every other trigger
it runs.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from integrations.airflow.backoff import next_poke_interval
from integrations.airflow.errors import InterlockFatalError
from integrations.airflow.hooks import DEFAULT_CONN_ID

# Event statuses the sensor's execute_complete understands.
TIMEOUT = "timeout"
ERROR = "error"
# How long past the deadline a single store call may run before the trigger stops waiting for
# it: a hung call (a dead network filesystem, a silent database server) must not keep the
# trigger, and its deferred task, alive forever.
_POKE_GRACE = 30.0


class InterlockTrigger(BaseTrigger):
    """Waits, in the triggerer, for what a deferred ``InterlockSensor`` waits for.

    It pokes exactly as the sensor would in poke mode — same intervals (including
    ``exponential_backoff`` and ``max_wait``), same timeout rule (a poke, then "has
    ``timeout`` passed since ``started_at``?") — and always ends with exactly one event:

    * ``done`` / ``excluded`` — with the evaluation as ``payload`` and the log ``report``;
    * ``timeout`` — the sensor's deadline passed (the sensor applies ``soft_fail``);
    * ``error`` — ``kind`` ``fatal`` (waiting cannot help) or ``unavailable`` (store
      failure); the sensor fails the task in either case, never skips it.

    A trigger that never ends would hold its task deferred forever (and hang ``dag.test()``,
    which runs triggers in line): the deadline travels with the trigger.

    Args:
        pipeline_id: the pipeline.
        period: the resolved period.
        wait_for: ``ready`` (claims the run for ``owner``) or ``succeeded``.
        owner: the claim owner, ``airflow:<dag id>/<run id>``.
        interlock_conn_id: the Airflow connection of the store.
        poke_interval: seconds between pokes.
        timeout: the sensor's timeout in seconds, counted from ``started_at``.
        started_at: when the sensor started (epoch seconds).
        exponential_backoff: back off like the sensor would.
        max_wait: the longest wait between pokes in seconds, or None.
        poke_count: pokes done before deferring.
        jitter_seed: the backoff's jitter seed (``<dag id>#<task id>#<started at>``).
    """

    def __init__(
        self,
        *,
        pipeline_id: str,
        period: str,
        wait_for: str,
        owner: str,
        interlock_conn_id: str = DEFAULT_CONN_ID,
        poke_interval: float = 60.0,
        timeout: float = 7 * 24 * 3600.0,
        started_at: float | None = None,
        exponential_backoff: bool = False,
        max_wait: float | None = None,
        poke_count: int = 1,
        jitter_seed: str = "",
    ) -> None:
        super().__init__()
        self.pipeline_id = pipeline_id
        self.period = period
        self.wait_for = wait_for
        self.owner = owner
        self.interlock_conn_id = interlock_conn_id
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)
        self.started_at = float(started_at if started_at is not None else time.time())
        self.exponential_backoff = bool(exponential_backoff)
        self.max_wait = float(max_wait) if max_wait else None
        self.poke_count = int(poke_count)
        self.jitter_seed = jitter_seed

    @property
    def deadline(self) -> float:
        """Epoch seconds after which the next unsuccessful poke ends the wait."""
        return self.started_at + self.timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments that rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pipeline_id": self.pipeline_id,
                "period": self.period,
                "wait_for": self.wait_for,
                "owner": self.owner,
                "interlock_conn_id": self.interlock_conn_id,
                "poke_interval": self.poke_interval,
                "timeout": self.timeout,
                "started_at": self.started_at,
                "exponential_backoff": self.exponential_backoff,
                "max_wait": self.max_wait,
                "poke_count": self.poke_count,
                "jitter_seed": self.jitter_seed,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poke until done, failed or past the deadline; yield exactly one event."""
        poke_count = self.poke_count
        while True:
            await asyncio.sleep(self._interval(poke_count))
            poke_count += 1
            result = await self._bounded_poke()
            if result is None:
                # An infrastructure failure, not a timeout: soft_fail must not skip it (in poke
                # mode the same hang ends in the task's execution_timeout, a failure).
                yield TriggerEvent(
                    {
                        "status": ERROR,
                        "kind": "unavailable",
                        "message": (
                            f"the Interlock store did not answer for {self.pipeline_id} "
                            f"{self.period} within {_POKE_GRACE:g} s of the sensor's deadline"
                        ),
                    }
                )
                return
            if result["status"] != "waiting":
                yield TriggerEvent(result)
                return
            self.log.info("%s", result["report"])
            elapsed = time.time() - self.started_at
            if elapsed > self.timeout:
                yield TriggerEvent(
                    {
                        "status": TIMEOUT,
                        "message": (
                            f"Sensor has timed out; run duration of {elapsed:.3f} seconds "
                            f"exceeds the specified timeout of {self.timeout}."
                        ),
                        "payload": result["payload"],
                        "report": result["report"],
                    }
                )
                return

    async def _bounded_poke(self) -> dict[str, Any] | None:
        """One poke on a worker thread, or None when it is still running ``_POKE_GRACE``
        seconds past the deadline (the thread is left to finish on its own)."""
        budget = max(0.0, self.deadline - time.time()) + _POKE_GRACE
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._poke), budget)
        except TimeoutError:
            return None

    def _interval(self, poke_count: int) -> float:
        return next_poke_interval(
            poke_interval=self.poke_interval,
            exponential_backoff=self.exponential_backoff,
            max_wait=self.max_wait,
            timeout=self.timeout,
            elapsed=time.time() - self.started_at,
            poke_count=poke_count,
            jitter_seed=self.jitter_seed,
        )

    def _poke(self) -> dict[str, Any]:
        """One look, on a worker thread; never raises (an exception would end the trigger
        as a TaskDeferralError, which ``soft_fail`` turns into a skip)."""
        from integrations.airflow.gate import check_gate
        from integrations.airflow.hooks import InterlockHook

        try:
            engine = InterlockHook(self.interlock_conn_id).get_conn()
            check = check_gate(engine, self.pipeline_id, self.period, self.wait_for, self.owner)
        except InterlockFatalError as exc:
            return {"status": ERROR, "kind": "fatal", "message": str(exc)}
        except Exception as exc:
            return {"status": ERROR, "kind": "unavailable", "message": str(exc)}
        return {"status": check.status, "payload": check.payload, "report": check.report}


class InterlockEventTrigger(BaseEventTrigger):
    """Fires an asset event when a pipeline becomes ready (or its run succeeds), so a DAG can
    be *scheduled* on Interlock instead of holding a worker slot with a sensor.

    Use it in an ``AssetWatcher``::

        ready = Asset(
            "interlock://warehouse-inventory",
            watchers=[AssetWatcher(name="inventory-ready",
                                   trigger=InterlockEventTrigger(pipeline_id="warehouse-inventory"))],
        )
        with DAG("inventory", schedule=[ready]): ...

    The event's payload (``extra["payload"]`` of the asset event) is ``{"source": "interlock",
    "pipeline_id", "period", "wait_for", "attempt"}``; an ``InterlockSensor`` in the triggered
    DAG run picks that period up by itself and claims it at once.

    Limits: it watches the pipeline's *current* period only (no catch-up of older periods),
    and fires at most one event per period and attempt. With ``ready`` the claim makes that
    durable: it fires only while the attempt is WAITING, so an attempt some DAG run claimed
    never fires again, even after a triggerer restart; a rerun (a new attempt) fires again.
    With ``succeeded`` the memory of fired attempts lives in the triggerer process, so a
    restart may fire once more for the current period's success.

    Args:
        pipeline_id: the pipeline to watch.
        wait_for: ``ready`` (a job-less pipeline's gate passes) or ``succeeded``.
        interlock_conn_id: the Airflow connection of the store.
        poke_interval: seconds between looks.
    """

    def __init__(
        self,
        *,
        pipeline_id: str,
        wait_for: str = "ready",
        interlock_conn_id: str = DEFAULT_CONN_ID,
        poke_interval: float = 60.0,
    ) -> None:
        super().__init__()
        if wait_for not in ("ready", "succeeded"):
            raise ValueError(f"wait_for must be 'ready' or 'succeeded', not {wait_for!r}")
        self.pipeline_id = pipeline_id
        self.wait_for = wait_for
        self.interlock_conn_id = interlock_conn_id
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments that rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pipeline_id": self.pipeline_id,
                "wait_for": self.wait_for,
                "interlock_conn_id": self.interlock_conn_id,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poke_interval``; yield one event per period that becomes ready."""
        fired: set[str] = set()
        last_problem = ""
        while True:
            result = await asyncio.to_thread(self._look)
            problem = result.get("problem", "")
            if problem and problem != last_problem:
                # Keep watching: a config may be applied, the store may come back.
                self.log.warning("Interlock watch of %s: %s", self.pipeline_id, problem)
            last_problem = problem
            payload = result.get("payload")
            if payload is not None:
                key = f"{payload['period']}#{payload['attempt']}"
                if key not in fired:
                    fired.add(key)
                    self.log.info("%s", result["report"])
                    yield TriggerEvent(payload)
            await asyncio.sleep(self.poke_interval)

    def _look(self) -> dict[str, Any]:
        from integrations.airflow.gate import DONE, watch_gate
        from integrations.airflow.hooks import InterlockHook

        try:
            engine = InterlockHook(self.interlock_conn_id).get_conn()
            check = watch_gate(engine, self.pipeline_id, self.wait_for)
        except Exception as exc:
            return {"problem": str(exc)}
        if check.status != DONE:
            return {}
        run = check.payload.get("run") or {}
        return {
            "payload": {
                "source": "interlock",
                "pipeline_id": self.pipeline_id,
                "period": check.payload["period"],
                "wait_for": self.wait_for,
                "attempt": run.get("attempt", 1),
            },
            "report": check.report,
        }
