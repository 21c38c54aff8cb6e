"""The airflow job against a fake Airflow 3 REST API (and MWAA through a botocore Stubber)."""

import collections
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from interlock_core.config.jobs import AirflowJob
from interlock_core.jobs.airflow import AirflowRunner
from interlock_core.jobs.base import FailureCategory, JobError, JobHandle, JobState, RunContext
from tests.core.jobs.conftest import FakeServer, Recorded, Reply, SleepRecorder

RUN = RunContext("orders", "2026-03-04", 1)
TOKEN = "0123456789abcdef0123456789abcdef01234567"
RUN_PATH = f"/api/v2/dags/etl/dagRuns/{TOKEN}"
PASSWORD = "pw-s3cret"
STATIC = "static-s3cret"


class FakeAirflow:
    """Just enough of Airflow 3's API v2: JWT exchange, dag runs, states, PATCH."""

    def __init__(self, server: FakeServer, *, token_uses: int = 1000) -> None:
        self.server = server
        self.token_uses = token_uses
        self.uses: collections.Counter[str] = collections.Counter()
        self.issued: list[str] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.sequences: dict[str, collections.deque[str]] = {}
        server.on("POST", "/auth/token", self.auth)
        server.on("POST", "/api/v2/dags/etl/dagRuns", self.trigger)
        server.on("GET", RUN_PATH, self.get)
        server.on("PATCH", RUN_PATH, self.patch)

    def auth(self, request: Recorded) -> Reply:
        body = request.json()
        if body != {"username": "admin", "password": PASSWORD}:
            return Reply(401, {"detail": "Invalid credentials"})
        token = f"jwt-{len(self.issued)}"
        self.issued.append(token)
        return Reply(201, {"access_token": token})

    def authorized(self, request: Recorded) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        if token == STATIC:
            return True
        if token not in self.issued or self.uses[token] >= self.token_uses:
            return False
        self.uses[token] += 1
        return True

    def trigger(self, request: Recorded) -> Reply:
        if not self.authorized(request):
            return Reply(401, {"detail": "Not authenticated"})
        body = request.json()
        run_id = body["dag_run_id"]
        if run_id in self.runs:
            return Reply(409, {"detail": f"DAGRun with dag_run_id: '{run_id}' already exists"})
        self.runs[run_id] = {"dag_run_id": run_id, "dag_id": "etl", "state": "queued", **body}
        return Reply(200, self.runs[run_id])

    def get(self, request: Recorded) -> Reply:
        if not self.authorized(request):
            return Reply(401, {"detail": "Not authenticated"})
        run = self.runs.get(TOKEN)
        if run is None:
            return Reply(404, {"detail": "DAGRun not found"})
        sequence = self.sequences.get(TOKEN)
        if sequence:
            run["state"] = sequence.popleft() if len(sequence) > 1 else sequence[0]
        return Reply(200, run)

    def patch(self, request: Recorded) -> Reply:
        if not self.authorized(request):
            return Reply(401, {"detail": "Not authenticated"})
        self.runs[TOKEN]["state"] = request.json()["state"]
        self.sequences.pop(TOKEN, None)
        return Reply(200, self.runs[TOKEN])


@pytest.fixture
def airflow(server: FakeServer) -> FakeAirflow:
    return FakeAirflow(server)


@pytest.fixture
def runner(sleeps: SleepRecorder) -> AirflowRunner:
    return AirflowRunner(sleep=sleeps)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AF_TOKEN", STATIC)
    monkeypatch.setenv("AF_USER", "admin")
    monkeypatch.setenv("AF_PASS", PASSWORD)


def job(server: FakeServer, **fields: Any) -> AirflowJob:
    return AirflowJob.model_validate(
        {"url": server.url, "dagId": "etl", "allowPrivateNetwork": True, **fields}
    )


def test_trigger_with_static_token(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN", conf={"x": 1}), RUN, TOKEN)
    sent = server.calls("POST", "/api/v2/dags/etl/dagRuns")[0]
    assert sent.headers["authorization"] == f"Bearer {STATIC}"
    assert sent.json() == {
        "dag_run_id": TOKEN,
        "logical_date": None,
        "conf": {"x": 1, "pipeline": "orders", "period": "2026-03-04", "attempt": 1},
    }
    assert handle.run_id == TOKEN
    assert handle.metadata["airflow_dag_run_id"] == TOKEN
    assert handle.metadata["airflow_dag_id"] == "etl"
    assert handle.metadata["airflow_url"] == server.url
    assert handle.metadata["token_env"] == "AF_TOKEN"
    assert handle.metadata["adopted"] is False
    assert STATIC not in json.dumps(handle.metadata)


def test_states_are_polled_from_another_process(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    airflow.sequences[TOKEN] = collections.deque(["queued", "running", "success"])
    other = AirflowRunner()
    foreign = JobHandle(handle.run_id, json.loads(json.dumps(handle.metadata)))
    assert [other.status(foreign).state for _ in range(3)] == [
        JobState.RUNNING,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]


def test_failed_run_is_a_transient_failure(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    airflow.sequences[TOKEN] = collections.deque(["failed"])
    status = runner.status(handle)
    assert status.state is JobState.FAILED
    assert status.category is FailureCategory.TRANSIENT


def test_password_exchange_is_cached_and_refreshed_on_401(server: FakeServer) -> None:
    airflow = FakeAirflow(server, token_uses=2)
    runner = AirflowRunner()
    config = job(server, usernameEnv="AF_USER", passwordEnv="AF_PASS")
    handle = runner.submit(config, RUN, TOKEN)
    assert runner.status(handle).state is JobState.RUNNING  # second use of jwt-0
    assert len(server.calls("POST", "/auth/token")) == 1  # cached, not re-exchanged
    # jwt-0 has expired: the call gets 401, exchanges again once and succeeds.
    assert runner.status(handle).state is JobState.RUNNING
    assert airflow.issued == ["jwt-0", "jwt-1"]
    gets = server.calls("GET", RUN_PATH)
    assert [g.headers["authorization"] for g in gets] == [
        "Bearer jwt-0",
        "Bearer jwt-0",
        "Bearer jwt-1",
    ]
    for recorded in server.requests:
        if recorded.path != "/auth/token":
            assert PASSWORD not in recorded.body.decode()
    assert PASSWORD not in json.dumps(handle.metadata)


def test_bad_credentials_are_permanent_and_name_only_the_variables(
    server: FakeServer, airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AF_PASS", "wrong-password")
    with pytest.raises(JobError) as caught:
        AirflowRunner().submit(
            job(server, usernameEnv="AF_USER", passwordEnv="AF_PASS"), RUN, TOKEN
        )
    assert caught.value.category is FailureCategory.PERMANENT
    assert "AF_USER/AF_PASS" in str(caught.value)
    assert "wrong-password" not in str(caught.value)


def test_static_token_rejected_is_permanent(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AF_TOKEN", "expired")
    with pytest.raises(JobError, match="HTTP 401") as caught:
        runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert len(server.calls("POST", "/api/v2/dags/etl/dagRuns")) == 1


def test_existing_dag_run_id_is_adopted(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    airflow.runs[TOKEN] = {"dag_run_id": TOKEN, "state": "running"}
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert handle.metadata["adopted"] is True
    assert handle.run_id == TOKEN
    assert len(airflow.runs) == 1
    assert runner.status(handle).state is JobState.RUNNING


def test_5xx_on_trigger_is_retried_safely(server: FakeServer, runner: AirflowRunner) -> None:
    airflow = FakeAirflow(server)
    calls = {"n": 0}

    def flaky(request: Recorded) -> Reply:
        calls["n"] += 1
        return Reply(503, {"detail": "busy"}) if calls["n"] == 1 else airflow.trigger(request)

    server.on("POST", "/api/v2/dags/etl/dagRuns", flaky)
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert handle.run_id == TOKEN
    assert calls["n"] == 2


def test_unknown_dag_is_permanent(server: FakeServer, runner: AirflowRunner) -> None:
    server.on("POST", "/api/v2/dags/nope/dagRuns", Reply(404, {"detail": "DAG not found"}))
    with pytest.raises(JobError, match="DAG not found") as caught:
        runner.submit(job(server, dagId="nope", tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT


def test_body_json_text_is_merged_into_conf(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    config = job(
        server,
        tokenEnv="AF_TOKEN",
        body='{"day": "${INTERLOCK_PERIOD}", "x": 0, "period": "user"}',
        conf={"x": 1},
    )
    runner.submit(config, RUN, TOKEN)
    conf = server.calls("POST", "/api/v2/dags/etl/dagRuns")[0].json()["conf"]
    assert conf == {
        "day": "2026-03-04",
        "x": 1,
        "period": "2026-03-04",
        "pipeline": "orders",
        "attempt": 1,
    }
    with pytest.raises(JobError, match="not valid JSON") as caught:
        runner.submit(job(server, tokenEnv="AF_TOKEN", body="{oops"), RUN, "other")
    assert caught.value.category is FailureCategory.PERMANENT


def test_cancel_marks_the_run_failed(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    airflow.sequences[TOKEN] = collections.deque(["running"])
    assert runner.cancel(handle) is True
    patch = server.calls("PATCH", RUN_PATH)[0]
    assert patch.json() == {"state": "failed"}
    assert runner.status(handle).state is JobState.FAILED
    assert runner.cancel(handle) is True  # finished: no second PATCH
    assert len(server.calls("PATCH", RUN_PATH)) == 1


def test_a_cancel_answer_without_a_state_is_not_a_confirmation(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    # A proxy (or an odd MWAA answer) says 2xx with an empty body; the run still runs.
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    airflow.sequences[TOKEN] = collections.deque(["running"])
    server.on("PATCH", RUN_PATH, Reply(200, body=b""))
    assert runner.cancel(handle) is False
    assert runner.status(handle).state is JobState.RUNNING


def test_a_cancel_answer_without_a_state_is_confirmed_by_a_fresh_read(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    airflow.sequences[TOKEN] = collections.deque(["running", "failed"])

    def accepted(request: Recorded) -> Reply:
        return Reply(204)

    server.on("PATCH", RUN_PATH, accepted)
    assert runner.cancel(handle) is True
    assert len(server.calls("GET", RUN_PATH)) == 2


def test_submit_failures_before_the_trigger_started_nothing(
    server: FakeServer, airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AF_TOKEN")
    with pytest.raises(JobError, match="AF_TOKEN") as caught:
        AirflowRunner().submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert caught.value.may_have_started is False
    # The credential exchange fails: the trigger was never sent.
    server.on("POST", "/auth/token", Reply(503, {"detail": "down"}))
    with pytest.raises(JobError) as caught:
        AirflowRunner(sleep=SleepRecorder()).submit(
            job(server, usernameEnv="AF_USER", passwordEnv="AF_PASS"), RUN, TOKEN
        )
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False
    assert server.calls("POST", "/api/v2/dags/etl/dagRuns") == []


def test_a_refused_trigger_started_nothing_and_a_5xx_may_have(
    server: FakeServer, runner: AirflowRunner
) -> None:
    server.on("POST", "/api/v2/dags/etl/dagRuns", Reply(400, {"detail": "bad conf"}))
    with pytest.raises(JobError) as caught:
        runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert caught.value.may_have_started is False
    server.on("POST", "/api/v2/dags/etl/dagRuns", Reply(500, {"detail": "oops"}))
    with pytest.raises(JobError) as caught:
        runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    assert caught.value.may_have_started is True
    # The trigger dedups on its dag_run_id, so it is safely repeated: 1 + 2 retries.
    assert len(server.calls("POST", "/api/v2/dags/etl/dagRuns")) == 1 + 3


def test_cancel_refused_is_not_confirmed(
    server: FakeServer, airflow: FakeAirflow, runner: AirflowRunner
) -> None:
    handle = runner.submit(job(server, tokenEnv="AF_TOKEN"), RUN, TOKEN)
    server.on("PATCH", RUN_PATH, Reply(403, {"detail": "forbidden"}))
    assert runner.cancel(handle) is False


def test_ssrf_guard_applies_without_allow_private_network(outbound_connects: list[Any]) -> None:
    config = AirflowJob.model_validate(
        {"url": "http://169.254.169.254", "dagId": "etl", "tokenEnv": "AF_TOKEN"}
    )
    with pytest.raises(JobError, match=r"169\.254\.169\.254") as caught:
        AirflowRunner().submit(config, RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert outbound_connects == []


@pytest.mark.usefixtures("aws_env")
def test_mwaa_through_invoke_rest_api() -> None:
    client = boto3.client("mwaa", region_name="us-east-1")
    stub = Stubber(client)
    path = "/dags/etl/dagRuns"
    stub.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiClientException",
        http_status_code=400,
        modeled_fields={"RestApiStatusCode": 409, "RestApiResponse": {"detail": "exists"}},
        expected_params={
            "Name": "prod-env",
            "Path": path,
            "Method": "POST",
            "Body": {
                "dag_run_id": TOKEN,
                "logical_date": None,
                "conf": {"pipeline": "orders", "period": "2026-03-04", "attempt": 1},
            },
        },
    )
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_run_id": TOKEN, "state": "running"}},
        {"Name": "prod-env", "Path": f"{path}/{TOKEN}", "Method": "GET"},
    )
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_run_id": TOKEN, "state": "success"}},
        {"Name": "prod-env", "Path": f"{path}/{TOKEN}", "Method": "GET"},
    )
    stub.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiServerException",
        http_status_code=400,
        modeled_fields={"RestApiStatusCode": 503, "RestApiResponse": {"detail": "down"}},
    )
    regions: list[str | None] = []

    def factory(service: str, region: str | None) -> Any:
        assert service == "mwaa"
        regions.append(region)
        return client

    runner = AirflowRunner(client_factory=factory)
    config = AirflowJob.model_validate(
        {"mwaaEnvironment": "prod-env", "dagId": "etl", "region": "us-east-1"}
    )
    with stub:
        handle = runner.submit(config, RUN, TOKEN)
        assert handle.metadata["adopted"] is True
        assert handle.metadata["mwaa_environment"] == "prod-env"
        assert runner.status(handle).state is JobState.SUCCEEDED
        with pytest.raises(JobError, match="HTTP 503") as caught:
            runner.status(handle)
        assert caught.value.category is FailureCategory.TRANSIENT
        stub.assert_no_pending_responses()
    assert set(regions) == {"us-east-1"}
