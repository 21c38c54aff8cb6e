"""The SSRF guard and the small JSON HTTP client shared by the http, airflow and databricks jobs.

Pipeline configs name URLs that Interlock then calls from inside the operator's network, so a
config must not be able to reach the cloud metadata service, the loopback interface or private
ranges unless it says so (``allowPrivateNetwork: true``). The check runs at *dial time*, on the
address the socket is about to connect to, for every connection including each redirect hop, so
DNS tricks (a public name resolving to 127.0.0.1, a redirect to 169.254.169.254) are caught too.

The client is built on :mod:`http.client` (no third-party HTTP library): every request has a
timeout, redirects are followed by hand so credentials never cross to another origin, proxies from
the environment are deliberately not used (the guard must see the real target address), and
responses are read up to a size cap.
"""

import contextlib
import dataclasses
import http.client
import io
import ipaddress
import json
import logging
import random
import selectors
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from interlock_core.jobs.base import FailureCategory, JobError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

logger = logging.getLogger(__name__)

# socket.getaddrinfo's shape; injectable so tests can map names to addresses without DNS.
Resolver = Callable[..., list[tuple[Any, ...]]]
Sleep = Callable[[float], None]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that may follow a redirect to another origin; everything else (Authorization,
# API keys, cookies, expanded $INTERLOCK_* secrets) stays with the origin it was meant for.
_PORTABLE_HEADERS = frozenset({"accept", "content-type", "user-agent", "idempotency-key"})
_USER_AGENT = "interlock-job/0.1"
_DEFAULT_MAX_BODY = 1 << 20
# AWS's ECS task-metadata endpoint; link-local anyway, named here so the refusal says what it is.
_NAMED_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"): "the cloud instance metadata service",
    ipaddress.ip_address("169.254.170.2"): "the ECS task metadata service",
    ipaddress.ip_address("fd00:ec2::254"): "the cloud instance metadata service",
}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be called without ``allowPrivateNetwork``, or None when it may.

    IPv4-mapped and 6to4 IPv6 addresses are judged by the IPv4 address inside them, so
    ``::ffff:127.0.0.1`` is loopback like ``127.0.0.1``.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            reason = forbidden_reason(inner)
            return f"{reason} (embedded in {address})" if reason else None
    named = _NAMED_ADDRESSES.get(address)
    if named:
        return named
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    # Shared address space (100.64/10), benchmarking and documentation ranges and the like are
    # neither private nor public: not a place a pipeline's job lives.
    if not address.is_global:
        return "a non-public address"
    return None


# Decides whether an address may be dialled: None = yes, else the reason it may not.
AddressPolicy = Callable[[IPAddress], str | None]


def _parse_ip(text: str) -> IPAddress:
    # getaddrinfo returns IPv6 link-local addresses with a zone ("fe80::1%eth0").
    return ipaddress.ip_address(text.split("%", 1)[0])


def guarded_connect(
    address: tuple[str, int],
    timeout: float,
    *,
    allow_private_network: bool,
    resolver: Resolver = socket.getaddrinfo,
    policy: AddressPolicy = forbidden_reason,
    deadline: float | None = None,
) -> socket.socket:
    """Resolve ``address`` and connect to it, refusing non-public targets before any packet.

    Every resolved address is checked, not only the first, so a name with one public and one
    private answer is refused as a whole.

    Args:
        address: ``(host, port)``.
        timeout: seconds allowed for each connect.
        allow_private_network: skip the address policy.
        resolver: ``socket.getaddrinfo`` or a stand-in.
        policy: which addresses are refused.
        deadline: a ``time.monotonic()`` instant no connect may last past.

    Raises:
        JobError: PERMANENT when the target is refused (naming the host and the address),
            TRANSIENT when the name does not resolve; never with ``may_have_started``.
        OSError: the connection itself failed (``TimeoutError`` when it took too long).
    """
    host, port = address
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise JobError(
            f"cannot resolve host {host!r}: {exc}",
            FailureCategory.TRANSIENT,
            may_have_started=False,
        ) from exc
    if not infos:
        raise JobError(
            f"host {host!r} resolves to no address",
            FailureCategory.TRANSIENT,
            may_have_started=False,
        )
    if not allow_private_network:
        for info in infos:
            ip = _parse_ip(str(info[4][0]))
            reason = policy(ip)
            if reason is not None:
                raise JobError(
                    f"refused to connect to {host!r}: it resolves to {ip}, {reason}; "
                    "set allowPrivateNetwork: true in the job config to allow it",
                    FailureCategory.PERMANENT,
                    may_have_started=False,
                )
    last_error: OSError | None = None
    for family, socktype, proto, _canonname, sockaddr in infos:
        budget = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        if budget <= 0:
            raise TimeoutError(f"connecting to {host!r} took too long")
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(budget)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    assert last_error is not None  # infos was not empty, so at least one attempt failed
    raise last_error


@dataclass(frozen=True)
class _Dial:
    """How one request attempt dials: the SSRF guard's settings and the attempt's deadline."""

    allow_private_network: bool
    resolver: Resolver
    policy: AddressPolicy
    deadline: float

    def connect(self, address: tuple[str, int], timeout: Any) -> socket.socket:
        return guarded_connect(
            address,
            timeout if isinstance(timeout, int | float) else 30.0,
            allow_private_network=self.allow_private_network,
            resolver=self.resolver,
            policy=self.policy,
            deadline=self.deadline,
        )


def _arm(sock: socket.socket, deadline: float) -> None:
    """Give the next socket operation only what is left until ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the request's deadline has passed")
    sock.settimeout(remaining)


class _DeadlineReader(io.RawIOBase):
    """The response stream http.client reads the status line, headers and body from; every
    read may only wait for what is left of the deadline, so a server trickling bytes one at a
    time cannot stretch the request (a plain socket timeout restarts with every byte)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer", /) -> int:
        _arm(self._sock, self._deadline)
        return self._sock.recv_into(buffer)

    def fileno(self) -> int:
        return self._sock.fileno()


class _DeadlineSocket:
    """A connected socket as http.client sees it: sends and reads are bounded by the deadline.

    http.client only calls ``sendall``, ``makefile`` and ``close`` on a connected socket;
    everything else is passed through. ``close`` does not close the socket: http.client closes
    the connection as soon as it has the headers of a non-keep-alive answer, before the body is
    read, so the request's owner closes the real socket once it has read everything.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: "ReadableBuffer") -> None:
        # Since Python 3.5 a sendall's timeout bounds the whole call, not each chunk.
        _arm(self._sock, self._deadline)
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"unsupported mode {mode!r}")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _tls_handshake(sock: ssl.SSLSocket, deadline: float) -> None:
    """Complete the TLS handshake by ``deadline``, however slowly the server answers."""
    sock.setblocking(False)
    with selectors.DefaultSelector() as selector:
        while True:
            try:
                sock.do_handshake()
            except ssl.SSLWantReadError:
                event = selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                event = selectors.EVENT_WRITE
            else:
                return
            remaining = deadline - time.monotonic()
            selector.register(sock, event)
            ready = selector.select(remaining) if remaining > 0 else []
            selector.unregister(sock)
            if not ready:
                raise TimeoutError("the TLS handshake took too long")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, timeout: float, dial: _Dial) -> None:
        super().__init__(host, timeout=timeout)
        self._dial = dial
        # http.client.HTTPConnection.connect dials through this attribute; replacing it puts
        # the guard under HTTPS too (HTTPSConnection.connect calls it before wrapping TLS).
        self._create_connection = self._guarded_create_connection

    def _guarded_create_connection(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return self._dial.connect(address, self.timeout)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, timeout: float, dial: _Dial, context: ssl.SSLContext) -> None:
        super().__init__(host, timeout=timeout, context=context)
        self._dial = dial
        self._tls_context = context
        self._create_connection = self._guarded_create_connection

    def _guarded_create_connection(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return self._dial.connect(address, self.timeout)

    def connect(self) -> None:
        # HTTPSConnection.connect, with a handshake bounded by the deadline (a blocking
        # handshake's timeout restarts with every byte the server sends).
        http.client.HTTPConnection.connect(self)
        tls = self._tls_context.wrap_socket(
            self.sock, server_hostname=self.host, do_handshake_on_connect=False
        )
        self.sock = tls
        _tls_handshake(tls, self._dial.deadline)


def safe_url(url: str) -> str:
    """``url`` without user info, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def excerpt(data: bytes, limit: int = 512) -> str:
    """A short, printable excerpt of a response body for error messages."""
    text = data[: limit * 4].decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class HttpResponse:
    """A response read completely (up to the size cap).

    ``retried_after_sending`` is True when an earlier attempt of the same request may have
    reached the target before this answer came (only requests marked idempotent are retried
    after sending).
    """

    status: int
    reason: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    retried_after_sending: bool = False

    def json(self) -> Any:
        """The body decoded as JSON, or None when it is empty or not JSON."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def excerpt(self, limit: int = 512) -> str:
        """A printable excerpt of the body (control characters removed)."""
        return excerpt(self.body, limit)

    def describe(self) -> str:
        """``HTTP 503 Service Unavailable: <body excerpt>``."""
        text = f"HTTP {self.status} {self.reason}".rstrip()
        body = self.excerpt()
        return f"{text}: {body}" if body else text

    def may_have_started(self) -> bool:
        """Whether the request behind this answer may have started a job: a 3xx or 4xx answer
        is a refusal (nothing was done), anything else may not be — unless an earlier attempt
        may have started it anyway."""
        return self.retried_after_sending or status_may_have_started(self.status)


def category_for_status(status: int) -> FailureCategory:
    """4xx (and unfollowed 3xx) are PERMANENT; 5xx and anything stranger are TRANSIENT."""
    if 300 <= status < 500 and status != 429:
        return FailureCategory.PERMANENT
    return FailureCategory.TRANSIENT


def status_may_have_started(status: int) -> bool:
    """False for a 3xx/4xx answer (the target refused or redirected: it did nothing), True for
    everything else (a 2xx did something; a 5xx may have started it before failing)."""
    return not 300 <= status < 500


@contextlib.contextmanager
def not_started() -> Iterator[None]:
    """Mark every JobError raised inside as one that certainly did not start the job.

    For the steps of a submit that run before anything is sent to the target (reading the
    config, the credentials, the token exchange, a lookup): the engine may then submit again
    without risking a second job.
    """
    try:
        yield
    except JobError as exc:
        exc.may_have_started = False
        raise


def backoff_delay(retry: int, rand: Callable[[], float] = random.random) -> float:
    """The Go reference's backoff: 200 ms doubling, capped at 2 s, with ±30 % jitter."""
    base: float = min(2.0, 0.2 * 2.0**retry)
    return base * (0.7 + 0.6 * rand())


class HttpClient:
    """A JSON-friendly HTTP client with a timeout on every call and the SSRF guard on every dial.

    Args:
        timeout: seconds one attempt of a request may take, wall clock, from the first connect
            to the last byte of the answer (TLS handshake, status line, headers, body and
            redirect hops included); each retry gets its own.
        allow_private_network: skip the SSRF guard (the job config's ``allowPrivateNetwork``).
        max_redirects: redirects followed per request; each hop is dialled through the guard.
        sleep: how to wait between retries (tests pass a recorder).
        rand: jitter source in [0, 1).
        resolver: ``socket.getaddrinfo`` or a stand-in.
        max_body_bytes: responses are truncated beyond this.
        ssl_context: TLS settings for https URLs (default: system trust store).
        policy: which addresses are refused (default :func:`forbidden_reason`).
        follow_redirects: when False a 3xx answer is returned as it is (alert channels).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        allow_private_network: bool = False,
        max_redirects: int = 5,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = socket.getaddrinfo,
        max_body_bytes: int = _DEFAULT_MAX_BODY,
        ssl_context: ssl.SSLContext | None = None,
        policy: AddressPolicy = forbidden_reason,
        follow_redirects: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(timeout)
        self.allow_private_network = allow_private_network
        self.max_redirects = max_redirects
        self._sleep = sleep
        self._rand = rand
        self._resolver = resolver
        self._max_body = max_body_bytes
        self._ssl_context = ssl_context
        self._policy = policy
        self.follow_redirects = follow_redirects

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        retries: int = 0,
        idempotent: bool = False,
    ) -> HttpResponse:
        """Send one request, retrying up to ``retries`` times what is safe to retry.

        A request that certainly never left (the connection, the name lookup or the TLS
        handshake failed) is always retried. One that may have reached the target (a timeout
        or a reset after sending, a 5xx answer) is retried only when ``idempotent`` is True:
        a GET, or a submit the target deduplicates on its token. Otherwise a repeat could start
        a second job.

        Args:
            method: the HTTP method.
            url: an http(s) URL.
            headers: request headers (values may be secrets: they never reach messages).
            body: raw body bytes; or
            json_body: a value sent as JSON (sets ``Content-Type: application/json``).
            retries: extra attempts after a failure that may be retried (see above).
            idempotent: whether repeating the request after it may have arrived is harmless.

        Returns:
            The final response, whatever its status (a 5xx is returned when it may not be
            retried or retries are spent).

        Raises:
            JobError: TRANSIENT when the target could not be reached or did not answer in time,
                with ``may_have_started`` False only when no attempt can have reached it;
                PERMANENT for a refused address, a bad URL or too many redirects.
        """
        send_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if not any(name.lower() == "content-type" for name in send_headers):
                send_headers["Content-Type"] = "application/json"
        attempt = 0
        sent = False  # whether an attempt so far may have reached the target
        while True:
            try:
                response = self._follow(method.upper(), url, send_headers, body)
            except _TransportError as exc:
                sent = sent or exc.sent
                if attempt >= retries or (exc.sent and not idempotent):
                    raise JobError(
                        str(exc), FailureCategory.TRANSIENT, may_have_started=sent
                    ) from exc.__cause__
                logger.info("retrying %s %s after: %s", method, safe_url(url), exc)
            except JobError as exc:
                exc.may_have_started = exc.may_have_started or sent
                raise
            else:
                if response.status < 500 or attempt >= retries or not idempotent:
                    return dataclasses.replace(response, retried_after_sending=sent)
                sent = True
                logger.info("retrying %s %s after HTTP %s", method, safe_url(url), response.status)
            self._sleep(backoff_delay(attempt, self._rand))
            attempt += 1

    def _follow(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> HttpResponse:
        # One deadline for the whole attempt, redirect hops included.
        deadline = time.monotonic() + self.timeout
        current_url, current_method, current_headers, current_body = url, method, headers, body
        for _hop in range(self.max_redirects + 1):
            response = self._once(
                current_method, current_url, current_headers, current_body, deadline
            )
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location or not self.follow_redirects:
                return response
            next_url = urllib.parse.urljoin(current_url, location)
            if urllib.parse.urlsplit(next_url).scheme not in ("http", "https"):
                raise JobError(
                    f"{current_method} {safe_url(current_url)} redirected to a non-HTTP URL",
                    FailureCategory.PERMANENT,
                    may_have_started=False,
                )
            if _origin(next_url) != _origin(current_url):
                current_headers = {
                    k: v for k, v in current_headers.items() if k.lower() in _PORTABLE_HEADERS
                }
            # Browsers and Go turn a redirected POST into a GET for 301/302/303; 307/308 keep it.
            if response.status == 303 or (
                response.status in (301, 302) and current_method == "POST"
            ):
                if current_method != "HEAD":
                    current_method = "GET"
                current_body = None
                current_headers = {
                    k: v for k, v in current_headers.items() if k.lower() != "content-type"
                }
            current_url = next_url
        raise JobError(
            f"{method} {safe_url(url)}: more than {self.max_redirects} redirects",
            FailureCategory.PERMANENT,
            may_have_started=False,
        )

    def _connection(
        self, parts: urllib.parse.SplitResult, deadline: float
    ) -> http.client.HTTPConnection:
        host = parts.hostname
        if not host:
            raise JobError(
                f"URL {safe_url(parts.geturl())!r} has no host",
                FailureCategory.PERMANENT,
                may_have_started=False,
            )
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        dial = _Dial(self.allow_private_network, self._resolver, self._policy, deadline)
        if parts.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return _GuardedHTTPSConnection(netloc, timeout=self.timeout, dial=dial, context=context)
        if parts.scheme == "http":
            return _GuardedHTTPConnection(netloc, timeout=self.timeout, dial=dial)
        raise JobError(
            f"URL {safe_url(parts.geturl())!r} is not http(s)",
            FailureCategory.PERMANENT,
            may_have_started=False,
        )

    def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        deadline: float,
    ) -> HttpResponse:
        what = f"{method} {safe_url(url)}"
        try:
            parts = urllib.parse.urlsplit(url)
            conn = self._connection(parts, deadline)
        except ValueError as exc:  # a bad port number and the like
            raise JobError(
                f"invalid URL {safe_url(url)!r}: {exc}",
                FailureCategory.PERMANENT,
                may_have_started=False,
            ) from exc
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        try:
            # Connecting (name lookup, TCP, TLS) sends nothing of the request: a failure here
            # certainly did not reach the target.
            try:
                conn.connect()
            except JobError as exc:
                if exc.category is FailureCategory.PERMANENT:
                    raise
                raise _TransportError(f"{what}: {exc}", sent=False) from exc
            except TimeoutError as exc:
                raise _TransportError(
                    f"{what}: timed out after {self.timeout:g} s (connecting)", sent=False
                ) from exc
            except OSError as exc:
                raise _TransportError(f"{what}: {type(exc).__name__}: {exc}", sent=False) from exc
            connected = conn.sock
            assert connected is not None
            conn.sock = cast(socket.socket, _DeadlineSocket(connected, deadline))
            # From the first byte sent on, the target may have received the request.
            try:
                conn.request(method, target, body=body, headers=dict(headers))
                raw = conn.getresponse()
                data = self._read_body(raw)
                return HttpResponse(
                    status=raw.status,
                    reason=raw.reason or "",
                    url=url,
                    headers={k.lower(): v for k, v in raw.getheaders()},
                    body=data,
                )
            except TimeoutError as exc:
                raise _TransportError(
                    f"{what}: timed out after {self.timeout:g} s", sent=True
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _TransportError(f"{what}: {type(exc).__name__}: {exc}", sent=True) from exc
            finally:
                connected.close()
        finally:
            conn.close()

    def _read_body(self, raw: http.client.HTTPResponse) -> bytes:
        # The deadline is enforced by the socket wrapper under each read.
        chunks: list[bytes] = []
        size = 0
        while size < self._max_body:
            chunk = raw.read1(min(65536, self._max_body - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


class _TransportError(Exception):
    """The request did not get an HTTP answer (connection refused, reset, timed out).

    ``sent`` says whether the request may have reached the target: False only when the
    failure came before its first byte was sent.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default
