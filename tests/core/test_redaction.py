"""Secrets never stored or echoed; terminal output never carries control characters."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock_core.clock import ManualClock
from interlock_core.config.errors import ConfigError
from interlock_core.config.loader import load_pipeline_text
from interlock_core.engine import Interlock
from interlock_core.jobs.http import HttpRunner
from interlock_core.redaction import REDACTED, printable, redact, secret_values
from interlock_core.runs import RunStatus
from interlock_core.storage import open_store
from tests.core.engine.fixtures import apply_documents
from tests.core.isolation_clock import NOW

TOKEN = "tok-0123456789-SECRET"


class EchoingReceiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": f"invalid token {self.headers['Authorization']}"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jobs"
    server.shutdown()
    server.server_close()


def test_a_401_echoing_the_token_is_stored_redacted(
    tmp_path: Path, echoing_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_SERVICE", TOKEN)  # no secret-looking name: tokenEnv marks it
    store_url = f"sqlite:///{tmp_path / 'interlock.db'}"
    engine = Interlock(open_store(store_url), {"http": HttpRunner()}, ManualClock(NOW))
    document: dict[str, Any] = {
        "pipeline": {"id": "orders"},
        "schedule": {"cron": "0 6 * * *"},
        "job": {
            "type": "http",
            "config": {
                "url": echoing_url,
                "tokenEnv": "ORDERS_SERVICE",
                "allowPrivateNetwork": True,
            },
        },
    }
    apply_documents(engine, document)
    engine.open_run("orders", "2026-03-04")
    engine.advance_due()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.FAILED
    assert "401" in run.message and REDACTED in run.message
    stored = [run.message] + [e.to_json() for e in engine.events()]
    assert not [text for text in stored if TOKEN in text]
    engine.store.close()
    assert TOKEN.encode() not in (tmp_path / "interlock.db").read_bytes()


def test_redact_and_secret_values() -> None:
    env = {"MY_API_KEY": "abcdef123", "PATH": "/usr/bin:/bin", "SHORT_TOKEN": "abc"}
    values = secret_values(env, extra=["extra-secret"])
    assert values == ["extra-secret", "abcdef123"]
    assert redact("key abcdef123 in /usr/bin", values) == f"key {REDACTED} in /usr/bin"


@pytest.mark.parametrize("header", ["X-Auth-Token", "Cookie", "x-api-key", "Authorization"])
def test_inline_credential_headers_are_refused(header: str) -> None:
    text = (
        "pipeline: {id: orders}\nschedule: {cron: '0 6 * * *'}\n"
        f"job: {{type: http, config: {{url: 'https://api.example.com/x', "
        f"headers: {{'{header}': 'abc123SECRET'}}}}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, "orders.yaml")
    assert "inline secret" in str(info.value)
    assert "abc123SECRET" not in str(info.value)


def test_printable_escapes_control_characters() -> None:
    assert printable("plain text é ✓") == "plain text é ✓"
    assert printable("a\x1b[2Jb\nc\td\u202e") == "a\\x1b[2Jb\\nc\\td\\u202e"


class HeaderEchoingReceiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body_in = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        echo = f"bad key {self.headers.get('X-Api-Key')} for request {body_in}"
        body = json.dumps({"error": echo}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_401_echoing_an_expanded_credential_is_stored_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only tokenEnv and secret-looking names were redacted: a credential sent through
    # ${INTERLOCK_ORDERS_API} in a header (or body) reached the run, events and the file.
    monkeypatch.setenv("INTERLOCK_ORDERS_API", TOKEN)
    monkeypatch.setenv("INTERLOCK_ORDERS_PW", "pw-9876543210-SECRET")
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeaderEchoingReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/jobs"
    store_url = f"sqlite:///{tmp_path / 'interlock.db'}"
    engine = Interlock(open_store(store_url), {"http": HttpRunner()}, ManualClock(NOW))
    document: dict[str, Any] = {
        "pipeline": {"id": "orders"},
        "schedule": {"cron": "0 6 * * *"},
        "job": {
            "type": "http",
            "config": {
                "url": url,
                "headers": {"X-Api-Key": "${INTERLOCK_ORDERS_API}"},
                "body": {"login": "$INTERLOCK_ORDERS_PW"},
                "allowPrivateNetwork": True,
            },
        },
    }
    try:
        apply_documents(engine, document)
        engine.open_run("orders", "2026-03-04")
        engine.advance_due()
    finally:
        server.shutdown()
        server.server_close()
    run = engine.run("orders", "2026-03-04")
    assert run is not None and run.status == RunStatus.FAILED
    assert "401" in run.message and REDACTED in run.message
    stored = [run.message] + [e.to_json() for e in engine.events()]
    assert not [text for text in stored if TOKEN in text or "pw-9876543210" in text]
    engine.store.close()
    data = (tmp_path / "interlock.db").read_bytes()
    assert TOKEN.encode() not in data and b"pw-9876543210" not in data


def test_job_credential_names() -> None:
    from interlock_core.config.jobs import AirflowJob, CommandJob
    from interlock_core.redaction import job_credential_names

    airflow = AirflowJob.model_validate(
        {
            "url": "https://af.example.com",
            "dagId": "d",
            "usernameEnv": "AF_USER",
            "passwordEnv": "AF_PW",
            "conf": {"x": "${INTERLOCK_A}-$INTERLOCK_PERIOD"},
        }
    )
    assert job_credential_names(airflow) == {"AF_USER", "AF_PW", "INTERLOCK_A"}
    command = CommandJob.model_validate({"command": ["run", "$INTERLOCK_B"], "env": ["DB_URL"]})
    assert job_credential_names(command) == {"DB_URL", "INTERLOCK_B"}


def test_job_credential_names_of_a_model_are_those_of_its_model_dump() -> None:
    # Models are walked through their fields (no serializer is built): nested models, lists
    # of models and extra fields are seen exactly as ``model_dump()`` would list them.
    from pydantic import BaseModel, ConfigDict

    from interlock_core.config.jobs import AirflowJob
    from interlock_core.redaction import job_credential_names

    class Target(BaseModel):
        token_env: str
        url: str

    class Job(BaseModel):
        model_config = ConfigDict(extra="allow")
        targets: list[Target]
        primary: Target
        args: tuple[str, ...] = ()

    job = Job.model_validate(
        {
            "targets": [{"token_env": "T1", "url": "$INTERLOCK_U"}],
            "primary": {"token_env": "T2", "url": "x"},
            "args": ["${INTERLOCK_ARG}"],
            "passwordEnv": "EXTRA_PW",
        }
    )
    airflow = AirflowJob.model_validate(
        {
            "url": "https://af.example.com",
            "dagId": "d",
            "usernameEnv": "AF_USER",
            "passwordEnv": "AF_PW",
        }
    )
    for model in (job, airflow):
        assert job_credential_names(model) == job_credential_names(model.model_dump())
    assert job_credential_names(job) == {"T1", "T2", "INTERLOCK_U", "INTERLOCK_ARG", "EXTRA_PW"}


def test_job_credential_names_see_root_models_and_computed_fields_as_model_dump_does() -> None:
    # A runner's own config may wrap a list in a RootModel or compute a field: model_dump()
    # lists both under the field's name, so the walk must too.
    from pydantic import BaseModel, RootModel, computed_field

    from interlock_core.redaction import job_credential_names

    class EnvList(RootModel[list[str]]):
        pass

    class Job(BaseModel):
        env: EnvList
        prefix: str

        @computed_field  # type: ignore[prop-decorator]
        @property
        def token_env(self) -> str:
            return f"{self.prefix}_TOKEN"

    job = Job.model_validate({"env": ["DB_URL"], "prefix": "SVC"})
    assert job_credential_names(job) == job_credential_names(job.model_dump())
    assert job_credential_names(job) == {"DB_URL", "SVC_TOKEN"}
