"""A tiny JSON-over-HTTP POST helper for the alert channels (stdlib ``urllib`` only).

Two properties matter more than features here:

* every request has a timeout, so a hung receiver cannot stall a channel forever;
* nothing raised or returned carries the URL or request headers, because webhook URLs and
  ``Authorization`` headers are secrets.
"""

import email.utils
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would forward the Authorization header to wherever a redirect points, so a
    # redirect is surfaced as the 3xx response it is instead of being followed.
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects())


def post_json(
    url: str,
    payload: Any = None,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> HttpResponse:
    """POST JSON and return the response whatever its status.

    Args:
        url: an ``http`` or ``https`` URL.
        payload: a JSON-serialisable object, used when ``body`` is not given.
        body: the exact bytes to send (when the caller signs them).
        headers: extra request headers.
        timeout: seconds for connecting and for each read; must be positive.

    Returns:
        The response, including 4xx and 5xx ones (redirects are not followed).

    Raises:
        HttpTransportError: no HTTP response was received.
        ValueError: the URL is not http(s) or the timeout is not positive.
    """
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError("timeout must be a positive number of seconds")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are supported, not {scheme or 'no'} scheme")
    data = body if body is not None else json.dumps(payload, default=str).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 (scheme checked)
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", "interlock-alerts")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpResponse(
                status=response.status,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=response.read(_MAX_RESPONSE_BYTES),
            )
    except urllib.error.HTTPError as exc:
        try:
            error_body = exc.read(_MAX_RESPONSE_BYTES)
        except OSError:
            error_body = b""
        finally:
            exc.close()
        response_headers = {k.lower(): v for k, v in exc.headers.items()} if exc.headers else {}
        return HttpResponse(status=exc.code, headers=response_headers, body=error_body)
    except TimeoutError:
        raise HttpTransportError(f"timed out after {timeout:g}s") from None
    except urllib.error.URLError as exc:
        # URLError.reason can be an OSError whose text includes the host but not the path
        # or query; we still report only its class to keep every URL part out of logs.
        reason = exc.reason
        kind = "timed out" if isinstance(reason, TimeoutError) else None
        raise HttpTransportError(kind or f"connection failed ({type(reason).__name__})") from None
    except OSError as exc:
        raise HttpTransportError(f"connection failed ({type(exc).__name__})") from None


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
