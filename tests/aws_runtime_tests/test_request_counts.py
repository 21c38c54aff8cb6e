"""DynamoDB requests per step of a run's life on the AWS runtime (botocore event hooks).

The gate reads the config (GetItem) and every sensor of the pipeline (one Query), whatever the
number of sensors; the Airflow ``DynamoDBValueSensor`` way costs one GetItem per sensor per
poke. ``REPORT`` prints the counts of a full lifecycle (pytest -s shows them).
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext
from interlock_core.steps import step_attempt
from interlock_core.storage.dynamodb import DynamoDBStore, create_tables
from tests.core.storage.contract import T0
from tests.core.storage.dynamodb_support import CONTROL, EVENTS, REGION, RequestCounter, set_aws_env
from tests.scenarios.harness import PipelineSetStub

PERIOD = "2026-03-01"


def pipeline(sensors: int) -> Pipeline:
    return Pipeline.model_validate(
        {
            "pipeline": {"id": "orders"},
            "schedule": {"trigger": {"key": "go", "check": "exists"}},
            "validation": {
                "trigger": "ALL",
                "rules": [{"key": f"s{n}", "check": "exists"} for n in range(sensors)],
            },
            "job": {"type": "lambda", "config": {"functionName": "f"}},
        }
    )


class SyncRunner:
    """A synchronous job that succeeds (like ``lambda``), so the lifecycle is complete."""

    job_type = "lambda"
    dedups_on_token = False

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        return JobHandle("job-1", {}, JobStatus(JobState.SUCCEEDED))

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Interlock, RequestCounter]]:
    set_aws_env(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, CONTROL, EVENTS)
        store = DynamoDBStore(CONTROL, EVENTS, client=client)
        yield Interlock(store, {"lambda": SyncRunner()}, ManualClock(T0)), RequestCounter(client)


@pytest.mark.parametrize("sensors", [1, 40])
def test_a_gate_costs_two_requests_whatever_the_sensor_count(
    world: tuple[Interlock, RequestCounter], sensors: int
) -> None:
    engine, counter = world
    engine.apply(PipelineSetStub({"orders": pipeline(sensors)}, {}))
    for n in range(sensors):
        engine.store.put_sensor("orders", f"s{n}#{PERIOD}", {"n": n}, T0)
    with counter.measure() as gate:
        active = engine.config("orders")
        assert active is not None
        assert len(engine.store.get_sensors("orders")) == sensors
    assert dict(gate) == {"GetItem": 1, "Query": 1}
    with counter.measure() as evaluate:
        readiness = engine.evaluate("orders", PERIOD)
    assert len(readiness.evaluation.results) == sensors + 1  # the trigger and every rule
    # The gate, plus the run record that `interlock evaluate` shows next to it.
    assert dict(evaluate) == {"GetItem": 2, "Query": 1}


def test_full_lifecycle_counts(world: tuple[Interlock, RequestCounter]) -> None:
    engine, counter = world
    report: dict[str, Counter[str]] = {}
    with counter.measure() as counts:
        engine.apply(PipelineSetStub({"orders": pipeline(3)}, {}))
    report["apply (1 pipeline)"] = counts
    for n in range(3):
        with counter.measure() as counts:
            engine.store.put_sensor("orders", f"s{n}#{PERIOD}", {"n": n}, T0)
        report[f"put_sensor s{n}"] = counts
    with counter.measure() as counts:
        engine.emit("orders", "go", {"date": PERIOD})
    report["emit trigger (write + open run)"] = counts
    with counter.measure() as counts:
        step = step_attempt(engine, "orders", PERIOD, 1)
    report["orchestrator evaluate -> submit -> SUCCEEDED"] = counts
    assert step.next == "complete"
    with counter.measure() as counts:
        assert step_attempt(engine, "orders", PERIOD, 1).next == "complete"
    report["orchestrator complete"] = counts
    total = sum((c for c in report.values()), Counter())
    print()
    for name, calls in [*report.items(), ("TOTAL", total)]:
        print(f"{name:<48} {sum(calls.values()):3}  {dict(sorted(calls.items()))}")
    run = engine.run("orders", PERIOD)
    assert run is not None and run.status.value == "SUCCEEDED"
    assert "Scan" not in total
