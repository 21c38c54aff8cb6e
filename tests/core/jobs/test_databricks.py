"""The databricks job against a fake Jobs API 2.1."""

import collections
import json
from typing import Any

import pytest

from interlock_core.config.jobs import DatabricksJob
from interlock_core.jobs.base import FailureCategory, JobError, JobHandle, JobState, RunContext
from interlock_core.jobs.databricks import DatabricksRunner, map_run_state
from tests.core.jobs.conftest import FakeServer, Recorded, Reply, SleepRecorder

RUN = RunContext("orders", "2026-03-04", 1)
TOKEN = "f" * 40
SECRET = "dapi-s3cret"


class FakeDatabricks:
    """run-now with idempotency tokens, runs/get state sequences, runs/cancel."""

    def __init__(self, server: FakeServer) -> None:
        self.by_token: dict[str, int] = {}
        self.states: dict[int, collections.deque[dict[str, str]]] = {}
        self.cancelled: list[int] = []
        server.on("POST", "/api/2.1/jobs/run-now", self.run_now)
        server.on("GET", "/api/2.1/jobs/runs/get", self.get)
        server.on("POST", "/api/2.1/jobs/runs/cancel", self.cancel)

    @staticmethod
    def authorized(request: Recorded) -> bool:
        return request.headers.get("authorization") == f"Bearer {SECRET}"

    def run_now(self, request: Recorded) -> Reply:
        if not self.authorized(request):
            return Reply(
                403, {"error_code": "PERMISSION_DENIED", "message": "Invalid access token."}
            )
        body = request.json()
        token = body["idempotency_token"]
        if token not in self.by_token:
            self.by_token[token] = 1000 + len(self.by_token)
            self.states[self.by_token[token]] = collections.deque([{"life_cycle_state": "PENDING"}])
        return Reply(200, {"run_id": self.by_token[token], "number_in_job": 1})

    def get(self, request: Recorded) -> Reply:
        if not self.authorized(request):
            return Reply(403, {"error_code": "PERMISSION_DENIED"})
        run_id = int(request.query["run_id"])
        if run_id not in self.states:
            return Reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "no run"})
        sequence = self.states[run_id]
        state = sequence.popleft() if len(sequence) > 1 else sequence[0]
        return Reply(200, {"run_id": run_id, "state": state})

    def cancel(self, request: Recorded) -> Reply:
        run_id = request.json()["run_id"]
        self.cancelled.append(run_id)
        self.states[run_id] = collections.deque(
            [
                {"life_cycle_state": "TERMINATING"},
                {"life_cycle_state": "TERMINATED", "result_state": "CANCELED"},
            ]
        )
        return Reply(200, {})


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBX_TOKEN", SECRET)


@pytest.fixture
def fake(server: FakeServer) -> FakeDatabricks:
    return FakeDatabricks(server)


@pytest.fixture
def runner(sleeps: SleepRecorder) -> DatabricksRunner:
    return DatabricksRunner(sleep=sleeps, rand=lambda: 0.5, cancel_timeout=5, cancel_poll=0.01)


def job(server: FakeServer, **fields: Any) -> DatabricksJob:
    return DatabricksJob.model_validate(
        {
            "workspaceUrl": server.url,
            "jobId": "42",
            "tokenEnv": "DBX_TOKEN",
            "allowPrivateNetwork": True,
            **fields,
        }
    )


def test_run_now_sends_the_token_and_parameters(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    config = job(server, arguments={"day": "2026-03-04"}, jobParameters={"env": "prod"})
    handle = runner.submit(config, RUN, TOKEN)
    sent = server.calls("POST", "/api/2.1/jobs/run-now")[0]
    assert sent.json() == {
        "job_id": 42,
        "idempotency_token": TOKEN,
        "notebook_params": {"day": "2026-03-04"},
        "job_parameters": {"env": "prod"},
    }
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert handle.run_id == "1000"
    assert handle.metadata["databricks_run_id"] == "1000"
    assert handle.metadata["databricks_workspace_url"] == server.url
    assert handle.metadata["token_env"] == "DBX_TOKEN"
    assert SECRET not in json.dumps(handle.metadata)


def test_resubmit_with_the_same_token_adopts_the_run(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    first = runner.submit(job(server), RUN, TOKEN)
    again = runner.submit(job(server), RUN, TOKEN)
    assert first.run_id == again.run_id
    assert len(fake.by_token) == 1


def test_status_sequence_from_another_process(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    handle = runner.submit(job(server), RUN, TOKEN)
    fake.states[1000] = collections.deque(
        [
            {"life_cycle_state": "PENDING"},
            {"life_cycle_state": "RUNNING"},
            {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
        ]
    )
    other = DatabricksRunner()
    foreign = JobHandle(handle.run_id, json.loads(json.dumps(handle.metadata)))
    assert [other.status(foreign).state for _ in range(3)] == [
        JobState.RUNNING,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]
    assert server.calls("GET", "/api/2.1/jobs/runs/get")[0].query == {"run_id": "1000"}


@pytest.mark.parametrize(
    ("state", "expected", "category"),
    [
        ({"life_cycle_state": "PENDING"}, JobState.RUNNING, None),
        ({"life_cycle_state": "QUEUED"}, JobState.RUNNING, None),
        ({"life_cycle_state": "RUNNING"}, JobState.RUNNING, None),
        ({"life_cycle_state": "TERMINATING"}, JobState.RUNNING, None),
        ({"life_cycle_state": "BLOCKED"}, JobState.RUNNING, None),
        (
            {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
            JobState.SUCCEEDED,
            None,
        ),
        (
            {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
            JobState.FAILED,
            FailureCategory.TRANSIENT,
        ),
        (
            {"life_cycle_state": "TERMINATED", "result_state": "TIMEDOUT"},
            JobState.FAILED,
            FailureCategory.TIMEOUT,
        ),
        (
            {"life_cycle_state": "TERMINATED", "result_state": "CANCELED"},
            JobState.FAILED,
            FailureCategory.TRANSIENT,
        ),
        ({"life_cycle_state": "SKIPPED"}, JobState.FAILED, FailureCategory.PERMANENT),
        (
            {"life_cycle_state": "SKIPPED", "result_state": "MAXIMUM_CONCURRENT_RUNS_REACHED"},
            JobState.FAILED,
            FailureCategory.TRANSIENT,
        ),
        (
            {
                "life_cycle_state": "SKIPPED",
                "state_message": "Skipping this run because the limit of 1 maximum concurrent "
                "runs has been reached.",
            },
            JobState.FAILED,
            FailureCategory.TRANSIENT,
        ),
        (
            {"life_cycle_state": "SKIPPED", "result_state": "EXCLUDED"},
            JobState.FAILED,
            FailureCategory.PERMANENT,
        ),
        (
            {"life_cycle_state": "SKIPPED", "result_state": "DISABLED"},
            JobState.FAILED,
            FailureCategory.PERMANENT,
        ),
        ({"life_cycle_state": "INTERNAL_ERROR"}, JobState.FAILED, FailureCategory.TRANSIENT),
    ],
)
def test_state_mapping(
    state: dict[str, str], expected: JobState, category: FailureCategory | None
) -> None:
    status = map_run_state(state)
    assert (status.state, status.category) == (expected, category)


def test_a_run_skipped_for_the_concurrency_limit_is_transient(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    # Newer answers say why in status.termination_details, next to the deprecated state.
    handle = runner.submit(job(server), RUN, TOKEN)
    answer = {
        "run_id": 1000,
        "state": {"life_cycle_state": "SKIPPED", "state_message": "skipped"},
        "status": {
            "state": "TERMINATED",
            "termination_details": {"code": "MAX_CONCURRENT_RUNS_EXCEEDED", "type": "CLIENT_ERROR"},
        },
    }
    server.on("GET", "/api/2.1/jobs/runs/get", Reply(200, answer))
    status = runner.status(handle)
    assert (status.state, status.category) == (JobState.FAILED, FailureCategory.TRANSIENT)


def test_cancelled_run_says_so() -> None:
    status = map_run_state({"life_cycle_state": "TERMINATED", "result_state": "CANCELED"})
    assert "cancelled" in status.message


def test_4xx_is_permanent(server: FakeServer, runner: DatabricksRunner) -> None:
    server.on(
        "POST", "/api/2.1/jobs/run-now", Reply(400, {"error_code": "INVALID_PARAMETER_VALUE"})
    )
    with pytest.raises(JobError, match="INVALID_PARAMETER_VALUE") as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert caught.value.may_have_started is False
    assert len(server.requests) == 1


def test_5xx_is_retried_then_transient(
    server: FakeServer, runner: DatabricksRunner, sleeps: SleepRecorder
) -> None:
    server.on("POST", "/api/2.1/jobs/run-now", Reply(500, {"error_code": "INTERNAL_ERROR"}))
    with pytest.raises(JobError, match="HTTP 500") as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is True
    # run-now dedups on its idempotency_token, so repeating it is safe.
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_status_errors_raise(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    handle = runner.submit(job(server), RUN, TOKEN)
    server.on(
        "GET", "/api/2.1/jobs/runs/get", Reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
    )
    with pytest.raises(JobError) as caught:
        runner.status(handle)
    assert caught.value.category is FailureCategory.PERMANENT
    server.on("GET", "/api/2.1/jobs/runs/get", Reply(503, {}))
    with pytest.raises(JobError) as caught:
        runner.status(handle)
    assert caught.value.category is FailureCategory.TRANSIENT


def test_a_slow_answer_times_out_as_transient(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    handle = runner.submit(job(server, timeout=0.3), RUN, TOKEN)
    server.on("GET", "/api/2.1/jobs/runs/get", Reply(200, {"state": {}}, delay=3))
    with pytest.raises(JobError, match=r"timed out after 0\.3 s") as caught:
        runner.status(handle)
    assert caught.value.category is FailureCategory.TRANSIENT


def test_missing_token_variable_is_permanent_and_names_it(
    server: FakeServer, runner: DatabricksRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBX_TOKEN")
    with pytest.raises(JobError, match="DBX_TOKEN") as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert caught.value.may_have_started is False
    assert server.requests == []


def test_cancel_waits_for_a_terminal_state(
    server: FakeServer, fake: FakeDatabricks, runner: DatabricksRunner
) -> None:
    handle = runner.submit(job(server), RUN, TOKEN)
    assert runner.cancel(handle) is True
    assert fake.cancelled == [1000]
    status = runner.status(handle)
    assert status.state is JobState.FAILED
    assert "cancelled" in status.message
    assert runner.cancel(handle) is True  # already terminal: no second cancel call
    assert fake.cancelled == [1000]


def test_cancel_not_confirmed_when_the_run_keeps_running(
    server: FakeServer, fake: FakeDatabricks, sleeps: SleepRecorder
) -> None:
    runner = DatabricksRunner(sleep=sleeps, cancel_timeout=0.05, cancel_poll=0.01)
    handle = runner.submit(job(server), RUN, TOKEN)
    server.on("POST", "/api/2.1/jobs/runs/cancel", Reply(200, {}))  # accepted, never stops
    assert runner.cancel(handle) is False
