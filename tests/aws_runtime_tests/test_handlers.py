"""Each handler on its own: input checks, modes, failure reporting (moto, in-process)."""

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aws_runtime import context
from aws_runtime.handlers import (
    alert_dispatcher,
    event_sink,
    orchestrator,
    sla_monitor,
    stream_router,
    watchdog,
)
from interlock_core.clock import ManualClock
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.jobs.base import idempotency_token
from interlock_core.storage import open_store
from interlock_core.storage.dynamodb import create_tables
from tests.core.storage.contract import T0
from tests.core.storage.dynamodb_support import CONTROL, EVENTS, REGION, STORE_URL, set_aws_env
from tests.scenarios.harness import PipelineSetStub

JOBLESS: dict[str, Any] = {
    "pipeline": {"id": "marts"},
    "schedule": {
        "trigger": {"key": "go", "check": "exists"},
        "evaluation": {"window": "1h", "interval": "5m"},
    },
    "validation": {
        "trigger": "ALL",
        "rules": [{"key": "rows", "check": "gte", "field": "n", "value": 1}],
    },
    "sla": {"deadline": "09:00", "expectedDuration": "30m"},
}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Interlock]:
    set_aws_env(monkeypatch)
    monkeypatch.setenv("INTERLOCK_STORE", STORE_URL)
    monkeypatch.setenv("INTERLOCK_EVENT_BUS", "bus")
    # moto keeps mock_aws's config process-wide: an earlier end-to-end test in this worker
    # switched execution on, which would finish these tests' executions at once.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):  # type: ignore[arg-type]
        create_tables(boto3.client("dynamodb", region_name=REGION), CONTROL, EVENTS)
        engine = Interlock(open_store(STORE_URL), {}, ManualClock(T0))
        engine.apply(PipelineSetStub({"marts": Pipeline.model_validate(JOBLESS)}, {}))
        context.reset()
        context.set_engine(engine)
        try:
            yield engine
        finally:
            context.reset()
            alert_dispatcher.reset_secrets()


# -- orchestrator ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"mode": "dance"}, "unknown orchestrator mode"),
        ({"mode": "evaluate", "period": "2026-03-01", "attempt": 1}, "needs 'pipeline'"),
        (
            {"mode": "evaluate", "pipeline": "marts", "period": "2026-03-01", "attempt": "1"},
            "attempt",
        ),
        (
            {"mode": "evaluate", "pipeline": "marts", "period": "2026-03-01", "attempt": 0},
            "attempt",
        ),
    ],
)
def test_orchestrator_refuses_bad_input(
    engine: Interlock, event: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        orchestrator.handler(event)


def test_orchestrator_steps_an_attempt_and_a_stale_execution_exits(engine: Interlock) -> None:
    run = engine.open_run("marts", "2026-03-01")
    assert run is not None
    step = {
        "mode": "evaluate",
        "pipeline": "marts",
        "period": "2026-03-01",
        "attempt": 1,
        "token": "t",
    }
    answer = orchestrator.handler(step)
    # Not ready (no rows): evaluate again after the 5m interval.
    assert (answer["next"], answer["wait"], answer["status"]) == ("evaluate", 300, "WAITING")
    assert orchestrator.handler({**step, "attempt": 2})["next"] == "done"
    assert orchestrator.handler({**step, "period": "2026-02-01"})["next"] == "done"


def test_open_tick_is_idempotent_and_names_unknown_pipelines(engine: Interlock) -> None:
    assert orchestrator.handler({"mode": "open-tick", "pipeline": "nope"})["opened"] is False
    assert orchestrator.handler({"mode": "open-tick", "pipeline": "marts"})["opened"] is True


# -- stream router -----------------------------------------------------------------------------
def test_router_starts_one_execution_per_attempt(
    engine: Interlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="sm",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    monkeypatch.setenv("INTERLOCK_STATE_MACHINE_ARN", arn)
    run = engine.open_run("marts", "2026-03-01")
    assert run is not None
    item = engine.store.client.get_item(  # type: ignore[attr-defined]
        TableName=CONTROL, Key={"PK": {"S": "PIPELINE#marts"}, "SK": {"S": "RUN#2026-03-01"}}
    )["Item"]
    insert = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": item}}
    modify = {
        "eventName": "MODIFY",
        "dynamodb": {"SequenceNumber": "2", "NewImage": item, "OldImage": item},
    }
    assert stream_router.route(insert) == "started"
    # A repeated record: StartExecution with the same name and input is a no-op (AWS answers
    # with the running execution, or ExecutionAlreadyExists once it finished).
    assert stream_router.route(insert) in ("started", "ignored: already started")
    assert stream_router.route(modify) == "ignored: same attempt"
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert names == [idempotency_token("marts", "2026-03-01", 1)]


# -- watchdog ----------------------------------------------------------------------------------
def test_watchdog_restarts_an_overdue_attempt_whose_execution_is_gone(
    engine: Interlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="sm",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    monkeypatch.setenv("INTERLOCK_STATE_MACHINE_ARN", arn)
    run = engine.open_run("marts", "2026-03-01")
    assert run is not None
    assert watchdog.restart_dead_executions() == []  # due now, not overdue yet
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(minutes=3))
    result = watchdog.handler({})
    assert result["restarted"] == ["marts/2026-03-01#1"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
    token = idempotency_token("marts", "2026-03-01", 1)
    assert names == [f"{token}-v{run.version}"]
    # That execution is RUNNING (moto does not execute it here): no second restart.
    assert watchdog.restart_dead_executions() == []


# -- sla monitor -------------------------------------------------------------------------------
def test_sla_monitor_for_one_pipeline_or_all(engine: Interlock) -> None:
    assert isinstance(engine.clock, ManualClock)
    engine.clock.set(T0.replace(day=2, hour=8, minute=45))  # past the warning of 2026-03-01's SLA
    published = sla_monitor.handler({"pipeline": "marts", "period": "2026-03-01"})["published"]
    assert "SLA_WARNING" in published
    assert sla_monitor.handler({})["published"] == []  # deduplicated
    assert sla_monitor.handler({"pipeline": "unknown"}) == {"published": [], "failed": []}


# -- event sink --------------------------------------------------------------------------------
def test_event_sink_publishes_inserts_once_and_reports_bad_records(engine: Interlock) -> None:
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="bus")
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["interlock"]})
    )
    events.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "q", "Arn": queue_arn}])
    event = Event(EventType.SLA_BREACH, "marts", "2026-03-01", 1, T0, "late", {"x": 1})
    image = engine.store.event_item(event)  # type: ignore[attr-defined]
    records = [
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": image}},
        {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "2", "NewImage": image}},
        {
            "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": "3", "NewImage": {"json": {"S": "{"}}},
        },
    ]
    assert event_sink.handler({"Records": records}) == {
        "batchItemFailures": [{"itemIdentifier": "3"}]
    }
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert (body["source"], body["detail-type"], body["detail"]["id"]) == (
        "interlock",
        "SLA_BREACH",
        event.id,
    )


# -- alert dispatcher --------------------------------------------------------------------------
def test_slack_token_forms() -> None:
    assert alert_dispatcher.slack_token(" xoxb-1 ") == "xoxb-1"
    assert alert_dispatcher.slack_token('{"token": "xoxb-2"}') == "xoxb-2"
    assert alert_dispatcher.slack_token('{"SLACK_BOT_TOKEN": "xoxb-3"}') == "xoxb-3"
    with pytest.raises(ValueError, match="without a token"):
        alert_dispatcher.slack_token('{"other": 1}')


def test_alert_dispatcher_delivers_to_the_configured_channels(
    engine: Interlock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="slack", SecretString='{"token": "xoxb-secret"}')["ARN"]
    monkeypatch.setenv("INTERLOCK_SLACK_SECRET_ARN", arn)
    monkeypatch.setenv(
        "INTERLOCK_ALERTS",
        json.dumps(
            {
                "channels": {"log": {"type": "log"}},
                "routes": [{"events": ["*"], "channels": ["log"]}],
            }
        ),
    )
    event = Event(EventType.SLA_BREACH, "marts", "2026-03-01", 1, T0, "late")
    envelope = {"source": "interlock", "detail-type": "SLA_BREACH", "detail": event.to_dict()}
    records = [
        {"messageId": "m1", "body": json.dumps(envelope)},
        {"messageId": "m2", "body": "not json"},
    ]
    with caplog.at_level(logging.INFO):
        result = alert_dispatcher.handler({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert any("SLA_BREACH" in message for message in caplog.messages)
    assert not any("xoxb-secret" in message for message in caplog.messages)
    assert alert_dispatcher.alert_environment()["SLACK_BOT_TOKEN"] == "xoxb-secret"


def test_watchdog_never_restarts_beside_its_own_live_restart(
    engine: Interlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted execution moves the run's version; its next overdue step is no new death."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="sm",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    monkeypatch.setenv("INTERLOCK_STATE_MACHINE_ARN", arn)
    assert engine.open_run("marts", "2026-03-01") is not None
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(minutes=3))
    assert watchdog.restart_dead_executions() == ["marts/2026-03-01#1"]
    # The restarted (still RUNNING) execution evaluates: the run's version moves on; then its
    # next step is overdue (a slow Lambda retry): the live restart must not get a twin.
    step = {"mode": "evaluate", "pipeline": "marts", "period": "2026-03-01", "attempt": 1}
    orchestrator.handler({**step, "token": "t"})
    engine.clock.advance(timedelta(minutes=8))
    assert watchdog.restart_dead_executions() == []
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert len(running) == 1


def _fail(engine: Interlock, period: str) -> None:
    from interlock_core.runs import RunStatus

    run = engine.store.get_run("marts", period)
    assert run is not None
    now = engine.clock.now()
    failed = run.evolve(
        status=RunStatus.FAILED, next_action=None, due_at=None, finished_at=now, message="boom"
    )
    assert engine.store.update_run(failed, run.version) is not None


def test_router_reruns_once_for_a_redelivered_rerun_request(engine: Interlock) -> None:
    """Lambda re-delivers every record after a failed one: a request must not rerun twice."""
    budget = {**JOBLESS, "job": {"maxManualReruns": 3}}
    engine.apply(PipelineSetStub({"marts": Pipeline.model_validate(budget)}, {}))
    assert engine.open_run("marts", "2026-03-01") is not None
    _fail(engine, "2026-03-01")
    item = {
        "PK": {"S": "PIPELINE#marts"},
        "SK": {"S": "RERUN_REQUEST#daily#2026-03-01"},
        "reason": {"S": "fix"},
    }
    engine.store.client.put_item(TableName=CONTROL, Item=item)  # type: ignore[attr-defined]
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "7", "NewImage": item}}
    poison = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "6", "NewImage": {}}}
    batch = {"Records": [poison, record]}
    assert stream_router.handler(batch) == {"batchItemFailures": [{"itemIdentifier": "6"}]}
    run = engine.store.get_run("marts", "2026-03-01")
    assert run is not None and run.attempt == 2
    _fail(engine, "2026-03-01")  # the rerun failed too, before the batch came back
    assert stream_router.handler(batch) == {"batchItemFailures": [{"itemIdentifier": "6"}]}
    run = engine.store.get_run("marts", "2026-03-01")
    assert run is not None and run.attempt == 2
    assert stream_router.route(record) == "ignored: request already handled"


def test_an_emit_handled_in_process_is_not_handled_again_by_the_router(
    engine: Interlock,
) -> None:
    """``interlock emit --store dynamodb://`` reacts in-process; the stream then hands the same
    write to the router (again after a failed batch): late data reruns the period once."""
    from interlock_core.runs import RunStatus

    engine.emit("marts", "go", {})
    run = engine.store.get_run("marts", "2026-03-01")
    assert run is not None and run.attempt == 1
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(minutes=1))
    now = engine.clock.now()
    done = run.evolve(
        status=RunStatus.SUCCEEDED, next_action=None, due_at=None, finished_at=now, succeeded_at=now
    )
    assert engine.store.update_run(done, run.version) is not None
    engine.clock.advance(timedelta(minutes=1))
    engine.emit("marts", "go", {"again": True})  # late data: attempt 2, handled in-process
    run = engine.store.get_run("marts", "2026-03-01")
    assert run is not None and run.attempt == 2
    before = len(engine.store.query_events("marts"))
    item = engine.store.client.get_item(  # type: ignore[attr-defined]
        TableName=CONTROL, Key={"PK": {"S": "PIPELINE#marts"}, "SK": {"S": "SENSOR#go"}}
    )["Item"]
    record = {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "9", "NewImage": item}}
    for _ in range(2):  # the record, and its re-delivery
        assert stream_router.handler({"Records": [record]}) == {"batchItemFailures": []}
    run = engine.store.get_run("marts", "2026-03-01")
    assert run is not None and run.attempt == 2
    assert len(engine.store.query_events("marts")) == before


def test_router_stamps_a_raw_item_again_when_its_producer_updates_it_in_place(
    engine: Interlock,
) -> None:
    """A Go-era producer may UpdateItem its sensor: the version Interlock stamped stays, the
    data changes. That write must not be taken for a repeat of the stamped one."""
    client = engine.store.client  # type: ignore[attr-defined]
    key = {"PK": {"S": "PIPELINE#marts"}, "SK": {"S": "SENSOR#rows"}}

    def item() -> dict[str, Any]:
        return dict(client.get_item(TableName=CONTROL, Key=key, ConsistentRead=True)["Item"])

    def record(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        change = {"SequenceNumber": "1", "NewImage": new, "OldImage": old}
        return {"eventName": "MODIFY", "dynamodb": change}

    client.put_item(TableName=CONTROL, Item={**key, "data": {"M": {"n": {"N": "0"}}}})
    raw = item()
    assert stream_router.route({"eventName": "INSERT", "dynamodb": {"NewImage": raw}}) == "stamped"
    stamped = item()
    assert stream_router.route(record(raw, stamped)) == "sensor"
    assert stream_router.route(record(stamped, stamped)) == "ignored: same version"
    client.update_item(
        TableName=CONTROL,
        Key=key,
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"M": {"n": {"N": "5"}}}},
    )
    updated = item()
    assert updated["version"] == stamped["version"]
    assert stream_router.route(record(stamped, updated)) == "stamped"
    restamped = item()
    assert int(restamped["version"]["N"]) > int(stamped["version"]["N"])
    assert stream_router.route(record(updated, restamped)) == "sensor"
    assert engine.store.get_sensors("marts")["rows"].data == {"n": 5}


def test_router_refuses_an_invalid_rerun_request_once(engine: Interlock) -> None:
    """No retry makes an unknown pipeline valid: the request is refused, not fed back."""
    item = {"PK": {"S": "PIPELINE#nope"}, "SK": {"S": "RERUN_REQUEST#daily#2026-03-01"}}
    client = engine.store.client  # type: ignore[attr-defined]
    client.put_item(TableName=CONTROL, Item=item)
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "3", "NewImage": item}}
    assert stream_router.route(record).startswith("rerun refused: ")
    assert "Item" not in client.get_item(TableName=CONTROL, Key=item)
    assert stream_router.route(record) == "ignored: request already handled"


def test_alert_dispatcher_delivers_a_republished_event_once(
    engine: Interlock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream batch retried past a poison record publishes its later events again (and
    EventBridge and SQS deliver at least once): the same event alerts once."""
    alerts = {
        "channels": {"log": {"type": "log"}},
        "routes": [{"events": ["*"], "channels": ["log"]}],
    }
    monkeypatch.setenv("INTERLOCK_ALERTS", json.dumps(alerts))
    event = Event(EventType.SLA_BREACH, "marts", "2026-03-01", 1, T0, "late")
    envelope = {"source": "interlock", "detail-type": "SLA_BREACH", "detail": event.to_dict()}
    delivered = []
    for message_id in ("m1", "m2"):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            record = {"messageId": message_id, "body": json.dumps(envelope)}
            assert alert_dispatcher.handler({"Records": [record]}) == {"batchItemFailures": []}
        delivered.append(sum("SLA_BREACH" in message for message in caplog.messages))
    assert delivered[0] >= 1
    assert delivered[1] == 0
