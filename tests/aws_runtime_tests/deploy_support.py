"""Shared pieces of the deployment tests: one Lambda bundle per test process, and a moto
server on 127.0.0.1 that runs the deployed functions' real handlers in-process.

moto runs Lambda code only in docker, so ``LambdaFunction._invoke_lambda`` (moto 5.2's
private API, see the toolchain notes) is patched to call the handler named by the function,
with the function's own ``Environment`` laid over ``os.environ`` for that request's thread
(moto serves each request on its own thread). A state machine created by CloudFormation
lives where moto's executing API does not look; ``stepfunctions_backends`` is pointed at the
executing backend (toolchain notes). Stream records reach their Lambda once each, as Lambda's
stream polling does (``world.deliver_each_record_once``): moto 5.2 re-sends every buffered
record on each nested write, and a trigger write handled again and again, beside the execution
stepping its run, is the likeliest cause of a flake where the job ran for attempts 1 and 2.
"""

import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTERLOCK = str(Path(sys.executable).with_name("interlock"))
REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
HTTP_TIMEOUT_SECONDS = 10


@dataclass
class BuiltBundle:
    """The bundle built for this test process and what it cost."""

    path: Path
    wheels: Path
    seconds: float
    output: str


@functools.cache
def wheel_cache() -> Path:
    """Lambda-platform wheels of the runtime dependencies, downloaded once per process.

    ``INTERLOCK_TEST_WHEELS=DIR`` uses a directory of such wheels instead (fully offline);
    otherwise pip downloads them from the package index (its HTTP cache makes reruns cheap).
    """
    from aws_runtime.packaging import ARCHITECTURES, runtime_requirements

    given = os.environ.get("INTERLOCK_TEST_WHEELS")
    if given:
        return Path(given)
    directory = Path(tempfile.mkdtemp(prefix="interlock-wheels-"))
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--dest",
        str(directory),
        "--platform",
        ARCHITECTURES["arm64"],
        "--implementation",
        "cp",
        "--python-version",
        "3.12",
        "--only-binary=:all:",
        *runtime_requirements(),
    ]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    return directory


@functools.cache
def built_bundle() -> BuiltBundle:
    """``interlock aws package`` run once per process (offline, from the wheel cache)."""
    wheels = wheel_cache()
    out = Path(tempfile.mkdtemp(prefix="interlock-bundle-")) / "bundle.zip"
    started = time.monotonic()
    result = subprocess.run(
        [INTERLOCK, "aws", "package", "--out", str(out), "--wheels", str(wheels)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    return BuiltBundle(out, wheels, seconds, result.stdout)


# ----------------------------------------------------------------------------- moto server


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay (one Lambda function's variables)."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self.local = threading.local()

    def _overlay(self) -> dict[str, str]:
        return getattr(self.local, "env", None) or {}

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        return overlay[key] if key in overlay else self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self.base, **self._overlay()})

    def __len__(self) -> int:
        return len({**self.base, **self._overlay()})

    def copy(self) -> dict[str, str]:
        return dict(self)

    @contextmanager
    def overlay(self, env: dict[str, str]) -> Iterator[None]:
        previous = getattr(self.local, "env", None)
        self.local.env = env
        try:
            yield
        finally:
            self.local.env = previous


@dataclass
class Server:
    """A running moto server and what its Lambda functions did."""

    endpoint: str
    port: int
    env: dict[str, str]
    calls: dict[str, list[Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: API requests the server answered, by "service:Action" (moto's dispatch).
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        _post(f"{self.endpoint}/moto-api/reset", {})
        _post(
            f"{self.endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}}
        )
        with self.lock:
            self.calls.clear()
            self.errors.clear()
            self.requests.clear()
        from aws_runtime import context

        context.reset()

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``interlock ARGS`` against the server, as a user would."""
        return subprocess.run(
            [INTERLOCK, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
            cwd=ROOT,
        )


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS):
        pass


#: Functions the tests create as "the user's job" (not Interlock handlers).
JOB_RESULT = {"ok": True}


@contextmanager
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A moto server on 127.0.0.1 that runs the deployed handlers in this process."""
    import moto.stepfunctions.responses  # noqa: F401 - loads the backends before the patch
    from moto.awslambda.models import LambdaFunction
    from moto.core.responses import BaseResponse
    from moto.dynamodb.models.table import StreamShard
    from moto.server import ThreadedMotoServer
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from tests.aws_runtime_tests.world import deliver_each_record_once
    from tests.core.storage.dynamodb_support import keep_tables_on_cancelled_transactions

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INTERLOCK_"))},
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "MOTO_PORT": str(port),
    }
    state = Server(endpoint, port, env)
    environ = ThreadEnviron(os.environ)
    monkeypatch.setattr(os, "environ", environ)
    for key in [k for k in environ.base if k.startswith(("AWS_", "INTERLOCK_"))]:
        monkeypatch.delitem(environ.base, key)
    for key, value in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setitem(environ.base, key, value)
    monkeypatch.setitem(environ.base, "MOTO_PORT", str(port))
    monkeypatch.setitem(environ.base, "INTERLOCK_STATE_DIR", tempfile.mkdtemp())
    monkeypatch.setitem(environ.base, "INTERLOCK_MAX_WAIT_SECONDS", "1")
    monkeypatch.setattr(sfn_models, "stepfunctions_backends", stepfunctions_parser_backends)

    def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event or "{}")
        handler = str(function.run_time and function.handler)
        name = handler.rsplit(".", 1)[0].removeprefix("aws_runtime.handlers.")
        with state.lock:
            state.calls.setdefault(name, []).append(event)
        try:
            if not handler.startswith("aws_runtime.handlers."):
                return json.dumps(JOB_RESULT), False, ""
            module = importlib.import_module(handler.rsplit(".", 1)[0])
            with environ.overlay(dict(function.environment_vars or {})):
                result = module.handler(event, None)
        except Exception as exc:
            with state.lock:
                state.errors.append(f"{name}: {exc!r}")
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error), True, ""
        return json.dumps(result), False, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
    monkeypatch.setattr(StreamShard, "add", deliver_each_record_once)
    keep_tables_on_cancelled_transactions(monkeypatch)
    original_call_action = BaseResponse.call_action

    def counted_call_action(self: Any) -> Any:
        with state.lock:
            state.requests[f"{self.service_name}:{self._get_action()}"] += 1
        return original_call_action(self)

    monkeypatch.setattr(BaseResponse, "call_action", counted_call_action)
    try:
        state.reset()
        yield state
    finally:
        server.stop()
