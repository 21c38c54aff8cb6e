"""End to end through moto's real Step Functions interpreter, handlers in-process."""

import threading
from pathlib import Path
from typing import Any

import pytest

from interlock_core.events import EventType
from tests.aws_runtime_tests.world import aws_world
from tests.core.storage.dynamodb_support import CONTROL

PERIOD = "2026-03-04"
ORDERS: dict[str, Any] = {
    "pipeline": {"id": "orders"},
    "schedule": {
        "trigger": {
            "key": "upstream-complete",
            "check": "equals",
            "field": "status",
            "value": "ready",
        },
        "evaluation": {"window": "1h", "interval": "5m"},
    },
    "validation": {
        "trigger": "ALL",
        "rules": [{"key": "row-count", "check": "gte", "field": "count", "value": 1000}],
    },
    "job": {"type": "lambda", "config": {"functionName": "user-job"}},
}


def test_sensor_write_runs_a_lambda_job_to_success(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with aws_world(monkeypatch, tmp_path) as world:
        world.apply({"orders": ORDERS})
        world.connect_streams()
        world.store.put_sensor(
            "orders", f"row-count#{PERIOD}", {"count": 1204}, world.engine.clock.now()
        )
        world.store.put_sensor(
            "orders",
            "upstream-complete",
            {"status": "ready", "date": PERIOD},
            world.engine.clock.now(),
        )
        executions = world.wait_for_executions(1)
        assert [e["status"] for e in executions] == ["SUCCEEDED"], world.handler_errors
        run = world.engine.run("orders", PERIOD)
        assert run is not None and run.status.value == "SUCCEEDED", run
        assert len(world.job_calls) == 1
        types = [
            e.type for e in world.engine.events("orders") if e.type != EventType.CONFIG_APPLIED
        ]
        assert types[:3] == [
            EventType.RUN_OPENED,
            EventType.VALIDATION_PASSED,
            EventType.JOB_TRIGGERED,
        ]
        assert EventType.JOB_COMPLETED in types
        assert world.handler_errors == []
        # Every event went once to the bus (the test rule sends everything to the queue).
        published = [m["detail"]["id"] for m in world.alert_messages_all()]
        assert sorted(published) == sorted(e.id for e in world.engine.events())
