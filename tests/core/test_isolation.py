"""One bad sensor (or any failure in one pipeline's work) never stops a controller pass."""

import contextlib
import datetime as dt
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.runtime import LocalRuntime
from interlock_core.sensors import MAX_SENSOR_DEPTH, SensorError
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents
from tests.core.engine.recording import RecordingRunner, submissions

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
PERIOD = "2026-03-04"


def pipeline(pipeline_id: str) -> dict[str, Any]:
    return {
        "pipeline": {"id": pipeline_id},
        "schedule": {
            "trigger": {"key": "upstream", "check": "equals", "field": "status", "value": "ok"}
        },
        "job": {"type": "command", "config": {"command": "true"}},
    }


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"status": "ok"}
    for _ in range(depth - 1):
        document = {"a": document}
    return document


@contextlib.contextmanager
def deep_recursion() -> Iterator[None]:
    """A producer with a deeper stack than the controller (another process, another limit)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def make_engine(store_url: str, ledger: Path) -> Interlock:
    engine = Interlock(
        open_store(store_url), {"command": RecordingRunner(ledger)}, ManualClock(NOW)
    )
    # "bad" sorts first, so its due run is advanced before "good"'s.
    apply_documents(engine, pipeline("bad"), pipeline("good"))
    engine.open_run("bad", PERIOD)
    engine.open_run("good", PERIOD)
    return engine


def write_raw(engine: Interlock, pipeline_id: str, data: dict[str, Any]) -> None:
    """A write straight into the store (a stream router's raw write, no validation)."""
    with deep_recursion():
        engine.store.put_sensor(pipeline_id, "upstream", data, NOW)


def test_emit_refuses_deep_documents_with_a_sensor_error(tmp_path: Path) -> None:
    engine = make_engine("memory://", tmp_path / "jobs")
    engine.emit("good", "extra", nested(MAX_SENSOR_DEPTH))  # exactly at the limit: fine
    with pytest.raises(SensorError, match="nested more than 64 levels"):
        engine.emit("good", "extra", nested(MAX_SENSOR_DEPTH + 1))
    with pytest.raises(SensorError, match="nested more than 64 levels"):
        engine.emit("good", "extra", nested(980))  # was a RecursionError
    deep_list: Any = "x"
    for _ in range(70):
        deep_list = [deep_list]
    with pytest.raises(SensorError, match="nested"):
        engine.emit("good", "extra", {"rows": deep_list})


def test_a_deep_sensor_in_one_pipeline_does_not_stop_the_others(tmp_path: Path) -> None:
    ledger = tmp_path / "jobs"
    engine = make_engine(f"sqlite:///{tmp_path / 'interlock.db'}", ledger)
    write_raw(engine, "bad", nested(980))
    write_raw(engine, "good", {"status": "ok"})
    runtime = LocalRuntime(engine)
    runtime.run_once(force_checks=True)
    assert submissions(ledger) == [engine.run("good", PERIOD).token]  # type: ignore[union-attr]
    errors = engine.events(types=[EventType.CONTROLLER_ERROR])
    assert {e.pipeline_id for e in errors} == {"bad"}
    [error] = [e for e in errors if e.detail["step"] == "advance"]
    assert error.period == PERIOD
    assert "RecursionError" in error.message
    # The failing run is pushed back, not retried (and re-alerted) on every tick.
    bad = engine.run("bad", PERIOD)
    assert bad is not None and bad.due_at is not None and bad.due_at > NOW
    runtime.run_once(force_checks=True)
    assert len(engine.events(types=[EventType.CONTROLLER_ERROR])) == len(errors)


def test_a_failing_watchdog_check_names_the_pipeline_and_the_error(tmp_path: Path) -> None:
    engine = make_engine("memory://", tmp_path / "jobs")
    write_raw(engine, "bad", nested(980))
    engine.watchdog()
    errors = engine.events(types=[EventType.CONTROLLER_ERROR])
    assert errors, "the trigger-recovery check reads the deep sensor and must fail visibly"
    assert {e.pipeline_id for e in errors} == {"bad"}
    assert all(e.detail["step"].startswith("watchdog check") for e in errors)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
DOCUMENTS = st.dictionaries(
    st.sampled_from(["status", "date", "hour", "count", "x"]) | st.text(max_size=8),
    JSON_VALUES,
    max_size=5,
)


class Deep:
    """A deep document with a short repr (hypothesis prints examples recursively)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"nested({self.depth})"


def exercise(engine: Interlock, document: Any, ledger: Path, pass_: Any) -> None:
    if isinstance(document, Deep):
        document = nested(document.depth)
    with contextlib.suppress(SensorError):  # refusing a document is fine; nothing else is
        engine.emit("bad", "upstream", document)
    write_raw(engine, "bad", document)
    write_raw(engine, "good", {"status": "ok"})
    pass_()
    good = engine.run("good", PERIOD)
    assert good is not None and good.token in submissions(ledger)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS | st.builds(Deep, st.integers(60, 3000)))
@example(Deep(2500))
@example({"status": {"deeper": [1, 2]}, "date": {"nested": [1, 2]}})
def test_no_sensor_document_makes_an_engine_pass_fail(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "jobs"
        engine = make_engine("memory://", ledger)

        def engine_pass() -> None:
            engine.advance_due()
            engine.watchdog()

        exercise(engine, document, ledger, engine_pass)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS | st.builds(Deep, st.integers(60, 3000)))
@example(Deep(2500))
def test_no_sensor_document_makes_a_runtime_pass_fail(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "jobs"
        engine = make_engine(f"sqlite:///{folder}/interlock.db", ledger)
        runtime = LocalRuntime(engine)
        try:
            exercise(engine, document, ledger, lambda: runtime.run_once(force_checks=True))
        finally:
            engine.store.close()


@pytest.mark.parametrize(
    "document",
    [{"status": "ok\ud800"}, {"k\udfff": 1}, {"rows": [{"name": "\udc80x"}]}],
)
def test_emit_refuses_lone_surrogates(tmp_path: Path, document: dict[str, Any]) -> None:
    engine = make_engine("memory://", tmp_path / "jobs")
    with pytest.raises(SensorError, match="not valid Unicode"):
        engine.emit("good", "upstream", document)
    assert engine.store.get_sensors("good") == {}


def test_failure_descriptions_carry_no_control_characters() -> None:
    from interlock_core.isolation import describe

    text = describe(ValueError("bad file ev\x1b[2Jil\u202e.yaml"))
    assert text == "ValueError: bad file ev\\x1b[2Jil\\u202e.yaml"
