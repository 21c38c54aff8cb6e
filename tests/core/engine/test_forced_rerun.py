"""An operator's ``rerun --force`` is on the record (DESIGN §5 reruns and the circuit breaker)."""

import datetime as dt

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

NOW = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
PERIOD = "2026-03-04"


def test_a_rerun_forced_past_the_circuit_breaker_records_it() -> None:
    engine = Interlock(open_store("memory://"), {}, ManualClock(NOW))
    apply_documents(engine, {"pipeline": {"id": "gold"}, "schedule": {"trigger": {
        "key": "go", "check": "exists"}}, "job": {"maxManualReruns": 2}})  # fmt: skip
    engine.emit("gold", "go", {})
    engine.claim("gold", PERIOD, "dagster:r1")
    engine.report("gold", PERIOD, "success", "dagster:r1")
    assert not engine.request_rerun("gold", PERIOD, "manual").accepted  # breaker
    assert engine.request_rerun("gold", PERIOD, "manual", force=True).accepted
    (accepted,) = engine.events(types=[EventType.RERUN_ACCEPTED])
    assert accepted.detail["forced"] is True
    # a late-data rerun Interlock requests itself is not an operator's --force
    engine.claim("gold", PERIOD, "dagster:r2")
    engine.report("gold", PERIOD, "success", "dagster:r2")
    engine.emit("gold", "go", {"again": True})
    late = engine.events(types=[EventType.RERUN_ACCEPTED])[-1]
    assert late.detail["reason"] == "late-data" and "forced" not in late.detail
