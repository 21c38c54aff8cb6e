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
        world.connect_streams()
        world.apply({"orders": ORDERS})
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


def test_six_writers_racing_on_one_trigger_start_one_execution_and_one_job(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with aws_world(monkeypatch, tmp_path) as world:
        world.apply({"orders": ORDERS})
        world.connect_streams()
        now = world.engine.clock.now()
        world.store.put_sensor("orders", f"row-count#{PERIOD}", {"count": 5000}, now)
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                start.wait()
                world.store.put_sensor(
                    "orders", "upstream-complete", {"status": "ready", "date": PERIOD, "n": n}, now
                )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        executions = world.wait_for_executions(1)
        assert [e["status"] for e in executions] == ["SUCCEEDED"], world.handler_errors
        assert len(world.job_calls) == 1
        run = world.engine.run("orders", PERIOD)
        assert run is not None and (run.status.value, run.attempt) == ("SUCCEEDED", 1)
        triggered = world.engine.events("orders", types=[EventType.JOB_TRIGGERED])
        assert len(triggered) == 1


def test_a_go_era_raw_sensor_item_opens_and_runs_a_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with aws_world(monkeypatch, tmp_path) as world:
        world.apply({"orders": ORDERS})
        world.connect_streams()
        for key, data in (
            (f"row-count#{PERIOD}", {"count": {"N": "2500"}}),
            ("upstream-complete", {"status": {"S": "ready"}, "date": {"S": PERIOD}}),
        ):
            # What a Go-era producer writes: PK, SK and a data map; no version, no time.
            world.dynamodb.put_item(
                TableName=CONTROL,
                Item={
                    "PK": {"S": "PIPELINE#orders"},
                    "SK": {"S": f"SENSOR#{key}"},
                    "data": {"M": data},
                },
            )
        executions = world.wait_for_executions(1)
        assert [e["status"] for e in executions] == ["SUCCEEDED"], world.handler_errors
        run = world.engine.run("orders", PERIOD)
        assert run is not None and run.status.value == "SUCCEEDED"
        sensors = world.store.get_sensors("orders")
        assert sensors["upstream-complete"].data == {"status": "ready", "date": PERIOD}
        assert all(sensor.version > 0 for sensor in sensors.values())
        assert len(world.job_calls) == 1


def test_a_poison_record_leaves_the_rest_of_its_batch_processed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from aws_runtime.handlers import stream_router

    with aws_world(monkeypatch, tmp_path) as world:
        world.apply({"orders": ORDERS})
        now = world.engine.clock.now()
        world.store.put_sensor("orders", f"row-count#{PERIOD}", {"count": 5000}, now)
        # No stream mapping: the records are built from the stream itself, then one is spoiled.
        world.store.put_sensor(
            "orders", "upstream-complete", {"status": "ready", "date": PERIOD}, now
        )
        records = stream_records(world)
        poison = {
            "eventName": "MODIFY",
            "dynamodb": {
                "SequenceNumber": "poison-1",
                "NewImage": {
                    "PK": {"S": "PIPELINE#orders"},
                    "SK": {"S": "SENSOR#x"},
                    "doc": {"S": "{"},
                    "version": {"N": "99"},
                },
            },
        }
        removal = {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "gone-1", "OldImage": {}}}
        world.connect_streams()  # from here on, the run the batch opens starts its execution
        batch = {"Records": [poison, removal, *records]}
        result = stream_router.handler(batch)
        assert result == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
        # The trigger record after the poison opened the run and started its execution.
        executions = world.wait_for_executions(1)
        assert [e["status"] for e in executions] == ["SUCCEEDED"]
        run = world.engine.run("orders", PERIOD)
        assert run is not None and run.status.value == "SUCCEEDED"


def stream_records(world: Any) -> list[dict[str, Any]]:
    """Every record on the control table's stream so far, as Lambda would receive them."""
    streams = __import__("boto3").client("dynamodbstreams", region_name="eu-west-1")
    arn = world.dynamodb.describe_table(TableName=CONTROL)["Table"]["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return records
