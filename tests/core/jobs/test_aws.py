"""The AWS job types: moto where it models the calls, botocore Stubbers where it does not.

moto: Glue (start, get, runs list, CloudWatch Logs for the false-success check), EMR (add and
describe steps), EMR Serverless (start, get, cancel), Step Functions (start, describe, stop).
Stubber: Glue BatchStopJobRun and EMR CancelSteps (not in moto), Lambda Invoke (moto needs
docker to run a function).
"""

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from interlock_core.config.jobs import (
    EmrJob,
    EmrServerlessJob,
    GlueJob,
    LambdaJob,
    StepFunctionJob,
)
from interlock_core.jobs import aws as aws_module
from interlock_core.jobs.aws import (
    EmrRunner,
    EmrServerlessRunner,
    GlueRunner,
    LambdaRunner,
    StepFunctionRunner,
    aws_may_have_started,
    classify_aws_error,
    default_client_factory,
    execution_arn,
    no_retry_client_factory,
    resolve_region,
)
from interlock_core.jobs.base import FailureCategory, JobError, JobHandle, JobState, RunContext
from tests.core.jobs.conftest import FakeServer, Recorded, Reply

RUN = RunContext("orders", "2026-03-04T07", 2)
DAILY = RunContext("orders", "2026-03-04", 1)
TOKEN = "c" * 40
ACCOUNT = "123456789012"


def no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    # moto keeps its config between mocks: a test that ran state machines for real (the AWS
    # runtime's) would let this module's executions finish before they can be stopped.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):  # type: ignore[arg-type]
        yield


def boto_factory(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region or "us-east-1")


def fresh(handle: JobHandle) -> JobHandle:
    """The handle as another process would read it back from storage."""
    return JobHandle(handle.run_id, json.loads(json.dumps(handle.metadata)), handle.result)


# --- Glue -----------------------------------------------------------------------------------


def make_glue_job(name: str = "etl") -> None:
    boto3.client("glue").create_job(
        Name=name,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://b/etl.py"},
        ExecutionProperty={"MaxConcurrentRuns": 5},
    )


@pytest.mark.usefixtures("aws")
def test_glue_run_with_period_arguments_and_states() -> None:
    make_glue_job()
    runner = GlueRunner(client_factory=boto_factory, sleep=no_sleep)
    handle = runner.submit(GlueJob(job_name="etl", arguments={"--x": "1"}), RUN, TOKEN)
    assert handle.metadata["glue_job_name"] == "etl"
    assert handle.metadata["glue_job_run_id"] == handle.run_id
    assert handle.run_id.startswith("jr_")
    job_run = boto3.client("glue").get_job_run(JobName="etl", RunId=handle.run_id)["JobRun"]
    assert job_run["Arguments"] == {
        "--x": "1",
        "--par_day": "20260304",
        "--par_hour": "07",
        "--interlock_token": TOKEN,
    }
    other = GlueRunner(client_factory=boto_factory)
    states = [other.status(fresh(handle)).state for _ in range(4)]
    assert states[-1] is JobState.SUCCEEDED
    assert JobState.FAILED not in states


@pytest.mark.usefixtures("aws")
def test_glue_daily_runs_get_no_par_hour_and_resubmit_adopts() -> None:
    make_glue_job()
    runner = GlueRunner(client_factory=boto_factory)
    first = runner.submit(GlueJob(job_name="etl"), DAILY, TOKEN)
    again = runner.submit(GlueJob(job_name="etl"), DAILY, TOKEN)
    assert again.run_id == first.run_id
    assert again.metadata["adopted"] is True
    runs = boto3.client("glue").get_job_runs(JobName="etl")["JobRuns"]
    assert len(runs) == 1
    assert "--par_hour" not in runs[0]["Arguments"]
    assert runner.submit(GlueJob(job_name="etl"), DAILY, "d" * 40).run_id != first.run_id


@pytest.mark.usefixtures("aws_env")
def test_glue_start_is_sent_once_even_after_a_read_timeout(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Glue accepts the StartJobRun (the run starts) but answers after the read timeout: the
    # default client must not send it again, and the failure may have started the job.
    starts: list[str] = []

    def glue(request: Recorded) -> Reply:
        target = request.headers.get("x-amz-target", "")
        if target.endswith("GetJobRuns"):
            return Reply(200, {"JobRuns": []})
        if target.endswith("StartJobRun"):
            starts.append(request.json()["Arguments"]["--interlock_token"])
            return Reply(200, {"JobRunId": f"jr_{len(starts)}"}, delay=2)
        return Reply(400, {"__type": "UnknownOperationException"})

    server.on("POST", "/", glue)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setattr(aws_module, "_READ_TIMEOUT", 0.3)
    runner = GlueRunner()  # the default factories, as the registry builds it
    with pytest.raises(JobError, match="StartJobRun") as caught:
        runner.submit(GlueJob(job_name="etl"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is True
    assert starts == [TOKEN]


@pytest.mark.usefixtures("aws_env")
def test_default_clients_retry_but_submit_clients_call_once() -> None:
    retrying = default_client_factory("glue", "us-east-1").meta.config.retries
    once = no_retry_client_factory("glue", "us-east-1").meta.config.retries
    assert retrying["total_max_attempts"] > 1
    assert once["total_max_attempts"] == 1


@pytest.mark.usefixtures("aws_env")
def test_submits_without_a_client_token_use_the_submit_client() -> None:
    made: list[tuple[str, bool]] = []
    glue = boto3.client("glue", region_name="us-east-1")
    emr = boto3.client("emr", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    clients = {"glue": glue, "emr": emr, "lambda": lam}

    def polling(service: str, region: str | None) -> Any:
        made.append((service, False))
        return clients[service]

    def once(service: str, region: str | None) -> Any:
        made.append((service, True))
        return clients[service]

    with Stubber(glue) as glue_stub, Stubber(emr) as emr_stub, Stubber(lam) as lambda_stub:
        glue_stub.add_response("get_job_runs", {"JobRuns": []})
        glue_stub.add_response("start_job_run", {"JobRunId": "jr_1"})
        emr_stub.add_response("add_job_flow_steps", {"StepIds": ["s-1"]})
        lambda_stub.add_response("invoke", lambda_reply(b"{}"))
        kwargs: dict[str, Any] = {"client_factory": polling, "submit_client_factory": once}
        GlueRunner(**kwargs).submit(GlueJob(job_name="etl"), RUN, TOKEN)
        EmrRunner(**kwargs).submit(
            EmrJob(cluster_id="j-1", step_name="s", command="x.jar"), RUN, TOKEN
        )
        LambdaRunner(**kwargs).submit(LambdaJob(function_name="f"), RUN, TOKEN)
    # Glue's token lookup may retry; the calls that start something may not.
    assert made == [("glue", False), ("glue", True), ("emr", True), ("lambda", True)]


def test_glue_does_not_claim_to_dedup() -> None:
    assert GlueRunner.dedups_on_token is False


@pytest.mark.usefixtures("aws_env")
def test_glue_start_is_not_sent_when_the_token_lookup_fails() -> None:
    client = boto3.client("glue", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error(
        "get_job_runs", service_error_code="ThrottlingException", http_status_code=400
    )
    runner = GlueRunner(client_factory=lambda service, region: client)
    with stub, pytest.raises(JobError, match="GetJobRuns") as caught:
        runner.submit(GlueJob(job_name="etl"), RUN, TOKEN)  # no start_job_run is stubbed
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False


@pytest.mark.usefixtures("aws")
def test_glue_unknown_job_is_permanent() -> None:
    runner = GlueRunner(client_factory=boto_factory)
    with pytest.raises(JobError, match="EntityNotFound") as caught:
        runner.submit(GlueJob(job_name="missing"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT


def _succeeded_glue_run(log_lines: list[str]) -> tuple[GlueRunner, JobHandle]:
    make_glue_job()
    runner = GlueRunner(client_factory=boto_factory)
    handle = runner.submit(
        GlueJob(job_name="etl", verify_success=True, log_group="/aws-glue/jobs/logs-v2"), RUN, TOKEN
    )
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws-glue/jobs/logs-v2")
    logs.create_log_stream(logGroupName="/aws-glue/jobs/logs-v2", logStreamName=handle.run_id)
    if log_lines:
        logs.put_log_events(
            logGroupName="/aws-glue/jobs/logs-v2",
            logStreamName=handle.run_id,
            logEvents=[
                {"timestamp": int(time.time() * 1000) + i, "message": m}
                for i, m in enumerate(log_lines)
            ],
        )
    for _ in range(3):
        runner._plain_status(handle)  # walk moto's run to SUCCEEDED
    return runner, handle


@pytest.mark.usefixtures("aws")
def test_glue_false_success_check_fails_a_run_with_driver_errors() -> None:
    runner, handle = _succeeded_glue_run(
        ["2026-03-04 INFO all good", "2026-03-04 12:00 ERROR Executor: Task failed", "INFO bye"]
    )
    status = runner.status(handle)
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.TRANSIENT
    assert "ERROR Executor: Task failed" in status.message


@pytest.mark.usefixtures("aws")
def test_glue_false_success_check_reads_the_rca_stream() -> None:
    runner, handle = _succeeded_glue_run([])
    logs = boto3.client("logs")
    stream = f"{handle.run_id}-job-insights-rca-driver"
    logs.create_log_stream(logGroupName="/aws-glue/jobs/logs-v2", logStreamName=stream)
    message = json.dumps(
        {"Event": "GlueExceptionAnalysisJobFailed", "Failure Reason": "S3 access denied"}
    )
    logs.put_log_events(
        logGroupName="/aws-glue/jobs/logs-v2",
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
    )
    status = runner.status(handle)
    assert status.state is JobState.FAILED
    assert status.message == "SUCCEEDED (RCA: S3 access denied)"


@pytest.mark.usefixtures("aws")
def test_glue_false_success_check_passes_a_clean_log() -> None:
    runner, handle = _succeeded_glue_run(["INFO start", "INFO ERRORS=0 done"])
    assert runner.status(handle).state is JobState.SUCCEEDED


@pytest.mark.usefixtures("aws")
def test_glue_false_success_check_trusts_success_when_logs_are_unreadable() -> None:
    make_glue_job()
    runner = GlueRunner(client_factory=boto_factory)
    handle = runner.submit(GlueJob(job_name="etl", verify_success=True), RUN, TOKEN)
    for _ in range(3):
        runner._plain_status(handle)
    assert runner.status(handle).state is JobState.SUCCEEDED  # no log group at all


@pytest.mark.parametrize(
    ("state", "expected", "category"),
    [
        ("STARTING", JobState.RUNNING, None),
        ("RUNNING", JobState.RUNNING, None),
        ("STOPPING", JobState.RUNNING, None),
        ("WAITING", JobState.RUNNING, None),
        ("SUCCEEDED", JobState.SUCCEEDED, None),
        ("TIMEOUT", JobState.FAILED, FailureCategory.TIMEOUT),
        ("FAILED", JobState.FAILED, FailureCategory.TRANSIENT),
        ("STOPPED", JobState.FAILED, FailureCategory.TRANSIENT),
        ("ERROR", JobState.FAILED, FailureCategory.TRANSIENT),
        ("EXPIRED", JobState.FAILED, FailureCategory.TRANSIENT),
    ],
)
@pytest.mark.usefixtures("aws_env")
def test_glue_state_mapping(
    state: str, expected: JobState, category: FailureCategory | None
) -> None:
    client = boto3.client("glue", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": state, "ErrorMessage": "boom"}}
    )
    runner = GlueRunner(client_factory=lambda service, region: client)
    handle = JobHandle("jr_1", {"glue_job_name": "etl", "glue_job_run_id": "jr_1"})
    with stub:
        status = runner.status(handle)
    assert (status.state, status.category) == (expected, category)


@pytest.mark.usefixtures("aws_env")
def test_glue_cancel_stops_and_waits_for_a_terminal_state() -> None:
    client = boto3.client("glue", region_name="us-east-1")
    stub = Stubber(client)
    get = {"JobName": "etl", "RunId": "jr_1", "PredecessorsIncluded": False}
    stub.add_response("get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": "RUNNING"}}, get)
    stub.add_response(
        "batch_stop_job_run",
        {"SuccessfulSubmissions": [{"JobName": "etl", "JobRunId": "jr_1"}], "Errors": []},
        {"JobName": "etl", "JobRunIds": ["jr_1"]},
    )
    stub.add_response("get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": "STOPPING"}}, get)
    stub.add_response("get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": "STOPPED"}}, get)
    runner = GlueRunner(client_factory=lambda service, region: client, sleep=no_sleep)
    handle = JobHandle("jr_1", {"glue_job_name": "etl", "glue_job_run_id": "jr_1"})
    with stub:
        assert runner.cancel(handle) is True
        stub.assert_no_pending_responses()


@pytest.mark.usefixtures("aws_env")
def test_glue_cancel_unconfirmed_when_the_run_keeps_running() -> None:
    client = boto3.client("glue", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response("get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": "RUNNING"}})
    stub.add_response("batch_stop_job_run", {"SuccessfulSubmissions": [], "Errors": []})
    for _ in range(50):
        stub.add_response("get_job_run", {"JobRun": {"Id": "jr_1", "JobRunState": "STOPPING"}})
    runner = GlueRunner(
        client_factory=lambda service, region: client,
        sleep=no_sleep,
        cancel_timeout=0.01,
        cancel_poll=0,
    )
    handle = JobHandle("jr_1", {"glue_job_name": "etl", "glue_job_run_id": "jr_1"})
    with stub:
        assert runner.cancel(handle) is False


# --- EMR ------------------------------------------------------------------------------------


def make_cluster() -> str:
    response = boto3.client("emr").run_job_flow(
        Name="c",
        ReleaseLabel="emr-6.15.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )
    return str(response["JobFlowId"])


def set_step_state(cluster_id: str, step_id: str, state: str) -> None:
    from moto.emr.models import emr_backends

    cluster = emr_backends[ACCOUNT]["us-east-1"].clusters[cluster_id]
    next(step for step in cluster.steps if step.id == step_id).state = state


@pytest.mark.usefixtures("aws")
def test_emr_step_is_added_and_polled() -> None:
    cluster_id = make_cluster()
    runner = EmrRunner(client_factory=boto_factory)
    config = EmrJob(
        cluster_id=cluster_id,
        step_name="load",
        command="command-runner.jar",
        arguments=["spark-submit", "s3://b/job.py", "--day=${INTERLOCK_PERIOD}"],
    )
    handle = runner.submit(config, RUN, TOKEN)
    assert handle.metadata["emr_cluster_id"] == cluster_id
    assert handle.metadata["emr_step_id"] == handle.run_id
    step = boto3.client("emr").describe_step(ClusterId=cluster_id, StepId=handle.run_id)["Step"]
    assert step["Name"] == "load"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["Config"]["Args"] == ["spark-submit", "s3://b/job.py", "--day=2026-03-04T07"]
    other = EmrRunner(client_factory=boto_factory)
    assert other.status(fresh(handle)).state is JobState.RUNNING
    set_step_state(cluster_id, handle.run_id, "COMPLETED")
    assert other.status(fresh(handle)).state is JobState.SUCCEEDED
    set_step_state(cluster_id, handle.run_id, "FAILED")
    failed = other.status(fresh(handle))
    assert (failed.state, failed.category) == (JobState.FAILED, FailureCategory.TRANSIENT)
    assert other.cancel(fresh(handle)) is True  # already finished


@pytest.mark.usefixtures("aws")
def test_emr_dict_arguments_keep_their_order() -> None:
    cluster_id = make_cluster()
    runner = EmrRunner(client_factory=boto_factory)
    config = EmrJob(
        cluster_id=cluster_id, step_name="s", command="x.jar", arguments={"b": "2", "a": "1"}
    )
    handle = runner.submit(config, RUN, TOKEN)
    step = boto3.client("emr").describe_step(ClusterId=cluster_id, StepId=handle.run_id)["Step"]
    assert step["Config"]["Args"] == ["b=2", "a=1"]


@pytest.mark.usefixtures("aws_env")
def test_emr_cancel_interrupts_and_confirms() -> None:
    client = boto3.client("emr", region_name="us-east-1")
    stub = Stubber(client)
    describe = {"ClusterId": "j-1", "StepId": "s-1"}
    stub.add_response(
        "describe_step", {"Step": {"Id": "s-1", "Status": {"State": "RUNNING"}}}, describe
    )
    stub.add_response(
        "cancel_steps",
        {"CancelStepsInfoList": [{"StepId": "s-1", "Status": "SUBMITTED"}]},
        {"ClusterId": "j-1", "StepIds": ["s-1"], "StepCancellationOption": "SEND_INTERRUPT"},
    )
    stub.add_response(
        "describe_step", {"Step": {"Id": "s-1", "Status": {"State": "CANCEL_PENDING"}}}, describe
    )
    stub.add_response(
        "describe_step", {"Step": {"Id": "s-1", "Status": {"State": "CANCELLED"}}}, describe
    )
    runner = EmrRunner(client_factory=lambda service, region: client, sleep=no_sleep)
    with stub:
        assert runner.cancel(JobHandle("s-1", {"emr_cluster_id": "j-1", "emr_step_id": "s-1"}))
        stub.assert_no_pending_responses()


# --- EMR Serverless -------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_emr_serverless_run_status_and_cancel() -> None:
    app = boto3.client("emr-serverless").create_application(
        name="app", releaseLabel="emr-6.15.0", type="SPARK"
    )["applicationId"]
    runner = EmrServerlessRunner(client_factory=boto_factory, sleep=no_sleep)
    config = EmrServerlessJob(
        application_id=app,
        job_name="nightly",
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/emr",
        job_driver={
            "sparkSubmit": {
                "entryPoint": "s3://b/job.py",
                "entryPointArguments": ["--day", "$INTERLOCK_PERIOD"],
            }
        },
    )
    handle = runner.submit(config, RUN, TOKEN)
    assert handle.metadata["emr_sl_application_id"] == app
    assert handle.metadata["emr_sl_job_run_id"] == handle.run_id
    from moto.emrserverless.models import emrserverless_backends

    stored = emrserverless_backends[ACCOUNT]["us-east-1"].job_runs[app][0]
    assert stored.client_token == TOKEN
    assert stored.job_driver["sparkSubmit"]["entryPointArguments"] == ["--day", "2026-03-04T07"]
    other = EmrServerlessRunner(client_factory=boto_factory, sleep=no_sleep)
    assert other.status(fresh(handle)).state is JobState.SUCCEEDED  # moto finishes at once
    stored.state = "RUNNING"
    assert other.status(fresh(handle)).state is JobState.RUNNING
    assert other.cancel(fresh(handle)) is True
    status = other.status(fresh(handle))
    assert status.state is JobState.FAILED
    assert "cancelled" in status.message


def test_emr_serverless_needs_a_role_and_a_driver() -> None:
    runner = EmrServerlessRunner(client_factory=lambda s, r: pytest.fail("no call expected"))
    with pytest.raises(JobError, match="executionRoleArn") as caught:
        runner.submit(EmrServerlessJob(application_id="a", job_name="j"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT


# --- Step Functions -------------------------------------------------------------------------


def make_state_machine() -> str:
    response = boto3.client("stepfunctions").create_state_machine(
        name="etl",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )
    return str(response["stateMachineArn"])


@pytest.mark.usefixtures("aws")
def test_step_function_execution_named_by_token_with_input() -> None:
    machine = make_state_machine()
    runner = StepFunctionRunner(client_factory=boto_factory)
    handle = runner.submit(
        StepFunctionJob(state_machine_arn=machine, arguments={"table": "orders"}), RUN, TOKEN
    )
    assert handle.run_id == execution_arn(machine, TOKEN)
    assert handle.metadata["sfn_execution_arn"] == handle.run_id
    described = boto3.client("stepfunctions").describe_execution(executionArn=handle.run_id)
    assert described["name"] == TOKEN
    assert json.loads(described["input"]) == {
        "table": "orders",
        "pipeline": "orders",
        "period": "2026-03-04T07",
        "attempt": 2,
    }
    assert StepFunctionRunner(client_factory=boto_factory).status(fresh(handle)).state in (
        JobState.RUNNING,
        JobState.SUCCEEDED,
    )


@pytest.mark.usefixtures("aws")
def test_step_function_stop_and_adopt_after_already_exists() -> None:
    machine = make_state_machine()
    runner = StepFunctionRunner(client_factory=boto_factory)
    config = StepFunctionJob(state_machine_arn=machine)
    handle = runner.submit(config, RUN, TOKEN)
    assert runner.cancel(fresh(handle)) is True
    status = runner.status(handle)
    assert (status.state, status.category) == (JobState.FAILED, FailureCategory.TRANSIENT)
    # The execution is closed now: a repeat gets ExecutionAlreadyExists and adopts it.
    again = runner.submit(config, RUN, TOKEN)
    assert again.run_id == handle.run_id
    assert again.metadata["adopted"] is True
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert len(executions["executions"]) == 1


@pytest.mark.parametrize(
    ("state", "expected", "category"),
    [
        ("RUNNING", JobState.RUNNING, None),
        ("SUCCEEDED", JobState.SUCCEEDED, None),
        ("TIMED_OUT", JobState.FAILED, FailureCategory.TIMEOUT),
        ("FAILED", JobState.FAILED, FailureCategory.TRANSIENT),
        ("ABORTED", JobState.FAILED, FailureCategory.TRANSIENT),
    ],
)
@pytest.mark.usefixtures("aws_env")
def test_step_function_state_mapping(
    state: str, expected: JobState, category: FailureCategory | None
) -> None:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    stub = Stubber(client)
    arn = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:etl:{TOKEN}"
    stub.add_response(
        "describe_execution",
        {
            "executionArn": arn,
            "stateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:etl",
            "status": state,
            "startDate": 0,
        },
    )
    runner = StepFunctionRunner(client_factory=lambda s, r: client)
    with stub:
        status = runner.status(JobHandle(arn, {"sfn_execution_arn": arn}))
    assert (status.state, status.category) == (expected, category)


def test_execution_arn() -> None:
    machine = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:etl"
    assert execution_arn(machine, "t") == f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:etl:t"
    with pytest.raises(JobError):
        execution_arn("arn:aws:lambda:x", "t")


# --- Lambda ---------------------------------------------------------------------------------


def lambda_reply(payload: bytes, function_error: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
        "ExecutedVersion": "$LATEST",
        "ResponseMetadata": {"RequestId": "req-123", "HTTPStatusCode": 200},
    }
    if function_error:
        reply["FunctionError"] = function_error
    return reply


@pytest.mark.usefixtures("aws_env")
def test_lambda_invoke_is_synchronous_and_keeps_the_request_id() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    expected_payload = json.dumps(
        {
            "pipeline": "orders",
            "period": "2026-03-04T07",
            "attempt": 2,
            "token": TOKEN,
            "par_day": "20260304",
            "par_hour": "07",
        }
    ).encode()
    stub.add_response(
        "invoke",
        lambda_reply(b'{"ok": true}'),
        {
            "FunctionName": "loader",
            "InvocationType": "RequestResponse",
            "Payload": expected_payload,
        },
    )
    runner = LambdaRunner(client_factory=lambda s, r: client)
    with stub:
        handle = runner.submit(LambdaJob(function_name="loader"), RUN, TOKEN)
    assert handle.result is not None
    assert handle.result.state is JobState.SUCCEEDED
    assert handle.run_id == "req-123"
    assert handle.metadata["lambda_request_id"] == "req-123"
    assert handle.metadata["lambda_function_name"] == "loader"
    assert runner.status(fresh(handle)).state is JobState.SUCCEEDED
    metadata_only = JobHandle(handle.run_id, json.loads(json.dumps(handle.metadata)))
    assert runner.status(metadata_only).state is JobState.SUCCEEDED
    assert runner.cancel(handle) is True


@pytest.mark.usefixtures("aws_env")
def test_lambda_function_error_fails_and_payload_is_expanded() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "invoke",
        lambda_reply(b'{"errorMessage": "division by zero"}', "Unhandled"),
        {
            "FunctionName": "loader",
            "InvocationType": "RequestResponse",
            "Payload": b'{"day": "2026-03-04T07"}',
        },
    )
    runner = LambdaRunner(client_factory=lambda s, r: client)
    with stub:
        handle = runner.submit(
            LambdaJob(function_name="loader", payload='{"day": "${INTERLOCK_PERIOD}"}'), RUN, TOKEN
        )
    assert handle.result is not None
    assert handle.result.state is JobState.FAILED
    assert handle.result.category is FailureCategory.TRANSIENT
    assert "division by zero" in handle.result.message


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("code", "status", "category", "started"),
    [
        ("ResourceNotFoundException", 404, FailureCategory.PERMANENT, False),
        ("TooManyRequestsException", 429, FailureCategory.TRANSIENT, False),
        ("ServiceException", 500, FailureCategory.TRANSIENT, True),
        ("AccessDeniedException", 403, FailureCategory.PERMANENT, False),
    ],
)
def test_lambda_call_errors_are_classified(
    code: str, status: int, category: FailureCategory, started: bool
) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("invoke", service_error_code=code, http_status_code=status)
    runner = LambdaRunner(client_factory=lambda s, r: client)
    with stub, pytest.raises(JobError, match=code) as caught:
        runner.submit(LambdaJob(function_name="loader"), RUN, TOKEN)
    assert caught.value.category is category
    assert caught.value.may_have_started is started


# --- shared ---------------------------------------------------------------------------------


def test_error_classification() -> None:
    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": "m"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "Op",
        )

    assert classify_aws_error(client_error("ThrottlingException", 400)) is FailureCategory.TRANSIENT
    assert classify_aws_error(client_error("ValidationException", 400)) is FailureCategory.PERMANENT
    assert classify_aws_error(client_error("InternalFailure", 500)) is FailureCategory.TRANSIENT
    assert (
        classify_aws_error(client_error("ConcurrentRunsExceededException", 400))
        is FailureCategory.TRANSIENT
    )
    assert classify_aws_error(NoCredentialsError()) is FailureCategory.PERMANENT
    assert (
        classify_aws_error(EndpointConnectionError(endpoint_url="https://x"))
        is FailureCategory.TRANSIENT
    )


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    ("error", "started"),
    [
        (ReadTimeoutError(endpoint_url="https://x"), True),
        (ConnectionClosedError(endpoint_url="https://x"), True),
        (_client_error("InternalFailure", 500), True),
        (_client_error("OperationTimeoutException", 400), True),
        (RuntimeError("something unexpected"), True),
        (ConnectionResetError("reset by peer"), True),
        (SSLError(endpoint_url="https://x", error="bad record mac"), True),
        (EndpointConnectionError(endpoint_url="https://x"), False),
        (ConnectTimeoutError(endpoint_url="https://x"), False),
        (NoCredentialsError(), False),
        (_client_error("ThrottlingException", 400), False),
        (_client_error("ConcurrentRunsExceededException", 400), False),
        (_client_error("ValidationException", 400), False),
    ],
)
def test_whether_a_failed_call_may_have_started_the_job(
    error: BaseException, started: bool
) -> None:
    assert aws_may_have_started(error) is started


def test_region_comes_from_config_then_environment() -> None:
    assert resolve_region("eu-west-1", {"AWS_DEFAULT_REGION": "us-east-1"}) == "eu-west-1"
    assert resolve_region(None, {"AWS_DEFAULT_REGION": "us-east-2"}) == "us-east-2"
    assert (
        resolve_region(None, {"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "x"})
        == "ap-south-1"
    )
    assert resolve_region(None, {}) is None


def test_wrong_config_type_is_permanent() -> None:
    with pytest.raises(JobError, match="GlueJob") as caught:
        GlueRunner(client_factory=lambda s, r: None).submit(
            LambdaJob(function_name="f"), RUN, TOKEN
        )
    assert caught.value.category is FailureCategory.PERMANENT
