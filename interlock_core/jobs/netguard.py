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

import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock_core.jobs.base import FailureCategory, JobError

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
) -> socket.socket:
    """Resolve ``address`` and connect to it, refusing non-public targets before any packet.

    Every resolved address is checked, not only the first, so a name with one public and one
    private answer is refused as a whole.

    Raises:
        JobError: PERMANENT when the target is refused (naming the host and the address),
            TRANSIENT when the name does not resolve.
        OSError: the connection itself failed.
    """
    host, port = address
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise JobError(f"cannot resolve host {host!r}: {exc}", FailureCategory.TRANSIENT) from exc
    if not infos:
        raise JobError(f"host {host!r} resolves to no address", FailureCategory.TRANSIENT)
    if not allow_private_network:
        for info in infos:
            ip = _parse_ip(str(info[4][0]))
            reason = policy(ip)
            if reason is not None:
                raise JobError(
                    f"refused to connect to {host!r}: it resolves to {ip}, {reason}; "
                    "set allowPrivateNetwork: true in the job config to allow it",
                    FailureCategory.PERMANENT,
                )
    last_error: OSError | None = None
    for family, socktype, proto, _canonname, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    assert last_error is not None  # infos was not empty, so at least one attempt failed
    raise last_error


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self,
        host: str,
        *,
        timeout: float,
        allow_private_network: bool,
        resolver: Resolver,
        policy: AddressPolicy,
    ) -> None:
        super().__init__(host, timeout=timeout)
        self._guard_allow = allow_private_network
        self._guard_resolver = resolver
        self._guard_policy = policy
        # http.client.HTTPConnection.connect dials through this attribute; replacing it puts
        # the guard under HTTPS too (HTTPSConnection.connect calls it before wrapping TLS).
        self._create_connection = self._guarded_create_connection

    def _guarded_create_connection(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return guarded_connect(
            address,
            self.timeout if isinstance(self.timeout, int | float) else 30.0,
            allow_private_network=self._guard_allow,
            resolver=self._guard_resolver,
            policy=self._guard_policy,
        )


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self,
        host: str,
        *,
        timeout: float,
        allow_private_network: bool,
        resolver: Resolver,
        policy: AddressPolicy,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, timeout=timeout, context=context)
        self._guard_allow = allow_private_network
        self._guard_resolver = resolver
        self._guard_policy = policy
        self._create_connection = self._guarded_create_connection

    def _guarded_create_connection(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return guarded_connect(
            address,
            self.timeout if isinstance(self.timeout, int | float) else 30.0,
            allow_private_network=self._guard_allow,
            resolver=self._guard_resolver,
            policy=self._guard_policy,
        )


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
    """A response read completely (up to the size cap)."""

    status: int
    reason: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

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


def category_for_status(status: int) -> FailureCategory:
    """4xx (and unfollowed 3xx) are PERMANENT; 5xx and anything stranger are TRANSIENT."""
    if 300 <= status < 500 and status != 429:
        return FailureCategory.PERMANENT
    return FailureCategory.TRANSIENT


def backoff_delay(retry: int, rand: Callable[[], float] = random.random) -> float:
    """The Go reference's backoff: 200 ms doubling, capped at 2 s, with ±30 % jitter."""
    base: float = min(2.0, 0.2 * 2.0**retry)
    return base * (0.7 + 0.6 * rand())


class HttpClient:
    """A JSON-friendly HTTP client with a timeout on every call and the SSRF guard on every dial.

    Args:
        timeout: seconds allowed for each socket operation (connect, send, each read); reading
            the whole body is also bounded by twice this.
        allow_private_network: skip the SSRF guard (the job config's ``allowPrivateNetwork``).
        max_redirects: redirects followed per request; each hop is dialled through the guard.
        sleep: how to wait between retries (tests pass a recorder).
        rand: jitter source in [0, 1).
        resolver: ``socket.getaddrinfo`` or a stand-in.
        max_body_bytes: responses are truncated beyond this.
        ssl_context: TLS settings for https URLs (default: system trust store).
        policy: which addresses are refused (default :func:`forbidden_reason`).
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

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        retries: int = 0,
    ) -> HttpResponse:
        """Send one request, retrying connection errors and 5xx answers ``retries`` times.

        Args:
            method: the HTTP method.
            url: an http(s) URL.
            headers: request headers (values may be secrets: they never reach messages).
            body: raw body bytes; or
            json_body: a value sent as JSON (sets ``Content-Type: application/json``).
            retries: extra attempts after a connection error, a timeout or a 5xx answer.

        Returns:
            The final response, whatever its status (a 5xx is returned once retries are spent).

        Raises:
            JobError: TRANSIENT when the target could not be reached (after the retries);
                PERMANENT for a refused address, a bad URL or too many redirects.
        """
        send_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if not any(name.lower() == "content-type" for name in send_headers):
                send_headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            try:
                response = self._follow(method.upper(), url, send_headers, body)
            except _TransportError as exc:
                if attempt >= retries:
                    raise JobError(str(exc), FailureCategory.TRANSIENT) from exc.__cause__
                logger.info("retrying %s %s after: %s", method, safe_url(url), exc)
            else:
                if response.status < 500 or attempt >= retries:
                    return response
                logger.info("retrying %s %s after HTTP %s", method, safe_url(url), response.status)
            self._sleep(backoff_delay(attempt, self._rand))
            attempt += 1

    def _follow(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> HttpResponse:
        current_url, current_method, current_headers, current_body = url, method, headers, body
        for _hop in range(self.max_redirects + 1):
            response = self._once(current_method, current_url, current_headers, current_body)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return response
            next_url = urllib.parse.urljoin(current_url, location)
            if urllib.parse.urlsplit(next_url).scheme not in ("http", "https"):
                raise JobError(
                    f"{current_method} {safe_url(current_url)} redirected to a non-HTTP URL",
                    FailureCategory.PERMANENT,
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
        )

    def _connection(self, parts: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        host = parts.hostname
        if not host:
            raise JobError(f"URL {parts.geturl()!r} has no host", FailureCategory.PERMANENT)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return _GuardedHTTPSConnection(
                netloc,
                timeout=self.timeout,
                allow_private_network=self.allow_private_network,
                resolver=self._resolver,
                policy=self._policy,
                context=context,
            )
        if parts.scheme == "http":
            return _GuardedHTTPConnection(
                netloc,
                timeout=self.timeout,
                allow_private_network=self.allow_private_network,
                resolver=self._resolver,
                policy=self._policy,
            )
        raise JobError(
            f"URL {safe_url(parts.geturl())!r} is not http(s)", FailureCategory.PERMANENT
        )

    def _once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> HttpResponse:
        try:
            parts = urllib.parse.urlsplit(url)
            conn = self._connection(parts)
        except ValueError as exc:  # a bad port number and the like
            raise JobError(
                f"invalid URL {safe_url(url)!r}: {exc}", FailureCategory.PERMANENT
            ) from exc
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        started = time.monotonic()
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            raw = conn.getresponse()
            data = self._read_body(raw, started)
            return HttpResponse(
                status=raw.status,
                reason=raw.reason or "",
                url=url,
                headers={k.lower(): v for k, v in raw.getheaders()},
                body=data,
            )
        except TimeoutError as exc:
            raise _TransportError(
                f"{method} {safe_url(url)}: timed out after {self.timeout:g} s"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _TransportError(f"{method} {safe_url(url)}: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def _read_body(self, raw: http.client.HTTPResponse, started: float) -> bytes:
        deadline = started + 2 * self.timeout
        chunks: list[bytes] = []
        size = 0
        while size < self._max_body:
            if time.monotonic() > deadline:
                raise TimeoutError("reading the response took too long")
            chunk = raw.read1(min(65536, self._max_body - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


class _TransportError(Exception):
    """The request did not get an HTTP answer (connection refused, reset, timed out)."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default
