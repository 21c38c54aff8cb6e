"""Each period keeps its own data (DESIGN §4), for writes through ``emit`` and raw writes that
a stream router hands to ``handle_sensor_write``."""

import datetime as dt
from typing import Any

from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.UTC)
HOURLY: dict[str, Any] = {
    "pipeline": {"id": "silver"},
    "schedule": {"trigger": {"key": "landed", "check": "exists"}, "period": "hourly"},
}


def _engine() -> Interlock:
    engine = Interlock(open_store("memory://"), {}, ManualClock(NOW))
    apply_documents(engine, HOURLY)
    return engine


def test_emit_keeps_a_period_copy_of_a_dated_write() -> None:
    engine = _engine()
    engine.emit("silver", "landed", {"date": "2026-03-04", "hour": "11", "n": 1})
    engine.emit("silver", "landed", {"date": "2026-03-04", "hour": "12", "n": 2})
    engine.emit("silver", "dims", {"date": "2026-03-04"})
    engine.emit("silver", "undated", {"n": 3})
    sensors = engine.store.get_sensors("silver")
    assert sensors["landed"].data["n"] == 2
    assert sensors["landed#2026-03-04T11"].data["n"] == 1
    assert sensors["landed#2026-03-04T12"].data["n"] == 2
    assert "dims#2026-03-04" in sensors
    assert not any(key.startswith("undated#") for key in sensors)
    assert engine.evaluate("silver", "2026-03-04T11").ready  # hour 11 was not stranded


def test_a_raw_write_handed_to_handle_sensor_write_is_kept_for_its_period() -> None:
    engine = _engine()
    raw = engine.store.put_sensor("silver", "landed", {"hour": "11"}, NOW)
    engine.handle_sensor_write("silver", raw)
    assert "landed#2026-03-04T11" in engine.store.get_sensors("silver")
    run = engine.run("silver", "2026-03-04T11")
    assert run is not None


def test_a_daily_pipeline_keeps_an_hour_naming_write_under_its_date() -> None:
    engine = _engine()
    apply_documents(engine, {"pipeline": {"id": "gold"}, "validation": {"rules": [
        {"key": "rows", "check": "gte", "field": "count", "value": 1}]}})  # fmt: skip
    engine.emit("gold", "rows", {"date": "2026-03-04", "hour": "10", "count": 5})
    engine.emit("gold", "rows", {"date": "2026-03-05", "hour": "01", "count": 0})
    sensors = engine.store.get_sensors("gold")
    assert sensors["rows#2026-03-04"].data["count"] == 5
    assert "rows#2026-03-04T10" not in sensors
    assert engine.evaluate("gold", "2026-03-04").ready  # the next day's write took nothing
