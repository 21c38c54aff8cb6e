"""An AWS account in moto with the AWS runtime wired as a deployment wires it, handlers in-process.

Tables (streams, TTL), Lambda functions for the six handlers (and a user's job function),
the state machine from ``aws_runtime/statemachine.asl.json`` executed by moto's real ASL
interpreter, the two stream mappings, the event bus with an alert rule → SQS. moto cannot run
Lambda code without docker, so ``LambdaFunction._invoke_lambda`` (moto 5.2's private API; see
the toolchain notes) is patched to call the handler in this process.
"""

import importlib
import io
import json
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend
from moto.dynamodb.models.table import StreamRecord, StreamShard

from aws_runtime import context
from aws_runtime.handlers import alert_dispatcher
from interlock_core.config.models import Pipeline
from interlock_core.engine import Interlock
from interlock_core.storage.dynamodb import DynamoDBStore, create_tables
from tests.core.storage.dynamodb_support import (
    CONTROL,
    EVENTS,
    REGION,
    STORE_URL,
    atomic_requests,
    set_aws_env,
)
from tests.scenarios.harness import PipelineSetStub

ASL = Path(__file__).parents[2] / "aws_runtime" / "statemachine.asl.json"
HANDLERS = (
    "stream_router",
    "orchestrator",
    "sla_monitor",
    "watchdog",
    "event_sink",
    "alert_dispatcher",
)
BUS = "interlock-bus"


class World:
    """Handles on the moto account and counters of what ran."""

    def __init__(self, job: Callable[[Any], Any]) -> None:
        self.job = job
        self.job_calls: list[Any] = []
        self.handler_errors: list[str] = []
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.lambdas = boto3.client("lambda", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.state_machine_arn = ""
        self.alert_queue_url = ""
        self.function_arns: dict[str, str] = {}

    # ------------------------------------------------------------------ invocation
    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event or "{}")
        with self._lock:
            self.invocations[function_name] = self.invocations.get(function_name, 0) + 1
        try:
            if function_name == "user-job":
                with self._lock:
                    self.job_calls.append(event)
                result = self.job(event)
            else:
                module = importlib.import_module(f"aws_runtime.handlers.{function_name}")
                result = module.handler(event, None)
        except Exception as exc:
            with self._lock:
                self.handler_errors.append(f"{function_name}: {exc!r}")
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error), True, traceback.format_exc()
        return json.dumps(result), False, ""

    # ------------------------------------------------------------------ set-up
    def build(self) -> None:
        create_tables(self.dynamodb, CONTROL, EVENTS)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName="interlock-lambda",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
        for name in (*HANDLERS, "user-job"):
            created = self.lambdas.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=f"aws_runtime.handlers.{name}.handler",
                Code={"ZipFile": code.getvalue()},
            )
            self.function_arns[name] = created["FunctionArn"]
        definition = ASL.read_text().replace(
            "${OrchestratorFunctionArn}", self.function_arns["orchestrator"]
        )
        self.state_machine_arn = self.sfn.create_state_machine(
            name="interlock-attempt", definition=definition, roleArn=role
        )["stateMachineArn"]
        self.events.create_event_bus(Name=BUS)
        self.alert_queue_url = self.sqs.create_queue(QueueName="interlock-alerts")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.alert_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.put_rule(
            Name="interlock-all",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["interlock"]}),
        )
        self.events.put_targets(
            Rule="interlock-all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}]
        )

    def connect_streams(self) -> None:
        """Map the tables' streams to the router and the sink (moto delivers synchronously)."""
        for table, function in ((CONTROL, "stream_router"), (EVENTS, "event_sink")):
            stream = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            self.lambdas.create_event_source_mapping(
                EventSourceArn=stream,
                FunctionName=function,
                StartingPosition="LATEST",
                FunctionResponseTypes=["ReportBatchItemFailures"],
            )

    # ------------------------------------------------------------------ helpers
    @property
    def store(self) -> DynamoDBStore:
        store = context.engine().store
        assert isinstance(store, DynamoDBStore)
        return store

    @property
    def engine(self) -> Interlock:
        return context.engine()

    def apply(self, documents: dict[str, Any]) -> None:
        pipelines = {pid: Pipeline.model_validate(doc) for pid, doc in documents.items()}
        self.engine.apply(PipelineSetStub(pipelines, {}), remove_missing=False)

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def wait_for_executions(self, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``count`` executions exist and none is running; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executions = self.executions()
            if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
                return executions
            time.sleep(0.1)
        raise AssertionError(f"executions did not finish: {self.executions()}")

    def alert_messages_all(self) -> list[dict[str, Any]]:
        """Every message on the alert queue (received and deleted)."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def deliver_each_record_once(shard: StreamShard, old: Any, new: Any) -> None:
    """``StreamShard.add`` as Lambda's stream polling behaves: each record delivered once.

    moto 5.2 sends every record still buffered on each write and empties the buffer only when
    the outermost call returns, so a handler whose writes re-enter the router (nested, inside
    moto's PutItem) gets the records that are still being handled again, without end. Here a
    write delivers its own record only; the buffer stays readable through GetRecords.
    """
    view = shard.table.stream_specification["StreamViewType"]  # type: ignore[index]
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    record = StreamRecord(
        shard.table, view, name, old, new, len(shard.items) + shard.starting_sequence_number
    )
    shard.items.append(record)
    for arn, mapping in shard.table.lambda_event_source_mappings.items():
        backend = get_backend(shard.account_id, arn.split(":")[3])
        backend.send_dynamodb_items(arn, [record], mapping.event_source_arn)


@contextmanager
def aws_world(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, job: Callable[[Any], Any] | None = None
) -> Iterator[World]:
    """A fresh moto account with the AWS runtime deployed into it."""
    set_aws_env(monkeypatch)
    monkeypatch.setenv("INTERLOCK_STORE", STORE_URL)
    monkeypatch.setenv("INTERLOCK_EVENT_BUS", BUS)
    monkeypatch.setenv("INTERLOCK_STATE_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("INTERLOCK_MAX_WAIT_SECONDS", "1")
    context.reset()
    alert_dispatcher.reset_secrets()
    with (
        atomic_requests(monkeypatch),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),  # type: ignore[arg-type]
    ):
        world = World(job or (lambda event: {"ok": True}))

        def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return world.invoke(function.function_name, event)

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
        monkeypatch.setattr(StreamShard, "add", deliver_each_record_once)
        world.build()
        monkeypatch.setenv("INTERLOCK_STATE_MACHINE_ARN", world.state_machine_arn)
        try:
            yield world
        finally:
            context.reset()
