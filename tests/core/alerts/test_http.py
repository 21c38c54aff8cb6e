"""The urllib JSON POST helper: statuses, timeouts, no redirects, no URL in errors."""

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from interlock_core.alerts.http import HttpTransportError, parse_retry_after, post_json
from tests.core.alerts.fakes import FakeServer, Reply


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud instance metadata service"),
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.170.2/v2/credentials", "ECS task metadata"),
    ],
)
def test_non_public_targets_are_refused_without_the_opt_in(url: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match=reason) as info:
        post_json(url, {"x": 1}, headers={"Authorization": "Bearer SECRET"}, timeout=5)
    assert time.monotonic() - started < 1  # refused before any packet, not timed out
    assert "allowPrivateNetwork" in str(info.value)
    assert "hook" not in str(info.value) and "meta-data" not in str(info.value)


def test_the_opt_in_reaches_a_private_receiver(webhook_server: FakeServer) -> None:
    with pytest.raises(ValueError, match="loopback"):
        post_json(webhook_server.url, {}, timeout=2)
    assert webhook_server.requests == []
    assert post_json(webhook_server.url, {}, timeout=2, allow_private_network=True).status == 200


def test_one_deadline_per_request_against_a_trickling_receiver() -> None:
    # Headers, then one body byte every 100 ms forever: each read is quick, the whole is not.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    connection.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(HttpTransportError, match="timed out"):
            post_json(f"http://127.0.0.1:{port}/", {}, timeout=0.5, allow_private_network=True)
        assert time.monotonic() - started < 1.5
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def test_post_json_sends_json_and_returns_the_response(webhook_server: FakeServer) -> None:
    response = post_json(
        webhook_server.url + "/hook",
        {"a": 1},
        headers={"X-Test": "yes"},
        timeout=2,
        allow_private_network=True,
    )
    assert response.status == 200
    assert response.json() == {"received": True}
    assert response.header("Content-Type") == "application/json"
    [request] = webhook_server.requests
    assert request.path == "/hook"
    assert request.json == {"a": 1}
    assert request.headers["x-test"] == "yes"
    assert request.headers["content-type"].startswith("application/json")


def test_error_statuses_are_returned_not_raised(webhook_server: FakeServer) -> None:
    webhook_server.reply(Reply(503, {"error": "down"}, {"Retry-After": "7"}))
    response = post_json(webhook_server.url, {}, timeout=2, allow_private_network=True)
    assert response.status == 503
    assert response.json() == {"error": "down"}
    assert response.header("retry-after") == "7"


def test_a_slow_receiver_times_out_without_naming_the_url(webhook_server: FakeServer) -> None:
    webhook_server.reply(Reply(200, {}, delay=1.0))
    started = time.monotonic()
    with pytest.raises(HttpTransportError) as info:
        post_json(
            webhook_server.url + "/secret-path?token=abc",
            {},
            timeout=0.2,
            allow_private_network=True,
        )
    assert time.monotonic() - started < 0.9
    assert "timed out" in str(info.value)
    assert "secret-path" not in str(info.value)
    assert "abc" not in str(info.value)


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HttpTransportError) as info:
        post_json(
            f"http://127.0.0.1:{port}/x?key=s3cr3t", {}, timeout=1, allow_private_network=True
        )
    assert "s3cr3t" not in str(info.value)
    assert str(port) not in str(info.value)


def test_redirects_are_not_followed(webhook_server: FakeServer) -> None:
    # Following would forward the Authorization header to wherever Location points.
    webhook_server.reply(Reply(302, None, {"Location": webhook_server.url + "/elsewhere"}))
    response = post_json(
        webhook_server.url + "/start",
        {},
        headers={"Authorization": "Bearer t"},
        timeout=2,
        allow_private_network=True,
    )
    assert response.status == 302
    assert [r.path for r in webhook_server.requests] == ["/start"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "/relative"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="http and https"):
        post_json(url, {})


@pytest.mark.parametrize("timeout", [0, -1, float("inf")])
def test_the_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        post_json("http://127.0.0.1:1/", {}, timeout=timeout)


def test_parse_retry_after() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    http_date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(http_date, now=now) == 30.0
