"""readiness.evaluate_many: Interlock.evaluate's answers for many pipelines, configs read once."""

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock, InterlockError
from interlock_core.readiness import evaluate_many
from interlock_core.storage import MemoryStore
from tests.scenarios.harness import PipelineSetStub

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.UTC)
READS = ("get_config", "list_configs", "config_hashes", "get_sensors", "get_run")


def _pipeline(pipeline_id: str, period: str = "daily") -> Pipeline:
    return Pipeline.model_validate(
        {
            "pipeline": {"id": pipeline_id},
            "schedule": {"period": period, "trigger": {"key": "go", "check": "exists"}},
            "validation": {"rules": [{"key": "rows", "check": "gte", "field": "n", "value": 1}]},
        }
    )


@pytest.fixture
def engine() -> Interlock:
    engine = Interlock(MemoryStore(), {}, ManualClock(NOW))
    pipelines = {pid: _pipeline(pid) for pid in ("orders", "stock", "prices")}
    pipelines["clicks"] = _pipeline("clicks", "hourly")
    engine.apply(PipelineSetStub(pipelines, {}))
    engine.emit("orders", "go", {})
    engine.emit("orders", "rows", {"n": 5})
    engine.emit("stock", "rows", {"n": 0})
    engine.emit("clicks", "rows", {"n": 2}, "2026-03-04T09")
    return engine


def _counting(engine: Interlock) -> Counter[str]:
    calls: Counter[str] = Counter()
    for name in READS:
        method: Callable[..., Any] = getattr(engine.store, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(engine.store, name, counted)
    return calls


def test_the_same_answers_as_evaluate_one_by_one(engine: Interlock) -> None:
    wanted: list[tuple[str, str | None]] = [
        ("orders", None),
        ("stock", None),
        ("prices", "2026-03-03"),
        ("clicks", "2026-03-04T09"),
        ("orders", "2026-03-02"),
    ]
    batch = evaluate_many(engine, wanted)
    for (pipeline_id, period), answer in zip(wanted, batch, strict=True):
        assert answer == engine.evaluate(pipeline_id, period)
    # Undated sensors count for any period (orders on 2026-03-02 passes too).
    passed = [a.evaluation.passed for a in batch if not isinstance(a, Exception)]
    assert passed == [True, False, False, False, True]


def test_errors_are_the_ones_evaluate_raises_and_do_not_stop_the_rest(engine: Interlock) -> None:
    wanted: list[tuple[str, str | None]] = [
        ("order", None),
        ("clicks", "2026-03-04"),
        ("orders", "soon"),
        ("orders", None),
    ]
    batch = evaluate_many(engine, wanted)
    for (pipeline_id, period), answer in zip(wanted[:3], batch, strict=False):
        assert isinstance(answer, InterlockError)
        with pytest.raises(InterlockError) as raised:
            engine.evaluate(pipeline_id, period)
        assert str(answer) == str(raised.value)
    assert "did you mean orders?" in str(batch[0])
    assert batch[3] == engine.evaluate("orders")


def test_configs_are_read_once_for_the_whole_batch(engine: Interlock) -> None:
    calls = _counting(engine)
    for pipeline_id in ("orders", "stock", "prices"):
        engine.evaluate(pipeline_id)
    one_by_one = dict(calls)
    calls.clear()
    evaluate_many(engine, [("orders", None), ("stock", None), ("prices", None)])
    assert one_by_one == {"get_config": 3, "get_sensors": 3, "get_run": 3}
    # One listing of the current hashes; the documents were parsed already (once per hash).
    assert dict(calls) == {"config_hashes": 1, "get_sensors": 3, "get_run": 3}
