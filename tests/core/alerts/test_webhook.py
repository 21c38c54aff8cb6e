"""WebhookChannel against a local receiver that checks the HMAC signature."""

import hashlib
import hmac
import json
import logging
import time

import pytest

from interlock_core.alerts.base import DeliveryError
from interlock_core.alerts.webhook import WebhookChannel, sign, verify_signature
from interlock_core.events import Event, EventType
from tests.core.alerts.fakes import WEBHOOK_SECRET, FakeServer, Reply, make_event


def channel(server: FakeServer, **kwargs: object) -> WebhookChannel:
    env = {"HOOK_URL": server.url + "/hook?key=URLSECRET", "HOOK_SECRET": WEBHOOK_SECRET}
    options: dict[str, object] = {
        "url_env": "HOOK_URL",
        "secret_env": "HOOK_SECRET",
        "env": env,
        "timeout": 2.0,
        "clock": lambda: 1_772_357_400.7,
        "allow_private_network": True,  # the receiver listens on 127.0.0.1
    }
    options.update(kwargs)
    return WebhookChannel("pager", **options)  # type: ignore[arg-type]


def test_posts_signed_events(webhook_server: FakeServer) -> None:
    events = [make_event(EventType.SLA_BREACH), make_event(EventType.JOB_FAILED, pipeline="b")]
    channel(webhook_server).send(events)
    [request] = webhook_server.requests
    assert request.path == "/hook?key=URLSECRET"
    body = request.json
    assert [Event.from_dict(e) for e in body["events"]] == events
    assert body["sentAt"] == 1_772_357_400
    assert request.headers["x-interlock-timestamp"] == "1772357400"
    expected = hmac.new(WEBHOOK_SECRET.encode(), request.raw, hashlib.sha256).hexdigest()
    assert request.headers["x-interlock-signature"] == f"sha256={expected}"
    signature = request.headers["x-interlock-signature"]
    assert verify_signature(request.raw, WEBHOOK_SECRET, signature, now=1_772_357_460)


def test_the_receiver_rejects_a_wrong_secret(webhook_server: FakeServer) -> None:
    env = {"HOOK_URL": webhook_server.url, "HOOK_SECRET": "not-the-secret"}
    with pytest.raises(DeliveryError, match="HTTP 401") as info:
        channel(webhook_server, env=env).send([make_event()])
    assert not info.value.retryable


def test_verify_signature_rejects_tampering() -> None:
    body = json.dumps({"events": [], "sentAt": int(time.time())}).encode()
    signature = sign(body, "s")
    assert verify_signature(body, "s", signature)
    assert not verify_signature(body + b" ", "s", signature)
    assert not verify_signature(body, "t", signature)
    assert not verify_signature(body, "s", None)


def test_verify_signature_rejects_replays_older_than_the_maximum_age() -> None:
    body = json.dumps({"events": [], "sentAt": 1_000_000}).encode()
    signature = sign(body, "s")
    assert verify_signature(body, "s", signature, now=1_000_299)
    assert not verify_signature(body, "s", signature, now=1_000_301)  # default: 5 minutes
    assert not verify_signature(body, "s", signature)  # captured long ago, replayed now
    assert verify_signature(body, "s", signature, max_age=3600, now=1_003_000)
    assert not verify_signature(body, "s", signature, max_age=60, now=1_000_061)
    assert not verify_signature(body, "s", signature, now=999_000)  # from the future
    unstamped = json.dumps({"events": []}).encode()
    assert not verify_signature(unstamped, "s", sign(unstamped, "s"))
    assert verify_signature(unstamped, "s", sign(unstamped, "s"), max_age=None)


def test_unsigned_without_a_secret_and_a_literal_url(webhook_server: FakeServer) -> None:
    hook = WebhookChannel(
        "hook", url=webhook_server.url + "/plain", timeout=2.0, allow_private_network=True
    )
    hook.send([make_event()])
    [request] = webhook_server.requests
    assert request.path == "/plain"
    assert "x-interlock-signature" not in request.headers
    assert "x-interlock-timestamp" in request.headers


def test_a_url_or_url_env_is_required() -> None:
    with pytest.raises(ValueError, match="url"):
        WebhookChannel("hook")


@pytest.mark.parametrize(
    ("env", "missing"),
    [({"HOOK_SECRET": "s"}, "HOOK_URL"), ({"HOOK_URL": "http://127.0.0.1:1/"}, "HOOK_SECRET")],
)
def test_missing_variables_are_permanent_failures(
    webhook_server: FakeServer, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(DeliveryError, match=f"{missing} is not set") as info:
        channel(webhook_server, env=env).send([make_event()])
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after"),
    [
        (Reply(429, None, {"Retry-After": "2"}), True, 2.0),
        (Reply(500, None), True, None),
        (Reply(503, None), True, None),
        (Reply(408, None), True, None),
        (Reply(400, None), False, None),
        (Reply(404, None), False, None),
        (Reply(301, None, {"Location": "/x"}), False, None),
    ],
)
def test_status_classification(
    webhook_server: FakeServer, reply: Reply, retryable: bool, retry_after: float | None
) -> None:
    webhook_server.reply(reply)
    with pytest.raises(DeliveryError) as info:
        channel(webhook_server).send([make_event()])
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(webhook_server: FakeServer, status: int) -> None:
    webhook_server.reply(Reply(status, None))
    channel(webhook_server).send([make_event()])


def test_secrets_never_reach_errors_or_logs(
    webhook_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_server.reply(Reply(500, None), Reply(400, None), Reply(200, None, delay=0.5))
    hook = channel(webhook_server, timeout=0.2)
    messages = []
    for _ in range(3):
        with pytest.raises(DeliveryError) as info:
            hook.send([make_event()])
        messages.append(f"{info.value!s} {info.value!r}")
    for secret in ("URLSECRET", WEBHOOK_SECRET, webhook_server.url):
        assert all(secret not in m for m in messages)
        assert secret not in caplog.text
