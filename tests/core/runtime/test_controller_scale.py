"""The controller pass at scale (issue #13): an idle pass reads O(1) from the store whatever
the number of pipelines, every due run advances in one pass (no per-pass cap), scheduled
openings follow config changes, and parsed configs are cached per hash without a cliff."""

import datetime as dt
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.config.stored import ConfigCache
from interlock_core.engine import Interlock
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.runs import RunStatus
from interlock_core.runtime import LocalRuntime
from interlock_core.storage import Store, open_store
from tests.scenarios.harness import PipelineSetStub

T0 = dt.datetime(2026, 3, 4, 7, 20, 30, tzinfo=dt.UTC)


class CountingStore:
    """Wraps a store and counts every method called on it."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.counting = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            if self.counting:
                self.calls[name] += 1
            return target(*args, **kwargs)

        return counted


class InstantRunner:
    job_type = "command"

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        return JobHandle(run_id=f"job-{token}", metadata={})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


def pipeline(index: int, **schedule: Any) -> Pipeline:
    kind = index % 3
    if schedule:
        sched = schedule
    elif kind == 0:
        sched = {"cron": f"{index % 60} * * * *", "timezone": "UTC"}
    elif kind == 1:
        sched = {"cron": f"{index % 60} {index % 24} * * *", "timezone": "Europe/Berlin"}
    else:
        sched = {
            "timezone": "UTC",
            "trigger": {"key": "up", "check": "equals", "field": "status", "value": "ok"},
        }
    return Pipeline.model_validate(
        {
            "pipeline": {"id": f"p{index:04d}"},
            "schedule": sched,
            "validation": {
                "trigger": "ALL",
                "rules": [{"key": "up", "check": "equals", "field": "status", "value": "ok"}],
            },
            "job": {"type": "command", "config": {"command": ["true"]}},
        }
    )


def build(tmp_path: Path, count: int) -> tuple[Interlock, CountingStore, ManualClock]:
    store = CountingStore(open_store(f"sqlite:///{tmp_path}/interlock.db"))
    clock = ManualClock(T0)
    runners: dict[str, Any] = {"command": InstantRunner()}
    engine = Interlock(store, runners, clock)  # type: ignore[arg-type]
    models = {p.id: p for p in (pipeline(i) for i in range(count))}
    engine.apply(PipelineSetStub(models, {}), remove_missing=False)
    return engine, store, clock


def settle(runtime: LocalRuntime, engine: Interlock) -> None:
    runtime.run_once(force_checks=True)
    runtime.run_once()


def test_an_idle_pass_makes_a_constant_number_of_store_calls(tmp_path: Path) -> None:
    calls: dict[int, Counter[str]] = {}
    for count in (20, 200):
        engine, store, clock = build(tmp_path / str(count), count)
        runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
        # Right after the start's watchdog pass: it indexed the next ticks, so even the
        # first ordinary pass checks no pipeline one by one.
        runtime.run_once(force_checks=True)
        clock.advance(dt.timedelta(seconds=1))
        store.counting = True
        runtime.run_once()
        calls[count] = store.calls
    # Same calls at 20 and 200 pipelines: nothing per pipeline.
    assert calls[200] == calls[20]
    assert sum(calls[200].values()) <= 8, calls[200]
    assert "list_configs" not in calls[200] and "get_config" not in calls[200]


def test_five_hundred_due_runs_all_advance_in_one_pass(tmp_path: Path) -> None:
    engine, store, clock = build(tmp_path, 500)
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    settle(runtime, engine)
    for pipeline_id in engine.pipeline_ids():
        store.put_sensor(pipeline_id, "up", {"status": "ok"}, clock.now())
        engine.open_run(pipeline_id)
    for run in store.list_runs(None, [RunStatus.WAITING], limit=10_000):
        store.update_run(run.evolve(due_at=clock.now()), run.version)
    assert len(store.due_runs(clock.now(), 10_000)) == 500
    report = runtime.run_once()
    assert report.advanced >= 500
    assert store.due_runs(clock.now(), 10) == []
    running = store.list_runs(None, [RunStatus.RUNNING], limit=10_000)
    assert len(running) == 500


def test_a_stop_request_ends_the_advancing_promptly(tmp_path: Path) -> None:
    engine, store, clock = build(tmp_path, 60)
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    settle(runtime, engine)
    for pipeline_id in engine.pipeline_ids():
        store.put_sensor(pipeline_id, "up", {"status": "ok"}, clock.now())
        engine.open_run(pipeline_id)
    for run in store.list_runs(None, [RunStatus.WAITING], limit=10_000):
        store.update_run(run.evolve(due_at=clock.now()), run.version)
    advanced = threading.Event()
    inner_advance = engine.advance

    def advance_then_stop(pipeline_id: str, period: str) -> Any:
        result = inner_advance(pipeline_id, period)
        advanced.set()
        runtime.request_stop()
        return result

    engine.advance = advance_then_stop  # type: ignore[method-assign]
    report = runtime.run_once()
    assert advanced.is_set()
    assert report.advanced == 1
    assert len(store.due_runs(clock.now(), 1000)) == 59


def test_a_run_due_again_at_once_waits_for_the_next_pass(tmp_path: Path) -> None:
    from interlock_core.advancing import advance_every_due

    engine, store, clock = build(tmp_path, 3)
    for pipeline_id in engine.pipeline_ids():
        engine.open_run(pipeline_id)
    for run in store.list_runs(None, [RunStatus.WAITING], limit=100):
        store.update_run(run.evolve(due_at=clock.now()), run.version)
    seen: Counter[str] = Counter()

    def always_due(pipeline_id: str, period: str) -> Any:
        seen[pipeline_id] += 1
        run = store.get_run(pipeline_id, period)
        assert run is not None
        return store.update_run(run.evolve(due_at=clock.now()), run.version)

    engine.advance = always_due  # type: ignore[method-assign]
    assert advance_every_due(engine, batch=1) == 3
    assert set(seen.values()) == {1}


def test_a_changed_cron_opens_on_its_new_tick_without_the_watchdog(tmp_path: Path) -> None:
    engine, store, clock = build(tmp_path, 3)
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    settle(runtime, engine)
    # p0002 was sensor-driven; now a cron ticks at 07:25, five minutes from now.
    changed = pipeline(2, cron="25 7 * * *", timezone="UTC")
    engine.apply(PipelineSetStub({changed.id: changed}, {}), remove_missing=False)
    runtime.run_once()
    assert store.get_run("p0002", "2026-03-04") is None
    clock.advance(dt.timedelta(minutes=4, seconds=29))
    runtime.run_once()
    assert store.get_run("p0002", "2026-03-04") is None
    clock.advance(dt.timedelta(seconds=2))
    runtime.run_once()  # the heap's top: the new tick passed; not a watchdog pass
    assert store.get_run("p0002", "2026-03-04") is not None


def test_a_removed_pipeline_is_not_opened_again(tmp_path: Path) -> None:
    engine, store, clock = build(tmp_path, 3)
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    settle(runtime, engine)
    store.remove_config("p0000", clock.now())
    runtime.run_once()
    clock.advance(dt.timedelta(hours=1))
    runtime.run_once()
    assert store.get_run("p0000", "2026-03-04T08") is None
    assert store.get_run("p0001", "2026-03-04T08") is None  # daily at 01:00 Berlin


def test_configs_are_parsed_once_per_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock_core.config import stored

    _, store, clock = build(tmp_path, 50)
    engine = Interlock(store, {}, clock)  # type: ignore[arg-type]  # nothing parsed yet
    parsed: Counter[str] = Counter()
    real = stored.parse_envelope

    def counting(document: dict[str, Any], config_hash: str) -> Any:
        parsed[config_hash] += 1
        return real(document, config_hash)

    monkeypatch.setattr(stored, "parse_envelope", counting)
    for _ in range(3):
        assert len(engine.active_configs()) == 50
    assert len(parsed) == 50 and set(parsed.values()) == {1}
    changed = pipeline(7, cron="5 5 * * *", timezone="UTC")
    engine.apply(PipelineSetStub({changed.id: changed}, {}), remove_missing=False)
    store.counting = True
    configs = {c.pipeline.id: c for c in engine.active_configs()}
    assert configs["p0007"].pipeline.schedule.cron == "5 5 * * *"  # the new version
    assert len(parsed) == 51
    assert store.calls["config_hashes"] == 1 and store.calls["get_config"] <= 1
    assert "list_configs" not in store.calls


def test_the_config_cache_evicts_least_recently_used_without_a_cliff() -> None:
    cache = ConfigCache(capacity=0)
    models = [pipeline(i) for i in range(cache.MINIMUM + 10)]
    from interlock_core.config.stored import envelope, envelope_hash

    documents = [envelope(model, {}) for model in models]
    hashes = [envelope_hash(doc) for doc in documents]
    first = cache.get(models[0].id, hashes[0], documents[0])
    for model, h, doc in zip(models[1:], hashes[1:], documents[1:], strict=True):
        cache.get(model.id, h, doc)
        assert cache.peek(models[0].id, hashes[0]) is first  # used: stays
    assert len(cache) == cache.MINIMUM
    assert cache.peek(models[1].id, hashes[1]) is None  # the least recently used went
    assert cache.peek(models[-1].id, hashes[-1]) is not None
    cache.reserve(1000)
    assert cache.capacity >= 2000


def test_a_cold_start_lists_configs_only_while_few_and_parses_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listing holds every decoded document at once: past _LIST_AT_MOST configs a cold start
    # reads them one by one instead (memory stays flat), with the same result.
    from interlock_core import engine as engine_module

    _, store, clock = build(tmp_path, 30)
    listed = Interlock(store, {}, clock)  # type: ignore[arg-type]
    store.counting = True
    by_listing = [(c.pipeline.id, c.hash, c.pipeline) for c in listed.active_configs()]
    assert store.calls["list_configs"] == 1 and store.calls["get_config"] == 0
    monkeypatch.setattr(engine_module, "_LIST_AT_MOST", 10)
    store.calls.clear()
    single = Interlock(store, {}, clock)  # type: ignore[arg-type]
    by_reads = [(c.pipeline.id, c.hash, c.pipeline) for c in single.active_configs()]
    assert "list_configs" not in store.calls and store.calls["get_config"] == 30
    assert by_reads == by_listing


def test_a_config_changed_during_the_first_watchdog_is_checked_next_pass(tmp_path: Path) -> None:
    # dryRun switched off while the first watchdog ran (after it read the configs): the next
    # pass must run the dry period for real, as every pass did before the tick index; the
    # index must not take the new config as one the watchdog checked.
    def dry(dry_run: bool) -> Pipeline:
        return Pipeline.model_validate(
            {
                "pipeline": {"id": "dry"},
                "schedule": {"cron": "21 7 * * *", "timezone": "UTC"},
                "job": {"type": "command", "config": {"command": ["true"]}},
                "dryRun": dry_run,
            }
        )

    store = open_store(f"sqlite:///{tmp_path}/interlock.db")
    clock = ManualClock(T0)
    engine = Interlock(store, {"command": InstantRunner()}, clock)
    engine.apply(PipelineSetStub({"dry": dry(True)}, {}), remove_missing=False)
    clock.advance(dt.timedelta(minutes=1))  # past the 07:21 tick
    engine.watchdog()  # opens its run (an earlier controller, say): a dry run passes
    engine.advance_due()
    run = store.get_run("dry", "2026-03-04")
    assert run is not None and run.dry_run and run.status == RunStatus.SUCCEEDED
    watchdog = engine.watchdog

    def watchdog_then_apply() -> Any:
        events = watchdog()
        engine.apply(PipelineSetStub({"dry": dry(False)}, {}), remove_missing=False)
        return events

    engine.watchdog = watchdog_then_apply  # type: ignore[method-assign]
    runtime = LocalRuntime(engine, None, sleep=lambda seconds: None)
    runtime.run_once(force_checks=True)
    engine.watchdog = watchdog  # type: ignore[method-assign]
    clock.advance(dt.timedelta(seconds=1))
    runtime.run_once()  # not a watchdog pass
    runtime.run_once()
    run = store.get_run("dry", "2026-03-04")
    assert run is not None and run.attempt == 2 and not run.dry_run, run  # a real attempt
