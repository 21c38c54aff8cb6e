"""InterlockTrigger.run() and InterlockEventTrigger.run() with asyncio, against a real store."""

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from integrations.airflow.backoff import next_poke_interval
from integrations.airflow.engines import engine_for
from integrations.airflow.errors import InterlockUnavailableError
from integrations.airflow.sensors import InterlockSensor
from integrations.airflow.triggers import InterlockEventTrigger, InterlockTrigger
from interlock_core.clock import ManualClock
from tests.airflow_tests.helpers import owner, task_context

PERIOD = "2026-03-04"


def trigger(**kwargs) -> InterlockTrigger:
    arguments = {
        "pipeline_id": "inventory",
        "period": PERIOD,
        "wait_for": "ready",
        "owner": owner(),
        "poke_interval": 0.02,
        "timeout": 10.0,
        "started_at": time.time(),
    }
    arguments.update(kwargs)
    return InterlockTrigger(**arguments)


def first_event(trigger: InterlockTrigger, within: float = 10.0):
    async def main():
        return await asyncio.wait_for(anext(trigger.run()), within)

    return asyncio.run(main())


class CountingEvaluate:
    """Counts the engine's evaluations (optionally slowing them down) and signals after n."""

    def __init__(self, engine, signal_after: int = 1, delay: float = 0.0) -> None:
        self.original = engine.evaluate
        self.calls = 0
        self.delay = delay
        self.signal_after = signal_after
        self.reached = threading.Event()
        engine.evaluate = self

    def __call__(self, *args, **kwargs):
        if self.delay:
            time.sleep(self.delay)
        result = self.original(*args, **kwargs)
        self.calls += 1
        if self.calls >= self.signal_after:
            self.reached.set()
        return result


def test_run_waits_then_claims_when_sensors_arrive_from_another_thread(interlock) -> None:
    spy = CountingEvaluate(engine_for(interlock.url), signal_after=2)

    def producer() -> None:
        assert spy.reached.wait(10)
        interlock.make_ready(PERIOD)

    thread = threading.Thread(target=producer)
    thread.start()
    event = first_event(trigger())
    thread.join()

    assert event.payload["status"] == "done"
    assert event.payload["payload"]["run"]["status"] == "CLAIMED"
    assert "READY (claimed)" in event.payload["report"]
    run = interlock.engine().run("inventory", PERIOD)
    assert run.status == "CLAIMED" and run.owner == owner()


def test_run_ends_itself_at_the_deadline(interlock) -> None:
    started = time.time()
    event = first_event(trigger(timeout=0.15, started_at=started))
    assert event.payload["status"] == "timeout"
    assert "exceeds the specified timeout of 0.15" in event.payload["message"]
    assert event.payload["payload"]["ready"] is False
    assert 0.15 < time.time() - started < 3
    assert interlock.engine().run("inventory", PERIOD) is None  # nothing opened or claimed


def test_a_deadline_already_past_still_pokes_once_like_poke_mode(interlock) -> None:
    interlock.make_ready(PERIOD)
    event = first_event(trigger(timeout=1.0, started_at=time.time() - 60))
    assert event.payload["status"] == "done"


def test_run_reports_an_unreachable_store_as_an_error_event(tmp_path, monkeypatch) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{garbage}")
    event = first_event(trigger())
    assert event.payload["status"] == "error" and event.payload["kind"] == "unavailable"


def test_run_reports_setup_errors_as_fatal_error_events(interlock) -> None:
    event = first_event(trigger(pipeline_id="nope"))
    assert event.payload == {
        "status": "error",
        "kind": "fatal",
        "message": "unknown Interlock pipeline 'nope' (apply its config)",
    }


def test_run_never_blocks_the_event_loop(interlock) -> None:
    # Each evaluation takes 0.6 s; the loop must keep ticking every few milliseconds meanwhile
    # (a blocking call would stall it for the whole 0.6 s; 0.4 s leaves room for a busy CPU).
    spy = CountingEvaluate(engine_for(interlock.url), delay=0.6)
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def main():
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        event = await anext(trigger(timeout=0.5).run())
        stop.set()
        await ticking
        return event

    event = asyncio.run(main())
    assert event.payload["status"] == "timeout"
    assert spy.calls >= 1
    assert max(gaps) < 0.4, f"event loop stalled for {max(gaps):.3f}s"


def test_serialize_round_trip_through_airflow_serde() -> None:
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    original = trigger(exponential_backoff=True, max_wait=30.0, poke_count=3, jitter_seed="s")
    classpath, kwargs = original.serialize()
    assert classpath == "integrations.airflow.triggers.InterlockTrigger"
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.deadline == original.deadline

    watcher = InterlockEventTrigger(pipeline_id="inventory", wait_for="succeeded", poke_interval=5)
    classpath, kwargs = watcher.serialize()
    assert classpath == "integrations.airflow.triggers.InterlockEventTrigger"
    assert import_string(classpath)(**deserialize(serialize(kwargs))).serialize() == (
        classpath,
        kwargs,
    )


@pytest.mark.parametrize("poke_interval", [0.5, 3, 60])
@pytest.mark.parametrize("max_wait", [None, 20])
def test_backoff_matches_the_sensor_in_poke_mode(poke_interval, max_wait) -> None:
    sensor = InterlockSensor(
        task_id="gate",
        pipeline_id="inventory",
        poke_interval=poke_interval,
        timeout=3600,
        exponential_backoff=True,
        max_wait=max_wait,
    )
    started_at = 1767225600.25
    for poke_count, elapsed in [(1, 0.1), (2, 1.5), (3, 4.0), (5, 30.0), (9, 900.0)]:
        expected = sensor._get_next_poke_interval(started_at, lambda e=elapsed: e, poke_count)
        ours = next_poke_interval(
            poke_interval=poke_interval,
            exponential_backoff=True,
            max_wait=max_wait,
            timeout=3600,
            elapsed=elapsed,
            poke_count=poke_count,
            jitter_seed=f"{sensor.dag_id}#gate#{started_at}",
        )
        assert ours == expected


# ----------------------------------------------------------------- resuming the sensor


def resume(event: dict, **kwargs):
    gate = InterlockSensor(task_id="gate", pipeline_id="inventory", deferrable=True, **kwargs)
    return gate.resume_execution("execute_complete", {"event": event}, task_context())


def test_resume_returns_the_evaluation_when_done() -> None:
    assert resume({"status": "done", "payload": {"ready": True}}) == {"ready": True}


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_resume_applies_soft_fail_to_a_timeout_only(soft_fail, expected) -> None:
    with pytest.raises(expected):
        resume({"status": "timeout", "message": "timed out"}, soft_fail=soft_fail)


def test_resume_never_skips_errors_with_soft_fail() -> None:
    with pytest.raises(AirflowFailException, match="unknown"):
        resume({"status": "error", "kind": "fatal", "message": "unknown"}, soft_fail=True)
    with pytest.raises(InterlockUnavailableError, match="down"):
        resume({"status": "error", "kind": "unavailable", "message": "down"}, soft_fail=True)


# ----------------------------------------------------------------- the AssetWatcher trigger


class Watching:
    """Runs an event trigger in the background and collects its events."""

    def __init__(self, trigger: InterlockEventTrigger) -> None:
        self.events: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._collect(trigger))

    async def _collect(self, trigger: InterlockEventTrigger) -> None:
        async for event in trigger.run():
            await self.events.put(event)

    async def next(self, within: float):
        try:
            return await asyncio.wait_for(self.events.get(), within)
        except TimeoutError:
            return None

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# The current period in these tests is that of this instant, not of the day the tests run on:
# the inventory pipeline excludes 25 December, and a period boundary must not fall between
# the test's evaluation and the trigger's.
NOW = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)


def frozen_engine(interlock):  # -> interlock_core.engine.Interlock
    """The process-wide engine the triggers use on this store, its clock frozen at NOW."""
    engine = engine_for(interlock.url)
    engine.clock = ManualClock(NOW)
    return engine


def test_event_trigger_fires_once_per_period_when_the_gate_passes(interlock) -> None:
    engine = frozen_engine(interlock)
    period = engine.evaluate("inventory").period  # the current period: NOW's day

    async def main():
        watching = Watching(InterlockEventTrigger(pipeline_id="inventory", poke_interval=0.02))
        assert await watching.next(0.2) is None  # not ready: nothing
        await asyncio.to_thread(interlock.make_ready, period)
        first = await watching.next(5)
        again = await watching.next(0.2)
        await watching.stop()
        return first, again

    first, again = asyncio.run(main())
    assert first.payload == {
        "source": "interlock",
        "pipeline_id": "inventory",
        "period": period,
        "wait_for": "ready",
        "attempt": 1,
    }
    assert again is None


def test_event_trigger_stays_quiet_for_a_period_a_dag_run_claimed(interlock) -> None:
    engine = frozen_engine(interlock)
    period = engine.evaluate("inventory").period
    interlock.make_ready(period)
    engine.claim("inventory", period, "airflow:other/run")

    async def main():
        watching = Watching(InterlockEventTrigger(pipeline_id="inventory", poke_interval=0.02))
        quiet = await watching.next(0.2)
        await watching.stop()
        return quiet

    assert asyncio.run(main()) is None


def test_event_trigger_fires_when_the_run_succeeds(interlock) -> None:
    engine = frozen_engine(interlock)
    period = engine.evaluate("upstream").period

    def succeed() -> None:
        engine.emit("upstream", "ready", {"ok": True}, period)
        engine.claim("upstream", period, "dagster:run")
        engine.report("upstream", period, "success", owner="dagster:run")

    async def main():
        watching = Watching(
            InterlockEventTrigger(pipeline_id="upstream", wait_for="succeeded", poke_interval=0.02)
        )
        assert await watching.next(0.1) is None
        await asyncio.to_thread(succeed)
        fired = await watching.next(5)
        again = await watching.next(0.2)
        await watching.stop()
        return fired, again

    fired, again = asyncio.run(main())
    assert fired.payload["period"] == period and fired.payload["wait_for"] == "succeeded"
    assert again is None


def test_event_trigger_keeps_watching_through_store_errors(tmp_path, monkeypatch) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{garbage}")

    async def main():
        watching = Watching(InterlockEventTrigger(pipeline_id="inventory", poke_interval=0.02))
        quiet = await watching.next(0.2)
        alive = not watching.task.done()
        await watching.stop()
        return quiet, alive

    assert asyncio.run(main()) == (None, True)


def test_event_trigger_refuses_a_bad_wait_for() -> None:
    with pytest.raises(ValueError, match="wait_for"):
        InterlockEventTrigger(pipeline_id="inventory", wait_for="done")


def test_asset_watchers_accept_the_event_trigger() -> None:
    from airflow.sdk import Asset, AssetWatcher

    asset = Asset(
        "interlock-inventory",
        watchers=[AssetWatcher(name="w", trigger=InterlockEventTrigger(pipeline_id="inventory"))],
    )
    assert asset.watchers[0].trigger.pipeline_id == "inventory"


def test_a_poke_that_hangs_past_the_deadline_still_ends_the_trigger(interlock, monkeypatch) -> None:
    # A store call that never returns (a hung network filesystem, a PostgreSQL server that
    # stopped answering) must not keep the trigger — and its deferred task — alive forever.
    monkeypatch.setattr("integrations.airflow.triggers._POKE_GRACE", 0.1)
    release = threading.Event()
    engine = engine_for(interlock.url)
    original = engine.evaluate

    def hanging_evaluate(*args, **kwargs):
        release.wait(30)
        return original(*args, **kwargs)

    engine.evaluate = hanging_evaluate
    started = time.time()

    async def main():
        try:
            return await asyncio.wait_for(anext(trigger(timeout=0.2).run()), 10)
        finally:
            release.set()  # let the stuck worker thread go before asyncio.run joins it

    event = asyncio.run(main())
    # A store failure, not a timeout: soft_fail must not turn it into a skip.
    assert event.payload["status"] == "error" and event.payload["kind"] == "unavailable"
    assert "did not answer for inventory 2026-03-04" in event.payload["message"]
    assert time.time() - started < 5
    with pytest.raises(InterlockUnavailableError, match="did not answer"):
        InterlockSensor(task_id="gate", pipeline_id="inventory", soft_fail=True).execute_complete(
            task_context(), event.payload
        )
