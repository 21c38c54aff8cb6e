"""Test doubles: a real HTTP server on 127.0.0.1 playing Slack or a webhook receiver; events."""

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from interlock_core.events import Event, EventType

WEBHOOK_SECRET = "whsec-test-0123456789"


@dataclass(frozen=True)
class Reply:
    """What the server answers: a status, a JSON body, headers, and an optional delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    raw: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeServer:
    """A ThreadingHTTPServer that records POSTs and answers scripted replies, then a default."""

    def __init__(self, default: Callable[["FakeServer", Recorded], Reply]) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Reply] = deque()
        self.default = default
        self.lock = threading.Condition()
        self._ts = itertools.count(1)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=self.rfile.read(length),
                    at=time.monotonic(),
                )
                with server.lock:
                    server.requests.append(recorded)
                    server.lock.notify_all()
                    reply = server.script.popleft() if server.script else None
                if reply is None:
                    reply = server.default(server, recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def reply(self, *replies: Reply) -> None:
        """Queue replies for the next requests (then the default answers)."""
        with self.lock:
            self.script.extend(replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests arrived."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
            return True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def slack_reply(server: FakeServer, request: Recorded) -> Reply:
    """chat.postMessage: ok with a fresh ts."""
    body = request.json
    return Reply(200, {"ok": True, "channel": body.get("channel"), "ts": server.next_ts()})


def webhook_reply(server: FakeServer, request: Recorded) -> Reply:
    """A receiver that checks the HMAC signature when one is sent."""
    signature = request.headers.get("x-interlock-signature")
    if signature is not None:
        expected = (
            "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), request.raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(signature, expected):
            return Reply(401, {"error": "bad signature"})
    return Reply(200, {"received": True})


AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def make_event(
    event_type: EventType = EventType.SLA_BREACH,
    pipeline: str = "orders",
    period: str | None = "2026-03-01",
    message: str = "the SLA deadline passed",
    **detail: Any,
) -> Event:
    return Event(
        type=event_type,
        pipeline_id=pipeline,
        period=period,
        attempt=1,
        at=AT,
        message=message,
        detail=dict(detail),
    )
