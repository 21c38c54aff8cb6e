"""The SSRF guard and the shared HTTP client."""

import contextlib
import ipaddress
import socket
import threading
import time
from typing import Any

import pytest

from interlock_core.config.jobs import HttpJob
from interlock_core.jobs.base import FailureCategory, JobError, RunContext
from interlock_core.jobs.http import HttpRunner
from interlock_core.jobs.netguard import (
    HttpClient,
    backoff_delay,
    excerpt,
    forbidden_reason,
    safe_url,
)
from tests.core.jobs.conftest import FakeServer, Reply, SleepRecorder

RUN = RunContext("orders", "2026-03-04", 1)


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("127.0.0.1", "loopback"),
        ("127.5.6.7", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "ECS task metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),  # Python files 240/4 under private
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.1.2.3", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_forbidden_addresses(address: str, fragment: str) -> None:
    reason = forbidden_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert fragment in reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def _fake_resolver(table: dict[str, str]) -> Any:
    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        address = table[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr: tuple[Any, ...] = (address, port, 0, 0) if ":" in address else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    return resolve


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:9/run", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://169.254.170.2/v2/credentials", "169.254.170.2"),
        ("http://[::1]:9/run", "::1"),
        ("http://10.0.0.1/run", "10.0.0.1"),
        ("http://localhost:9/run", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:9/run", "::ffff:127.0.0.1"),
        ("https://169.254.169.254/", "169.254.169.254"),
    ],
)
def test_http_job_refuses_before_connecting(
    url: str, address: str, outbound_connects: list[Any]
) -> None:
    runner = HttpRunner(sleep=SleepRecorder())
    with pytest.raises(JobError) as caught:
        runner.submit(HttpJob(url=url), RUN, "tok")
    assert caught.value.category is FailureCategory.PERMANENT
    message = str(caught.value)
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    assert host in message
    assert address.split("%")[0] in message or "localhost" in message
    assert "allowPrivateNetwork" in message
    assert outbound_connects == []  # refused before any socket connected


def test_a_public_looking_name_resolving_to_a_private_address_is_refused(
    outbound_connects: list[Any],
) -> None:
    client = HttpClient(timeout=1, resolver=_fake_resolver({"api.example.com": "10.0.0.1"}))
    with pytest.raises(JobError, match=r"'api\.example\.com'.*10\.0\.0\.1.*private"):
        client.request("GET", "http://api.example.com/x")
    assert outbound_connects == []


def test_allow_private_network_lets_loopback_through(
    server: FakeServer, outbound_connects: list[Any]
) -> None:
    server.on("GET", "/ok", Reply(200, {"fine": True}))
    response = HttpClient(timeout=2, allow_private_network=True).request("GET", server.url + "/ok")
    assert response.status == 200
    assert response.json() == {"fine": True}
    assert outbound_connects
    assert outbound_connects[0][0] == "127.0.0.1"


def test_every_redirect_hop_is_checked(server: FakeServer, outbound_connects: list[Any]) -> None:
    # A policy that trusts 127.0.0.1 only stands in for "public": the redirect to
    # 127.0.0.2 (another address) must be refused before it is dialled.
    def only_127_0_0_1(ip: Any) -> str | None:
        return None if str(ip) == "127.0.0.1" else "not the test server"

    server.on(
        "GET", "/start", Reply(302, headers={"Location": f"http://127.0.0.2:{server.port}/x"})
    )
    client = HttpClient(timeout=2, policy=only_127_0_0_1)
    with pytest.raises(JobError, match=r"127\.0\.0\.2.*not the test server") as caught:
        client.request("GET", server.url + "/start")
    assert caught.value.category is FailureCategory.PERMANENT
    assert [a[0] for a in outbound_connects] == ["127.0.0.1"]


def test_credentials_do_not_follow_a_redirect_to_another_origin() -> None:
    first, second = FakeServer(), FakeServer()
    try:
        first.on("POST", "/hook", Reply(307, headers={"Location": second.url + "/moved"}))
        second.on("POST", "/moved", Reply(200, {"ok": True}))
        client = HttpClient(timeout=2, allow_private_network=True)
        response = client.request(
            "POST",
            first.url + "/hook",
            headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k", "Idempotency-Key": "t"},
            json_body={"a": 1},
        )
        assert response.status == 200
        assert first.requests[0].headers["authorization"] == "Bearer s3cret"
        moved = second.requests[0]
        assert moved.method == "POST"  # 307 keeps the method and the body
        assert moved.json() == {"a": 1}
        assert "authorization" not in moved.headers
        assert "x-api-key" not in moved.headers
        assert moved.headers["idempotency-key"] == "t"
    finally:
        first.close()
        second.close()


def test_303_turns_post_into_get_and_redirect_loops_stop(server: FakeServer) -> None:
    server.on("POST", "/a", Reply(303, headers={"Location": "/b"}))
    server.on("GET", "/b", Reply(200, {"done": True}))
    client = HttpClient(timeout=2, allow_private_network=True)
    assert client.request("POST", server.url + "/a", json_body={"x": 1}).status == 200
    assert server.calls("GET", "/b")[0].body == b""

    server.on("GET", "/loop", Reply(302, headers={"Location": "/loop"}))
    with pytest.raises(JobError, match="more than 5 redirects") as caught:
        client.request("GET", server.url + "/loop")
    assert caught.value.category is FailureCategory.PERMANENT


def test_connection_refused_is_transient_after_retries(sleeps: SleepRecorder) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    client = HttpClient(timeout=1, allow_private_network=True, sleep=sleeps, rand=lambda: 0.5)
    with pytest.raises(JobError) as caught:
        client.request("GET", f"http://127.0.0.1:{port}/", retries=2)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert "ConnectionRefused" in str(caught.value)
    assert sleeps == [pytest.approx(0.2), pytest.approx(0.4)]


def test_slow_server_times_out(server: FakeServer) -> None:
    server.on("GET", "/slow", Reply(200, {"late": True}, delay=3))
    client = HttpClient(timeout=0.3, allow_private_network=True)
    with pytest.raises(JobError, match=r"timed out after 0\.3 s") as caught:
        client.request("GET", server.url + "/slow")
    assert caught.value.category is FailureCategory.TRANSIENT


def test_backoff_is_capped_and_jittered() -> None:
    assert backoff_delay(0, lambda: 0.5) == pytest.approx(0.2)
    assert backoff_delay(1, lambda: 0.5) == pytest.approx(0.4)
    assert backoff_delay(10, lambda: 0.5) == pytest.approx(2.0)
    assert backoff_delay(0, lambda: 0.0) == pytest.approx(0.14)
    assert backoff_delay(0, lambda: 0.999999) == pytest.approx(0.26)


def test_safe_url_and_excerpt_hide_what_they_should() -> None:
    assert safe_url("https://user:pw@host.example:8443/p?q=1") == "https://host.example:8443/p?q=1"
    assert safe_url("https://host.example/p") == "https://host.example/p"
    assert excerpt(b"line1\nline2\x00\x07end") == "line1 line2 end"
    assert excerpt(b"x" * 600).endswith("…")
    assert len(excerpt(b"x" * 600)) == 513


def test_unknown_host_is_transient(outbound_connects: list[Any]) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = HttpClient(timeout=1, resolver=fail)
    with pytest.raises(JobError, match="cannot resolve") as caught:
        client.request("GET", "http://nowhere.invalid/")
    assert caught.value.category is FailureCategory.TRANSIENT
    assert outbound_connects == []


# --- what is retried, and whether a failed request may have started the job ----------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


def test_connection_refused_never_reached_the_target(sleeps: SleepRecorder) -> None:
    client = HttpClient(timeout=1, allow_private_network=True, sleep=sleeps, rand=lambda: 0.5)
    with pytest.raises(JobError) as caught:
        client.request("POST", f"http://127.0.0.1:{_closed_port()}/", body=b"{}", retries=2)
    assert caught.value.may_have_started is False
    assert len(sleeps) == 2  # a POST is retried when it certainly never left


def test_a_failed_lookup_is_retried_and_never_reached_the_target(sleeps: SleepRecorder) -> None:
    lookups: list[str] = []

    def fail(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    client = HttpClient(timeout=1, resolver=fail, sleep=sleeps)
    with pytest.raises(JobError, match="cannot resolve") as caught:
        client.request("POST", "http://jobs.example.com/run", retries=1)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is False
    assert lookups == ["jobs.example.com", "jobs.example.com"]


def test_a_refused_address_never_reached_the_target(outbound_connects: list[Any]) -> None:
    with pytest.raises(JobError) as caught:
        HttpClient(timeout=1).request("POST", "http://169.254.169.254/", retries=2)
    assert caught.value.category is FailureCategory.PERMANENT
    assert caught.value.may_have_started is False
    assert outbound_connects == []


def test_a_post_that_timed_out_after_sending_is_not_sent_again(
    server: FakeServer, sleeps: SleepRecorder
) -> None:
    # The target starts the job on arrival but answers late: a repeat would start another.
    server.on("POST", "/start", Reply(200, {"ok": True}, delay=3))
    client = HttpClient(timeout=0.3, allow_private_network=True, sleep=sleeps)
    with pytest.raises(JobError, match="timed out") as caught:
        client.request("POST", server.url + "/start", json_body={}, retries=2)
    assert caught.value.category is FailureCategory.TRANSIENT
    assert caught.value.may_have_started is True
    assert len(server.calls("POST", "/start")) == 1
    assert sleeps == []


def test_an_idempotent_request_is_retried_after_a_timeout(
    server: FakeServer, sleeps: SleepRecorder
) -> None:
    server.on("GET", "/state", Reply(200, {}, delay=3), Reply(200, {"state": "ok"}))
    client = HttpClient(timeout=0.3, allow_private_network=True, sleep=sleeps)
    response = client.request("GET", server.url + "/state", retries=1, idempotent=True)
    assert response.json() == {"state": "ok"}
    assert response.retried_after_sending is True
    assert len(server.calls("GET", "/state")) == 2


def test_a_connection_closed_after_sending_may_have_started_the_job(
    sleeps: SleepRecorder,
) -> None:
    received: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                received.append(conn.recv(65536))
                conn.close()  # read the request, then hang up without an answer

    threading.Thread(target=serve, daemon=True).start()
    try:
        client = HttpClient(timeout=2, allow_private_network=True, sleep=sleeps)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/start"
        with pytest.raises(JobError) as caught:
            client.request("POST", url, json_body={"a": 1}, retries=2)
        assert caught.value.may_have_started is True
        assert len(received) == 1
    finally:
        listener.close()


@pytest.mark.parametrize(("idempotent", "requests"), [(False, 1), (True, 3)])
def test_a_5xx_is_repeated_only_when_the_request_is_idempotent(
    server: FakeServer, sleeps: SleepRecorder, idempotent: bool, requests: int
) -> None:
    server.on("POST", "/start", Reply(503, {"busy": True}))
    client = HttpClient(timeout=2, allow_private_network=True, sleep=sleeps)
    response = client.request(
        "POST", server.url + "/start", json_body={}, retries=2, idempotent=idempotent
    )
    assert response.status == 503
    assert response.may_have_started() is True
    assert len(server.calls("POST", "/start")) == requests


def test_a_refusal_answer_did_not_start_anything(server: FakeServer) -> None:
    server.on("POST", "/start", Reply(429), Reply(403))
    client = HttpClient(timeout=2, allow_private_network=True)
    assert client.request("POST", server.url + "/start").may_have_started() is False
    assert client.request("POST", server.url + "/start").may_have_started() is False


# --- one deadline for the whole exchange ---------------------------------------------------


def _trickling_server(head: bytes, pause: float, tail: bytes) -> tuple[socket.socket, str]:
    """A server that answers ``head``, then one ``X`` per ``pause`` seconds (16 of them) inside
    a header line, then ``tail``: each byte arrives well within the socket timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(head)
                for _ in range(16):
                    time.sleep(pause)
                    conn.sendall(b"X")
                conn.sendall(tail)

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/x"


def test_a_server_trickling_headers_cannot_hold_a_request_past_its_timeout() -> None:
    listener, url = _trickling_server(
        b"HTTP/1.1 200 OK\r\n", 0.15, b": y\r\nContent-Length: 2\r\n\r\n{}"
    )
    try:
        client = HttpClient(timeout=0.5, allow_private_network=True)
        started = time.monotonic()
        with pytest.raises(JobError, match=r"timed out after 0\.5 s") as caught:
            client.request("POST", url, body=b"{}")
        assert time.monotonic() - started < 1.2  # 16 x 0.15 s = 2.4 s without the deadline
        assert caught.value.may_have_started is True
    finally:
        listener.close()


def test_a_server_trickling_the_body_cannot_hold_a_request_past_its_timeout() -> None:
    listener, url = _trickling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n", 0.15, b"")
    try:
        client = HttpClient(timeout=0.5, allow_private_network=True)
        started = time.monotonic()
        with pytest.raises(JobError, match="timed out"):
            client.request("GET", url)
        assert time.monotonic() - started < 1.2
    finally:
        listener.close()


def test_a_silent_tls_handshake_times_out_as_never_sent(sleeps: SleepRecorder) -> None:
    accepted: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])  # accept, then never say a word

    threading.Thread(target=serve, daemon=True).start()
    try:
        client = HttpClient(timeout=0.3, allow_private_network=True, sleep=sleeps)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/start"
        started = time.monotonic()
        with pytest.raises(JobError, match="timed out") as caught:
            client.request("POST", url, json_body={}, retries=1)
        assert time.monotonic() - started < 1.5
        assert caught.value.may_have_started is False  # no byte of the request was sent
        assert len(sleeps) == 1  # so it was tried again
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
