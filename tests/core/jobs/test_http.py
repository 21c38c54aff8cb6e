"""The http job against a local server."""

import json
import socket
from typing import Any

import pytest

from interlock_core.config.jobs import HttpJob
from interlock_core.jobs.base import FailureCategory, JobError, JobHandle, JobState, RunContext
from interlock_core.jobs.http import HttpRunner, read_field
from tests.core.jobs.conftest import FakeServer, Recorded, Reply, SleepRecorder

RUN = RunContext("orders", "2026-03-04T07", 2)
TOKEN = "a" * 40
SECRET = "tok-very-secret-123"


def job(server: FakeServer, **fields: Any) -> HttpJob:
    return HttpJob.model_validate(
        {"url": server.url + "/hook", "allowPrivateNetwork": True, **fields}
    )


@pytest.fixture
def runner(sleeps: SleepRecorder) -> HttpRunner:
    return HttpRunner(sleep=sleeps, rand=lambda: 0.5)


def test_synchronous_call_sends_the_run_and_succeeds(
    server: FakeServer, runner: HttpRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    monkeypatch.setenv("INTERLOCK_REGION", "eu")
    monkeypatch.setenv("OTHER", "hidden")
    server.on("POST", "/hook", Reply(200, {"ok": True}))
    handle = runner.submit(
        job(
            server,
            tokenEnv="HOOK_TOKEN",
            headers={"X-Period": "${INTERLOCK_PERIOD}", "X-Region": "$INTERLOCK_REGION/$OTHER"},
        ),
        RUN,
        TOKEN,
    )
    assert handle.result is not None
    assert handle.result.state is JobState.SUCCEEDED
    assert runner.status(handle).state is JobState.SUCCEEDED
    sent = server.calls("POST", "/hook")[0]
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["idempotency-key"] == TOKEN
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-period"] == "2026-03-04T07"
    assert sent.headers["x-region"] == "eu/$OTHER"  # only INTERLOCK_ names expand
    assert sent.json() == {
        "pipeline": "orders",
        "period": "2026-03-04T07",
        "attempt": 2,
        "token": TOKEN,
        "par_day": "20260304",
        "par_hour": "07",
    }
    assert SECRET not in json.dumps(handle.metadata)
    assert handle.run_id == TOKEN
    assert runner.cancel(handle) is True  # a finished synchronous call is stopped
    # A process that kept only the metadata still knows the outcome.
    stored = JobHandle(handle.run_id, json.loads(json.dumps(handle.metadata)))
    assert HttpRunner().status(stored).state is JobState.SUCCEEDED


def test_dict_body_is_json_with_expansion_and_string_body_is_sent_as_is(
    server: FakeServer, runner: HttpRunner
) -> None:
    server.on("PUT", "/hook", Reply(204))
    runner.submit(
        job(
            server,
            method="PUT",
            body={"day": "$INTERLOCK_PERIOD", "n": 1, "l": ["$INTERLOCK_TOKEN"]},
        ),
        RUN,
        TOKEN,
    )
    assert server.requests[-1].json() == {"day": "2026-03-04T07", "n": 1, "l": [TOKEN]}
    runner.submit(
        job(server, method="PUT", body="plain; rm -rf / $5 ${INTERLOCK_PIPELINE}"),
        RUN,
        TOKEN,
    )
    assert server.requests[-1].body == b"plain; rm -rf / $5 orders"


def test_a_5xx_is_not_sent_again_and_may_have_started_the_job(
    server: FakeServer, runner: HttpRunner, sleeps: SleepRecorder
) -> None:
    # The target may have started the job before failing: another POST could start a second.
    server.on("POST", "/hook", Reply(503, body=b"busy\x00\nnow"))
    with pytest.raises(JobError) as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is True
    assert "HTTP 503" in str(caught.value)
    assert "busy now" in str(caught.value)
    assert len(server.calls("POST", "/hook")) == 1
    assert sleeps == []


def test_a_refused_connection_is_retried_with_backoff_and_started_nothing(
    runner: HttpRunner, sleeps: SleepRecorder
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = HttpJob.model_validate(
        {"url": f"http://127.0.0.1:{port}/", "allowPrivateNetwork": True}
    )
    with pytest.raises(JobError) as caught:
        runner.submit(config, RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False
    assert sleeps == [pytest.approx(0.2), pytest.approx(0.4)]


def test_a_5xx_status_poll_is_retried(server: FakeServer, runner: HttpRunner) -> None:
    server.on("POST", "/hook", Reply(200, {"run_id": 7}))
    server.on("GET", "/s/7", Reply(502), Reply(200, {"state": "success"}))
    handle = runner.submit(job(server, statusUrl=server.url + "/s/{run_id}"), RUN, TOKEN)
    assert runner.status(handle).state is JobState.SUCCEEDED
    assert len(server.calls("GET", "/s/7")) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_permanent_and_not_retried(
    server: FakeServer, runner: HttpRunner, status: int
) -> None:
    server.on("POST", "/hook", Reply(status, {"error": "nope"}))
    with pytest.raises(JobError) as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert caught.value.may_have_started is False  # a refusal: nothing was started
    assert f"HTTP {status}" in str(caught.value)
    assert len(server.requests) == 1


def test_429_is_transient_and_started_nothing(server: FakeServer, runner: HttpRunner) -> None:
    server.on("POST", "/hook", Reply(429, {"error": "slow down"}))
    with pytest.raises(JobError) as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False


def test_timeout_is_transient_may_have_started_and_is_not_sent_again(
    server: FakeServer, runner: HttpRunner
) -> None:
    server.on("POST", "/hook", Reply(200, {}, delay=3))
    with pytest.raises(JobError, match="timed out") as caught:
        runner.submit(job(server, timeout=0.2), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is True
    assert len(server.calls("POST", "/hook")) == 1


def test_missing_token_env_is_permanent_and_names_the_variable(
    server: FakeServer, runner: HttpRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(JobError, match="NOPE_TOKEN") as caught:
        runner.submit(job(server, tokenEnv="NOPE_TOKEN"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT
    assert caught.value.may_have_started is False
    assert server.requests == []


def test_user_info_in_a_url_is_never_stored(server: FakeServer, runner: HttpRunner) -> None:
    # Configs refuse it; a handle built from an unchecked config must not keep it either.
    server.on("POST", "/hook", Reply(200, {"run_id": "r1"}))
    authority = f"svc:S3cr3tPW@127.0.0.1:{server.port}"
    config = HttpJob.model_construct(
        url=f"http://{authority}/hook",
        status_url=f"http://{authority}/s/{{run_id}}",
        allow_private_network=True,
    )
    handle = runner.submit(config, RUN, TOKEN)
    assert "S3cr3tPW" not in json.dumps(handle.metadata)
    assert handle.metadata["url"] == server.url + "/hook"
    assert handle.metadata["status_url"] == server.url + "/s/r1"
    assert "authorization" not in server.requests[0].headers


def test_status_url_polling_from_a_fresh_runner(
    server: FakeServer, runner: HttpRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    server.on("POST", "/hook", Reply(202, {"data": {"id": "r/42"}}))
    server.on(
        "GET",
        "/runs/r%2F42",
        Reply(200, {"status": {"phase": "QUEUED"}}),
        Reply(200, {"status": {"phase": "Running"}}),
        Reply(200, {"status": {"phase": "SUCCEEDED"}}),
    )
    config = job(
        server,
        tokenEnv="HOOK_TOKEN",
        statusUrl=server.url + "/runs/{run_id}",
        runIdField="data.id",
        statusField="status.phase",
        headers={"X-Attempt": "$INTERLOCK_ATTEMPT"},
    )
    handle = runner.submit(config, RUN, TOKEN)
    assert handle.result is None
    assert handle.run_id == "r/42"
    assert handle.metadata["status_url"] == server.url + "/runs/r%2F42"
    assert SECRET not in json.dumps(handle.metadata)
    other_process = HttpRunner()
    states = [other_process.status(handle).state for _ in range(3)]
    assert states == [JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]
    polled = server.calls("GET", "/runs/r%2F42")[0]
    assert polled.headers["authorization"] == f"Bearer {SECRET}"
    assert polled.headers["x-attempt"] == "2"
    assert runner.cancel(handle) is False  # no cancel API: never claims a stop


def test_failure_values_fail_transient_and_status_errors_raise(
    server: FakeServer, runner: HttpRunner
) -> None:
    server.on("POST", "/hook", Reply(200, {"run_id": 7}))
    server.on("GET", "/s/7", Reply(200, {"state": "ERROR"}))
    handle = runner.submit(job(server, statusUrl=server.url + "/s/{run_id}"), RUN, TOKEN)
    result = runner.status(handle)
    assert result.state is JobState.FAILED
    assert result.category is FailureCategory.TRANSIENT
    server.on("GET", "/s/7", Reply(404, {"detail": "gone"}))
    with pytest.raises(JobError) as caught:
        runner.status(handle)
    assert caught.value.category is FailureCategory.PERMANENT


def test_409_adopts_when_a_run_id_is_given(server: FakeServer, runner: HttpRunner) -> None:
    server.on("POST", "/hook", Reply(409, {"run_id": "existing"}))
    handle = runner.submit(job(server, statusUrl=server.url + "/s/{run_id}"), RUN, TOKEN)
    assert handle.run_id == "existing"
    assert handle.metadata["adopted"] is True


def test_409_without_a_run_id_cannot_be_adopted(server: FakeServer, runner: HttpRunner) -> None:
    server.on("POST", "/hook", Reply(409, {"detail": "dup"}))
    with pytest.raises(JobError, match="cannot be adopted") as caught:
        runner.submit(job(server, statusUrl=server.url + "/s/{run_id}"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT


def test_409_on_a_synchronous_call_is_transient(server: FakeServer, runner: HttpRunner) -> None:
    # The first request with this Idempotency-Key is still in progress: outcome unknown.
    server.on("POST", "/hook", Reply(409))
    with pytest.raises(JobError, match="in progress") as caught:
        runner.submit(job(server), RUN, TOKEN)
    assert caught.value.category is FailureCategory.TRANSIENT


def test_missing_run_id_for_a_status_url_is_permanent(
    server: FakeServer, runner: HttpRunner
) -> None:
    server.on("POST", "/hook", Reply(200, {"other": 1}))
    with pytest.raises(JobError, match="run_id") as caught:
        runner.submit(job(server, statusUrl=server.url + "/s/{run_id}"), RUN, TOKEN)
    assert caught.value.category is FailureCategory.PERMANENT


def test_the_server_never_sees_a_secret_in_an_error_message(
    server: FakeServer, runner: HttpRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)

    def echo(request: Recorded) -> Reply:
        return Reply(400, {"detail": "bad"})

    server.on("POST", "/hook", echo)
    with pytest.raises(JobError) as caught:
        runner.submit(job(server, tokenEnv="HOOK_TOKEN"), RUN, TOKEN)
    assert SECRET not in str(caught.value)


def test_read_field() -> None:
    data = {"a": {"b": [{"c": 3}]}}
    assert read_field(data, "a.b.0.c") == 3
    assert read_field(data, "a.x") is None
    assert read_field(None, "a") is None
