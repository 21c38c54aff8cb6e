"""The operator's limits on jobs (interlock.yaml ``jobs``) and Interlock's reserved variables."""

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock_core.config.errors import ConfigError
from interlock_core.config.jobs import CommandJob, HttpJob
from interlock_core.jobs.base import FailureCategory, JobError, RunContext, expand_interlock
from interlock_core.jobs.command import CommandRunner
from interlock_core.jobs.http import HttpRunner
from interlock_core.jobs.policy import JobPolicy, load_job_policy, parse_job_policy
from interlock_core.jobs.registry import default_runners

RUN = RunContext("orders", "2026-03-04", 1)
ENV = {
    "SLACK_BOT_TOKEN": "xoxb-SLACK-SECRET",
    "INTERLOCK_STORE": "sqlite:////srv/interlock.db",
    "INTERLOCK_WEBHOOK_SECRET": "hook-secret-value",
    "INTERLOCK_ORDERS_KEY": "orders-key-value",
    "ORDERS_TOKEN": "orders-token-value",
    "OTHER_TOKEN": "other-token-value",
    "PAGER_TOKEN": "pager-token-value",
}


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append({"headers": dict(self.headers), "body": body.decode()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/run"
    server.shutdown()
    server.server_close()


def http_job(url: str, **fields: Any) -> HttpJob:
    return HttpJob.model_validate({"url": url, "allowPrivateNetwork": True, **fields})


def test_the_slack_token_is_never_a_jobs_token(receiver: str) -> None:
    runner = HttpRunner(environ=JobPolicy().environ(ENV))
    with pytest.raises(JobError, match="reserved for Interlock") as info:
        runner.submit(http_job(receiver, tokenEnv="SLACK_BOT_TOKEN"), RUN, "t1")
    assert info.value.category is FailureCategory.PERMANENT
    assert info.value.may_have_started is False
    assert Recorder.seen == []


def test_interlocks_own_variables_are_never_expanded(receiver: str) -> None:
    # Even a runner built without a policy (a library user's) never reads them.
    value = "${INTERLOCK_STORE}|$INTERLOCK_WEBHOOK_SECRET|${INTERLOCK_ORDERS_KEY}|$INTERLOCK_PERIOD"
    expanded = expand_interlock(value, {"INTERLOCK_PERIOD": "2026-03-04"}, ENV)
    assert expanded == "||orders-key-value|2026-03-04"
    runner = HttpRunner(environ=JobPolicy().environ(ENV))
    job = http_job(receiver, headers={"X-Store": "${INTERLOCK_STORE}"}, body={"s": value})
    runner.submit(job, RUN, "t2")
    [request] = Recorder.seen
    text = json.dumps(request)
    assert "srv/interlock.db" not in text and "hook-secret-value" not in text


def test_an_allow_list_limits_every_variable_jobs_read(receiver: str) -> None:
    policy = parse_job_policy({"env": ["ORDERS_TOKEN"]})
    runner = HttpRunner(environ=policy.environ(ENV))
    runner.submit(http_job(receiver, tokenEnv="ORDERS_TOKEN"), RUN, "t3")
    assert Recorder.seen[-1]["headers"]["Authorization"] == "Bearer orders-token-value"
    with pytest.raises(JobError, match=r"not in the jobs\.env allow-list"):
        runner.submit(http_job(receiver, tokenEnv="OTHER_TOKEN"), RUN, "t4")
    runner.submit(http_job(receiver, body={"k": "${INTERLOCK_ORDERS_KEY}"}), RUN, "t5")
    assert json.loads(Recorder.seen[-1]["body"]) == {"k": ""}


def test_command_jobs_cannot_allow_list_reserved_variables(tmp_path: Path) -> None:
    runner = CommandRunner(tmp_path / "state", environ=JobPolicy().environ(ENV))
    job = CommandJob.model_validate({"command": ["true"], "env": ["SLACK_BOT_TOKEN"]})
    with pytest.raises(JobError, match="reserved") as info:
        runner.submit(job, RUN, "t6")
    assert info.value.may_have_started is False
    assert not (tmp_path / "state" / "t6.json").exists()


def test_job_types_can_be_switched_off(tmp_path: Path) -> None:
    runners = default_runners(tmp_path / "state", policy=parse_job_policy({"types": ["http"]}))
    job = CommandJob.model_validate({"command": ["true"]})
    with pytest.raises(JobError, match="job type 'command' is switched off") as info:
        runners["command"].submit(job, RUN, "t7")
    assert info.value.category is FailureCategory.PERMANENT
    assert info.value.may_have_started is False


def test_private_network_opt_ins_can_be_switched_off(receiver: str, tmp_path: Path) -> None:
    policy = parse_job_policy({"allowPrivateNetwork": False})
    runners = default_runners(tmp_path / "state", policy=policy)
    with pytest.raises(JobError, match="allowPrivateNetwork is switched off"):
        runners["http"].submit(http_job(receiver), RUN, "t8")
    assert Recorder.seen == []


def test_the_policy_comes_from_interlock_yaml(tmp_path: Path) -> None:
    settings = tmp_path / "interlock.yaml"
    settings.write_text(
        "jobs:\n  env: [ORDERS_TOKEN, PAGER_TOKEN]\n  types: [http, command]\n"
        "alerts:\n  channels:\n"
        "    pager: {type: webhook, urlEnv: PAGER_URL, secretEnv: PAGER_TOKEN}\n"
    )
    policy = load_job_policy(settings)
    assert policy.env_refusal("ORDERS_TOKEN") is None
    # An alert channel's credential stays the operator's even when listed for jobs.
    assert "reserved" in (policy.env_refusal("PAGER_TOKEN") or "")
    assert policy.type_refusal("glue") is not None
    assert load_job_policy(None) == JobPolicy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs:\n  types: [comand]\n", "unknown job type"),
        ("jobs:\n  env: ORDERS_TOKEN\n", "must be a list of names"),
        ("jobs:\n  allowPrivateNetwork: 'no'\n", "true or false"),
        ("jobs:\n  shell: true\n", "unknown key"),
        ("jobs:\n  env: [A]\n  env: [B]\n", "duplicate"),
    ],
)
def test_a_bad_jobs_section_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    settings = tmp_path / "interlock.yaml"
    settings.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_job_policy(settings)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_the_controller_is_not_dumpable() -> None:
    code = (
        "from interlock_core.process_guard import protect_controller, is_dumpable;"
        "print(is_dumpable(), protect_controller(), is_dumpable())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert out.split() == ["True", "True", "False"]


def test_validate_checks_the_jobs_section(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from interlock_core.cli import main

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "orders.yaml").write_text(
        "pipeline: {id: orders}\nschedule: {cron: '0 6 * * *'}\n"
    )
    (pipelines / "interlock.yaml").write_text("jobs:\n  typez: [http]\n")
    result = CliRunner().invoke(main, ["validate", str(pipelines)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "unknown key 'typez'" in result.output


@pytest.mark.usefixtures("aws_env")
def test_the_allow_list_also_governs_aws_job_payloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The EMR, EMR Serverless and Lambda runners expanded ${INTERLOCK_*} from os.environ,
    # around the operator's jobs.env list: a pipeline file could send any INTERLOCK_ variable
    # to a function it names.
    import io

    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from interlock_core.config.jobs import LambdaJob

    monkeypatch.setenv("INTERLOCK_ORDERS_KEY", "orders-key-value")
    monkeypatch.setenv("INTERLOCK_ALLOWED", "allowed-value")
    client = boto3.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(b"{}"), 2),
            "ResponseMetadata": {"RequestId": "r1", "HTTPStatusCode": 200},
        },
        {
            "FunctionName": "loader",
            "InvocationType": "RequestResponse",
            "Payload": b'{"k": "", "a": "allowed-value"}',
        },
    )
    policy = parse_job_policy({"env": ["INTERLOCK_ALLOWED"]})
    runners = default_runners(tmp_path, client_factory=lambda s, r: client, policy=policy)
    job = LambdaJob(
        function_name="loader",
        payload='{"k": "${INTERLOCK_ORDERS_KEY}", "a": "${INTERLOCK_ALLOWED}"}',
    )
    with stub:
        runners["lambda"].submit(job, RUN, "t9")
    stub.assert_no_pending_responses()


def test_an_allow_list_keeps_the_baseline_environment_of_command_jobs(tmp_path: Path) -> None:
    # With jobs.env set, PATH, HOME and LANG were hidden too: every command job ran with sh's
    # default PATH (/bin:/usr/bin) and no HOME, so `python3 etl.py` from a venv broke.
    import time

    env = {**ENV, "PATH": "/opt/tools/bin:/usr/bin:/bin", "HOME": "/home/ops", "LANG": "C.UTF-8"}
    policy = parse_job_policy({"env": ["ORDERS_TOKEN", "OTHER_TOKEN"]})
    runner = CommandRunner(tmp_path / "state", environ=policy.environ(env))
    out = tmp_path / "env.txt"
    script = f'echo "$PATH|$HOME|$LANG|$ORDERS_TOKEN|$SLACK_BOT_TOKEN|$PAGER_TOKEN" > {out}'
    job = CommandJob.model_validate({"command": ["sh", "-c", script], "env": ["ORDERS_TOKEN"]})
    runner.submit(job, RUN, "t10")
    deadline = time.monotonic() + 10
    while not (out.exists() and out.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (
        out.read_text() == "/opt/tools/bin:/usr/bin:/bin|/home/ops|C.UTF-8|orders-token-value||\n"
    )


def test_a_wrapped_runner_keeps_what_the_controller_reads_of_it(tmp_path: Path) -> None:
    # allowPrivateNetwork: false wraps every runner; the command runner must still say that
    # its jobs end locally (seen at once) and that it dedups on the token (grouped advance).
    policy = parse_job_policy({"allowPrivateNetwork": False})
    command = default_runners(tmp_path / "state", policy=policy)["command"]
    assert type(command).__name__ == "PolicyRunner"
    assert getattr(command, "exits_locally", False) is True
    assert getattr(command, "dedups_on_token", False) is True
    http = default_runners(tmp_path / "state", policy=policy)["http"]
    assert getattr(http, "exits_locally", False) is False
