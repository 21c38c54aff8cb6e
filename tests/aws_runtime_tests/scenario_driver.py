"""The scenario files replayed on the AWS runtime, on simulated time.

Everything AWS would do is done by the real handlers, on the DynamoDB store (moto), with the
scenario's ManualClock:

* producers write sensors straight to the control table (``put_sensor``; nothing reacts in
  the writer's process), and the **control table's stream** is read after every write and fed
  to ``stream_router`` in batches, as Lambda's stream polling does;
* the executions the router starts run **the state machine definition itself**
  (``aws_runtime/statemachine.asl.json``) through :class:`AslReplay`, a small interpreter of
  the JSONPath subset it uses: Task → ``orchestrator``, Choice on the answer, Wait for the
  answer's seconds on the simulated clock, Succeed/Fail;
* every simulated minute: the ``watchdog`` handler (schedules every minute), then due
  executions wake up.

The AWS runtime deliberately differs from the local one in one way: no instant wake-up on
sensor writes (an execution waiting to re-evaluate sleeps its ``interval``). So an ``expect``
whose events have only partly happened yet is met within the pipelines' longest evaluation
interval: the driver lets simulated minutes pass (running everything, as above) until the
expected events are there. A scenario where that happens says so once, at the top level, and
may replace the expectation of a step whose events differ for that reason (by step number)::

    aws:
      differs: "the WAITING run sees the new sensor at its next 5m evaluation"
      expect: {20: [RUN_CLAIMED, CLAIM_REPORTED]}

A scenario that says so must need it (the driver checks both ways).
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from aws_runtime import context
from aws_runtime.handlers import orchestrator, stream_router, watchdog
from aws_runtime.handlers.watchdog import RESTART_GRACE
from interlock_core import periods
from tests.core.storage.dynamodb_support import CONTROL, REGION
from tests.scenarios.harness import ScenarioPlayer

ASL = Path(__file__).parents[2] / "aws_runtime" / "statemachine.asl.json"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:interlock-attempt"


class ExecutionAlreadyExists(Exception):
    """What boto3 raises for a second StartExecution with a used name."""

    response = {"Error": {"Code": "ExecutionAlreadyExists"}}


class ExecutionDoesNotExist(Exception):
    """What boto3 raises for DescribeExecution of an unknown execution."""

    response = {"Error": {"Code": "ExecutionDoesNotExist"}}


@dataclass
class Execution:
    """One execution of the state machine: where it is and when it wakes."""

    name: str
    data: dict[str, Any]
    state: str
    wake_at: dt.datetime
    status: str = "RUNNING"
    history: list[str] = field(default_factory=list)


class AslReplay:
    """Step Functions for the replay: StartExecution/DescribeExecution, and the interpreter."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.definition = json.loads(ASL.read_text())
        self.executions: dict[str, Execution] = {}

    # -- the boto3 client surface the handlers use ------------------------------------------
    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        if name in self.executions:
            raise ExecutionAlreadyExists(name)
        self.executions[name] = Execution(
            name, json.loads(input), self.definition["StartAt"], self.clock.now()
        )
        return {"executionArn": f"{stateMachineArn}:{name}"}

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        name = executionArn.rsplit(":", 1)[-1]
        if name not in self.executions:
            raise ExecutionDoesNotExist(name)
        return {"status": self.executions[name].status}

    def list_executions(self, stateMachineArn: str, statusFilter: str) -> dict[str, Any]:
        return {
            "executions": [
                {"name": name}
                for name, execution in self.executions.items()
                if execution.status == statusFilter
            ]
        }

    # -- the interpreter ----------------------------------------------------------------------
    def run_due(self) -> int:
        """Run every execution whose wake time has come until it waits or ends."""
        moved = 0
        for execution in list(self.executions.values()):
            if execution.status == "RUNNING" and execution.wake_at <= self.clock.now():
                self._run(execution)
                moved += 1
        return moved

    def _run(self, execution: Execution) -> None:
        states = self.definition["States"]
        for _ in range(100):
            state = states[execution.state]
            execution.history.append(execution.state)
            kind = state["Type"]
            if kind == "Task":
                payload = {
                    key.removesuffix(".$"): _path(execution.data, value)
                    if key.endswith(".$")
                    else value
                    for key, value in state["Parameters"].items()
                }
                result = orchestrator.handler(payload, None)
                _set(execution.data, state["ResultPath"], result)
                execution.state = state["Next"]
            elif kind == "Choice":
                execution.state = next(
                    (
                        choice["Next"]
                        for choice in state["Choices"]
                        if _path(execution.data, choice["Variable"]) == choice["StringEquals"]
                    ),
                    state["Default"],
                )
            elif kind == "Wait":
                seconds = int(_path(execution.data, state["SecondsPath"]))
                execution.state = state["Next"]
                if seconds > 0:
                    execution.wake_at = self.clock.now() + dt.timedelta(seconds=seconds)
                    return
            elif kind == "Succeed":
                execution.status = "SUCCEEDED"
                return
            elif kind == "Fail":
                execution.status = "FAILED"
                raise AssertionError(f"execution {execution.name} failed: {state['Error']}")
            else:
                raise AssertionError(f"the replay does not know state type {kind}")
        raise AssertionError(f"execution {execution.name} looped: {execution.history[-10:]}")


def _path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    data[path.removeprefix("$.")] = value


class AwsScenarioPlayer(ScenarioPlayer):
    """Plays a scenario through the AWS handlers (needs an active ``mock_aws`` and tables)."""

    def __init__(
        self, path: Path, store_url: str, *, skip_idle: bool = True, check_skips: bool = False
    ) -> None:
        super().__init__(path, store_url, skip_idle=skip_idle, check_skips=check_skips)
        self.sfn = AslReplay(self.clock)
        context.reset()
        context.set_engine(self.engine)
        context.set_client("stepfunctions", self.sfn)
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.stream_arn = dynamodb.describe_table(TableName=CONTROL)["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
            "Shards"
        ][0]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.stream_batches = 0

    def activity(self) -> int:
        """Store writes, executions started and states they stepped through."""
        executions = self.sfn.executions.values()
        return super().activity() + len(executions) + sum(len(e.history) for e in executions)

    def wake_instants(self) -> list[dt.datetime | None]:
        """When a waiting execution wakes up."""
        return [e.wake_at for e in self.sfn.executions.values() if e.status == "RUNNING"]

    def wake_graces(self) -> list[dt.timedelta]:
        """The watchdog restarts an execution once its run's step is this overdue."""
        return [RESTART_GRACE]

    def drain_stream(self) -> None:
        """Feed every new control-table stream record to the router, until none are left."""
        for _ in range(50):
            page = self.streams.get_records(ShardIterator=self.iterator, Limit=100)
            self.iterator = page["NextShardIterator"]
            records = page["Records"]
            if not records:
                return
            self.stream_batches += 1
            result = stream_router.handler({"Records": records}, None)
            assert result == {"batchItemFailures": []}, result
        raise AssertionError("the control-table stream never went quiet")

    def advance_all(self) -> None:
        self.drain_stream()
        for _ in range(20):
            if not self.sfn.run_due():
                return
            self.drain_stream()

    def control_loop(self) -> None:
        self.advance_all()
        watchdog.handler({}, None)
        self.advance_all()

    def play(self) -> None:
        self.waited_for_wake_up: list[str] = []
        self.step_number = 0
        aws = self.spec.get("aws") or {}
        self.overrides = {
            int(number): list(events) for number, events in (aws.get("expect") or {}).items()
        }
        super().play()
        declared = aws.get("differs")
        if self.waited_for_wake_up and not declared:
            raise AssertionError(
                f"{self.path.name}: on AWS, {self.waited_for_wake_up} came only at the next "
                "evaluation; say so once with aws: {differs: ...}"
            )
        if declared and not self.waited_for_wake_up:
            raise AssertionError(f"{self.path.name} declares aws.differs but replays unchanged")

    def _longest_interval(self) -> dt.timedelta:
        intervals = [
            active.pipeline.schedule.evaluation.interval
            for active in self.engine.active_configs()
            if active.pipeline.schedule.evaluation is not None
        ]
        return max([dt.timedelta(minutes=5), *intervals])

    def _step(self, step: dict[str, Any]) -> None:
        self.step_number += 1
        kind, arg = next(iter(step.items()))
        if kind == "expect":
            override = self.overrides.get(self.step_number)
            if override is not None:
                self.waited_for_wake_up.append(f"step {self.step_number} replaced")
            self._expect_within_interval(override if override is not None else list(arg))
            return
        if kind == "expect_includes":
            self._includes_within_interval(list(arg))
            return
        if kind == "emit":
            # A producer's write: the sensor lands in the table; the stream does the rest.
            key = arg["key"]
            if arg.get("period"):
                key = f"{key}#{periods.normalize_period(str(arg['period']))}"
            self.store.put_sensor(arg["pipeline"], key, dict(arg.get("data", {})), self.clock.now())
            if arg.get("controller", True):  # false: the next write lands before the pass
                self.control_loop()
            return
        super()._step(step)

    def _expect_within_interval(self, expected: list[str]) -> None:
        """``expect`` after ``emit``: at once, or within an evaluation interval (see above)."""
        got = self.new_events()
        deadline = self.clock.now() + self._longest_interval()
        while got != expected and expected[: len(got)] == got and self.clock.now() < deadline:
            self.clock.advance(dt.timedelta(minutes=1))
            self.control_loop()
            got += self.new_events()
        assert got == expected, f"expected events {expected}, got {got} (within an interval)"
        if self.clock.now() > deadline - self._longest_interval():
            self.waited_for_wake_up.append(",".join(expected))

    def _includes_within_interval(self, wanted: list[str]) -> None:
        """``expect_includes``: at once, or within an evaluation interval (as ``expect``)."""
        got = self.new_events()
        start = self.clock.now()
        deadline = start + self._longest_interval()
        while [t for t in wanted if t not in got] and self.clock.now() < deadline:
            self.clock.advance(dt.timedelta(minutes=1))
            self.control_loop()
            got += self.new_events()
        missing = [t for t in wanted if t not in got]
        assert not missing, f"events {missing} missing from {got} (within an interval)"
        if self.clock.now() > start:
            self.waited_for_wake_up.append(",".join(wanted))
