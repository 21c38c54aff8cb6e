"""``interlock aws deploy`` and ``apply`` against a moto server, then the CLI end to end.

Every AWS call goes through ``AWS_ENDPOINT_URL`` to a moto server on 127.0.0.1, from the
``interlock`` subprocesses and from the test alike. moto's CloudFormation does not create
Scheduler resources or alarms (toolchain notes): the test makes the schedule group the stack
would have made, and asserts nothing about alarms from the stack.
"""

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from interlock_core.cli import main
from interlock_core.engine import Interlock
from interlock_core.storage import open_store
from tests.aws_runtime_tests.deploy_support import REGION, Server, built_bundle, moto_server

STACK = "interlock-test"
BUCKET = "interlock-code"
DAILY = """\
pipeline:
  id: daily-sales
schedule:
  cron: "30 6 * * 1-5"
  timezone: Europe/Berlin
job:
  type: lambda
  config:
    functionName: user-job
"""
GATED = """\
pipeline:
  id: orders-gate
schedule:
  trigger:
    key: upstream
    check: equals
    field: status
    value: ready
validation:
  trigger: ALL
  rules:
    - key: upstream
      check: equals
      field: status
      value: ready
job:
  type: lambda
  config:
    functionName: user-job
"""
PERIOD = "2026-03-04"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as monkeypatch, moto_server(monkeypatch) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack deployed once for the module, with two pipelines."""
    pipelines = tmp_path_factory.mktemp("pipelines")
    (pipelines / "daily.yaml").write_text(DAILY)
    (pipelines / "gated.yaml").write_text(GATED)
    bundle = built_bundle()
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    job_arn = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="user-job",
        Runtime="python3.12",
        Role=_role(),
        Handler="job.handler",
        Code={"ZipFile": bundle.path.read_bytes()},
    )["FunctionArn"]
    # What CloudFormation creates on AWS and moto does not (the scheduler group).
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=STACK)
    started = time.monotonic()
    result = server.run(
        "aws",
        "deploy",
        "--stack-name",
        STACK,
        "--bucket",
        BUCKET,
        "--package",
        str(bundle.path),
        "--pipelines",
        str(pipelines),
        "--parameter",
        f"JobLambdaArns={job_arn}",
        "--region",
        REGION,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = _outputs()
    return {
        "result": result,
        "outputs": outputs,
        "pipelines": pipelines,
        "seconds": seconds,
        "package_seconds": bundle.seconds,
    }


def _role() -> str:
    iam = boto3.client("iam", region_name=REGION)
    return iam.create_role(
        RoleName="user-job-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]


def _outputs() -> dict[str, str]:
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}


def _schedule(name: str) -> dict[str, Any]:
    return boto3.client("scheduler", region_name=REGION).get_schedule(GroupName=STACK, Name=name)


def _stored_pipelines(store_url: str) -> set[str]:
    from interlock_core.storage import open_store

    store = open_store(store_url)
    try:
        return {config.pipeline_id for config in store.list_configs()}
    finally:
        store.close()


def test_deploy_creates_the_stack_functions_configs_and_schedules(deployed: dict[str, Any]) -> None:
    out = deployed["result"].stdout
    outputs = deployed["outputs"]
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert "creating stack" in out and "CREATE_COMPLETE" in out
    store_url = outputs["StoreUrl"]
    assert store_url.startswith("dynamodb://") and f"region={REGION}" in store_url
    assert f"StoreUrl: {store_url}" in out and "--store" in out
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    handlers = {f["Handler"] for f in functions if f["FunctionName"].startswith(STACK)}
    assert handlers == {
        f"aws_runtime.handlers.{name}.handler"
        for name in (
            "stream_router",
            "orchestrator",
            "sla_monitor",
            "watchdog",
            "event_sink",
            "alert_dispatcher",
        )
    }
    assert _stored_pipelines(store_url) == {"daily-sales", "orders-gate"}
    schedule = _schedule("cron-daily-sales")
    assert schedule["ScheduleExpression"] == "cron(30 6 ? * 2-6 *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["Target"]["Arn"] == outputs["OrchestratorFunctionArn"]
    assert schedule["Target"]["RoleArn"] == outputs["SchedulerRoleArn"]
    assert json.loads(schedule["Target"]["Input"]) == {
        "mode": "open-tick",
        "pipeline": "daily-sales",
    }
    assert "schedule cron-daily-sales: created" in out
    # The sensor-driven pipeline needs no schedule.
    with pytest.raises(Exception, match="ResourceNotFound"):
        _schedule("cron-orders-gate")


def test_the_cli_alone_runs_a_pipeline_on_the_deployed_stack(
    server: Server, deployed: dict[str, Any]
) -> None:
    store = deployed["outputs"]["StoreUrl"]
    with server.lock:
        server.calls.clear()
        server.requests.clear()
    emitted = server.run(
        "--store", store, "emit", "orders-gate", "upstream", "status=ready", "--period", PERIOD
    )
    assert emitted.returncode == 0, emitted.stderr
    # Poll the store in-process (cheap); the user-facing checks below go through the CLI.
    engine = Interlock(open_store(store))
    deadline = time.monotonic() + 30
    run = engine.run("orders-gate", PERIOD)
    while time.monotonic() < deadline and (run is None or run.status.value != "SUCCEEDED"):
        time.sleep(0.2)
        run = engine.run("orders-gate", PERIOD)
    engine.store.close()
    assert run is not None and run.status.value == "SUCCEEDED", (run, server.errors)
    assert len(server.calls.get("job", [])) == 1, server.calls.keys()
    table = server.run("--store", store, "status", "orders-gate", "--json")
    assert table.returncode == 0, table.stderr
    assert [r["status"] for r in json.loads(table.stdout)] == ["SUCCEEDED"]
    events = server.run("--store", store, "events", "--pipeline", "orders-gate", "--json")
    assert events.returncode == 0, events.stderr
    types = [e["type"] for e in _event_list(events.stdout)]
    for expected in ("RUN_OPENED", "VALIDATION_PASSED", "JOB_TRIGGERED", "JOB_COMPLETED"):
        assert expected in types
    assert types.count("JOB_TRIGGERED") == 1
    assert not server.errors, server.errors
    # As Lambda's stream polling does: every control-table record reaches the router once
    # (moto 5.2 re-sent buffered records on nested writes, and a re-handled write could
    # step the run a second time: the job then ran for attempts 1 and 2).
    delivered = _sequence_numbers(server.calls.get("stream_router", []))
    assert delivered and len(delivered) == len(set(delivered)), delivered
    _report_costs(server, deployed["outputs"]["StateMachineArn"])


def _report_costs(server: Server, state_machine_arn: str) -> None:
    """Print what one run cost in requests (docs/aws.md turns these into dollars)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
    transitions = sum(
        len(sfn.get_execution_history(executionArn=e["executionArn"])["events"]) for e in executions
    )
    with server.lock:
        requests = dict(server.requests)
        invocations = {name: len(calls) for name, calls in server.calls.items()}
    by_service: dict[str, int] = {}
    for key, count in requests.items():
        service = key.split(":")[0]
        by_service[service] = by_service.get(service, 0) + count
    report = {
        "lambda_invocations": invocations,
        "state_machine_history_events": transitions,
        "requests_by_service": by_service,
        "requests": requests,
    }
    print("ONE RUN:", json.dumps(report, sort_keys=True))


def _sequence_numbers(batches: list[Any]) -> list[str]:
    """The stream records' sequence numbers, in delivery order, from the router's batches."""
    return [
        record["dynamodb"]["SequenceNumber"]
        for batch in batches
        for record in (batch or {}).get("Records", [])
    ]


def _event_list(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_second_deploy_with_a_changed_pipeline_updates_in_place(
    server: Server, deployed: dict[str, Any], tmp_path: Path
) -> None:
    pipelines = tmp_path / "pipelines"
    shutil.copytree(deployed["pipelines"], pipelines)
    (pipelines / "daily.yaml").write_text(DAILY.replace("30 6 * * 1-5", "0 7 * * *"))
    stack_id = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)[
        "Stacks"
    ][0]["StackId"]
    result = server.run(
        "aws",
        "deploy",
        "--stack-name",
        STACK,
        "--bucket",
        BUCKET,
        "--package",
        str(built_bundle().path),
        "--pipelines",
        str(pipelines),
        "--region",
        REGION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already uploaded" in result.stdout  # same bundle, same content-addressed key
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)
    assert stack["Stacks"][0]["StackId"] == stack_id
    assert stack["Stacks"][0]["StackStatus"] in {"UPDATE_COMPLETE", "CREATE_COMPLETE"}
    # An upgrade keeps the settings it was not told to change.
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Stacks"][0]["Parameters"]}
    assert ":function:user-job" in parameters["JobLambdaArns"]
    assert "pipeline daily-sales: updated" in result.stdout
    assert "schedule cron-daily-sales: updated" in result.stdout
    assert _schedule("cron-daily-sales")["ScheduleExpression"] == "cron(0 7 * * ? *)"


def test_apply_finds_the_stack_by_its_store_and_writes_nothing_on_a_bad_file(
    server: Server, deployed: dict[str, Any], tmp_path: Path
) -> None:
    store = deployed["outputs"]["StoreUrl"]
    before = _schedule("cron-daily-sales")["ScheduleExpression"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "daily.yaml").write_text(DAILY.replace("30 6 * * 1-5", "0 5 * * *"))
    (broken / "gated.yaml").write_text(GATED.replace("check: equals", "check: sort-of", 1))
    result = server.run("--store", store, "aws", "apply", str(broken))
    assert result.returncode == 1
    assert "gated.yaml" in result.stderr and "nothing was applied" in result.stderr
    assert "Traceback" not in result.stderr
    assert _schedule("cron-daily-sales")["ScheduleExpression"] == before

    # Removing the cron pipeline deletes its schedule; the other pipeline stays.
    only_gated = tmp_path / "only-gated"
    only_gated.mkdir()
    (only_gated / "gated.yaml").write_text(GATED)
    result = server.run("--store", store, "aws", "apply", str(only_gated))
    assert result.returncode == 0, result.stderr
    assert "pipeline daily-sales: removed" in result.stdout
    assert "schedule cron-daily-sales: deleted" in result.stdout
    assert _stored_pipelines(store) == {"orders-gate"}
    with pytest.raises(Exception, match="ResourceNotFound"):
        _schedule("cron-daily-sales")


def test_a_failing_stack_says_why_without_a_traceback(
    server: Server, deployed: dict[str, Any]
) -> None:
    # The stack's bus name is taken: CloudFormation cannot create it.
    boto3.client("events", region_name=REGION).create_event_bus(Name="interlock-broken-events")
    result = server.run(
        "aws",
        "deploy",
        "--stack-name",
        "interlock-broken",
        "--bucket",
        BUCKET,
        "--package",
        str(built_bundle().path),
        "--region",
        REGION,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: stack interlock-broken failed")
    assert "interlock-broken-events already exists" in result.stderr
    assert "Traceback" not in result.stderr


def _cli(*args: str) -> Any:
    """``interlock ARGS`` in this process (the error paths need no subprocess)."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_deploy_refuses_unknown_parameters_before_touching_aws(server: Server) -> None:
    result = _cli(
        "aws", "deploy", "--stack-name", "x", "--bucket", BUCKET, "--parameter", "Colour=blue"
    )
    assert result.exit_code == 1
    assert "unknown --parameter 'Colour'" in result.output


def test_deploy_checks_the_pipelines_before_deploying_anything(
    server: Server, deployed: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "bad.yaml").write_text(GATED.replace("check: equals", "check: sort-of", 1))
    result = _cli(
        "aws",
        "deploy",
        "--stack-name",
        "interlock-never",
        "--bucket",
        BUCKET,
        "--package",
        str(built_bundle().path),
        "--pipelines",
        str(tmp_path),
    )
    assert result.exit_code == 1
    assert "bad.yaml" in result.output and "nothing was deployed" in result.output
    with pytest.raises(Exception, match="does not exist"):
        boto3.client("cloudformation", region_name=REGION).describe_stacks(
            StackName="interlock-never"
        )


def test_apply_needs_a_stack_or_a_dynamodb_store(server: Server, deployed: dict[str, Any]) -> None:
    result = _cli("--store", "sqlite:///x.db", "aws", "apply", str(deployed["pipelines"]))
    assert result.exit_code == 2
    assert "--stack-name" in result.output
    result = _cli("aws", "apply", str(deployed["pipelines"]), "--stack-name", "nope")
    assert result.exit_code == 1
    assert "stack nope does not exist" in result.output


def test_timings_are_within_budget(deployed: dict[str, Any]) -> None:
    print(f"package {deployed['package_seconds']:.1f} s, deploy {deployed['seconds']:.1f} s")
    assert deployed["seconds"] < 60
