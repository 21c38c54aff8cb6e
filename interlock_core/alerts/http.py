"""A tiny JSON-over-HTTP POST helper for the alert channels (stdlib ``urllib`` only).

Two properties matter more than features here:

* every request has one deadline (connect to last byte), so a hung or trickling receiver
  cannot stall a channel longer than its timeout;
* requests go through the jobs' SSRF guard: no loopback, link-local or private targets unless
  the channel opts in with ``allowPrivateNetwork``;
* nothing raised or returned carries the URL or request headers, because webhook URLs and
  ``Authorization`` headers are secrets.
"""

import email.utils
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interlock_core.jobs.base import FailureCategory, JobError
from interlock_core.jobs.netguard import HttpClient

DEFAULT_TIMEOUT = 10.0
_MAX_RESPONSE_BYTES = 1_000_000


class HttpTransportError(Exception):
    """The request did not get an HTTP response (refused, DNS, TLS, timeout).

    The message names the failure kind only, never the URL.
    """


@dataclass(frozen=True)
class HttpResponse:
    """A received HTTP response, whatever its status.

    Attributes:
        status: the HTTP status code.
        headers: response headers with lower-cased names.
        body: the raw body (at most 1 MB is read).
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name, or ``None``."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """Decode the body as JSON; ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def post_json(
    url: str,
    payload: Any = None,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private_network: bool = False,
) -> HttpResponse:
    """POST JSON and return the response whatever its status.

    The request goes through the jobs' network guard (:mod:`interlock_core.jobs.netguard`):
    loopback, link-local (the cloud metadata service), private and other non-public addresses
    are refused at dial time unless ``allow_private_network`` (the channel's
    ``allowPrivateNetwork``), and ``timeout`` is one deadline for the whole request — connect,
    TLS, sending and every read — so a receiver trickling bytes cannot hold a channel longer.

    Args:
        url: an ``http`` or ``https`` URL.
        payload: a JSON-serialisable object, used when ``body`` is not given.
        body: the exact bytes to send (when the caller signs them).
        headers: extra request headers.
        timeout: seconds for the whole request; must be positive.
        allow_private_network: allow non-public targets (a receiver inside the network).

    Returns:
        The response, including 4xx and 5xx ones (redirects are not followed).

    Raises:
        HttpTransportError: no HTTP response was received.
        ValueError: the URL is not http(s), the timeout is not positive, or the target's
            address is refused (the message says why, never the URL).
    """
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError("timeout must be a positive number of seconds")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are supported, not {scheme or 'no'} scheme")
    data = body if body is not None else json.dumps(payload, default=str).encode()
    send_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "interlock-alerts",
        **(headers or {}),
    }
    client = HttpClient(
        timeout=timeout,
        allow_private_network=allow_private_network,
        # Following would forward the Authorization header to wherever a redirect points,
        # so a redirect is surfaced as the 3xx response it is.
        follow_redirects=False,
        max_body_bytes=_MAX_RESPONSE_BYTES,
    )
    try:
        response = client.request("POST", url, headers=send_headers, body=data)
    except JobError as exc:
        raise _sanitised(exc, timeout) from None
    return HttpResponse(status=response.status, headers=dict(response.headers), body=response.body)


_REFUSED = re.compile(r"resolves to [^,]+, (?P<reason>.+?); set allowPrivateNetwork")


def _sanitised(error: JobError, timeout: float) -> Exception:
    """The guard's error without the URL, host or port (webhook URLs are secrets)."""
    text = str(error)
    refused = _REFUSED.search(text)
    if refused is not None:
        return ValueError(
            f"refused to send: the target is {refused.group('reason')}; "
            "set allowPrivateNetwork: true on the channel to allow it"
        )
    if error.category is FailureCategory.PERMANENT:
        return ValueError("invalid URL")
    if "timed out" in text:
        return HttpTransportError(f"timed out after {timeout:g}s")
    if "resolve" in text:
        return HttpTransportError("name resolution failed")
    cause = error.__cause__
    kind = type(cause).__name__ if cause is not None else "no response"
    return HttpTransportError(f"connection failed ({kind})")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` header.

    Args:
        value: delay seconds (``"30"``, also fractional ``"0.5"``) or an HTTP date.
        now: the current time for the HTTP-date form (default: the wall clock).

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
