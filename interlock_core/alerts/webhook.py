"""A generic JSON webhook, optionally signed with HMAC-SHA256.

The body is ``{"events": [event.to_dict(), ...], "sentAt": <unix seconds>}`` for one event and
for a digest alike, so receivers handle a single shape. With a signing secret, the request
carries::

    X-Interlock-Timestamp: <unix seconds>          (the same value as the body's sentAt)
    X-Interlock-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>

Because ``sentAt`` is inside the signed body, a receiver can reject replays by age.
"""

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping

from interlock_core.alerts.base import DeliveryError
from interlock_core.alerts.http import HttpTransportError, parse_retry_after, post_json
from interlock_core.events import Event

SIGNATURE_HEADER = "X-Interlock-Signature"
TIMESTAMP_HEADER = "X-Interlock-Timestamp"


def sign(body: bytes, secret: str) -> str:
    """The ``X-Interlock-Signature`` value for ``body``: ``sha256=<hex>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


DEFAULT_MAX_AGE = 300.0


def verify_signature(
    body: bytes,
    secret: str,
    header: str | None,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> bool:
    """Check a received ``X-Interlock-Signature`` header (for receivers).

    The signature is compared in constant time; then the signed ``sentAt`` must be within
    ``max_age`` seconds of ``now``, so a captured request cannot be replayed later.

    Args:
        body: the raw request body.
        secret: the shared signing secret.
        header: the ``X-Interlock-Signature`` value.
        max_age: the oldest (and furthest in the future, for clock skew) ``sentAt`` accepted,
            in seconds; None disables the check (only for receivers that deduplicate).
        now: the current Unix time (default: the wall clock).

    Returns:
        True for an authentic, fresh request.
    """
    if not header:
        return False
    if not hmac.compare_digest(sign(body, secret), header.strip()):
        return False
    if max_age is None:
        return True
    try:
        sent_at = json.loads(body).get("sentAt")
    except (ValueError, AttributeError):
        return False
    if isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
        return False
    current = time.time() if now is None else now
    return abs(current - sent_at) <= max_age


class WebhookChannel:
    """POSTs alerts as JSON to a URL.

    The URL is read from the environment variable ``url_env`` at send time when given (URLs
    often embed a secret); a literal ``url`` is for URLs without credentials. Neither the URL
    nor the secret ever appears in an error message.
    """

    def __init__(
        self,
        name: str = "webhook",
        *,
        url: str | None = None,
        url_env: str | None = None,
        secret_env: str | None = None,
        timeout: float = 10.0,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        allow_private_network: bool = False,
    ) -> None:
        """Create the channel.

        Args:
            name: the channel's name in the alert config.
            url: a literal URL (used when ``url_env`` is not given).
            url_env: the environment variable holding the URL.
            secret_env: the environment variable holding the HMAC signing secret; when
                ``None`` requests are not signed.
            timeout: seconds per HTTP request.
            env: the environment to read (default: ``os.environ``, read live).
            clock: wall-clock seconds for the timestamp (injectable for tests).
            allow_private_network: allow a loopback, link-local or private receiver.
        """
        if not url and not url_env:
            raise ValueError(f"webhook channel {name!r} needs url or url_env")
        self._name = name
        self._url = url
        self._url_env = url_env
        self._secret_env = secret_env
        self._timeout = timeout
        self._env = env
        self._clock = clock
        self._allow_private_network = allow_private_network

    @property
    def name(self) -> str:
        """The channel's name in the alert config."""
        return self._name

    def send(self, events: list[Event]) -> None:
        """POST ``events`` (one, or a digest).

        Raises:
            DeliveryError: not a 2xx response; retryable for timeouts, 408, 429 (with its
                ``Retry-After``) and 5xx, not for other statuses.
        """
        if not events:
            return
        where = f"webhook channel {self._name!r}"
        env = self._env if self._env is not None else os.environ
        if self._url_env:
            url = env.get(self._url_env, "").strip()
            if not url:
                raise DeliveryError(
                    f"{where}: environment variable {self._url_env} is not set", retryable=False
                )
        else:
            url = self._url or ""
        secret: str | None = None
        if self._secret_env:
            secret = env.get(self._secret_env, "")
            if not secret:
                raise DeliveryError(
                    f"{where}: environment variable {self._secret_env} is not set",
                    retryable=False,
                )
        sent_at = int(self._clock())
        body = json.dumps(
            {"events": [e.to_dict() for e in events], "sentAt": sent_at},
            sort_keys=True,
            default=str,
        ).encode("utf-8")
        headers = {TIMESTAMP_HEADER: str(sent_at)}
        if secret:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        try:
            response = post_json(
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                allow_private_network=self._allow_private_network,
            )
        except HttpTransportError as exc:
            raise DeliveryError(f"{where}: {exc}") from None
        except ValueError as exc:
            raise DeliveryError(f"{where}: {exc}", retryable=False) from None
        if 200 <= response.status < 300:
            return
        if response.status == 429:
            raise DeliveryError(
                f"{where}: rate limited (HTTP 429)",
                retry_after=parse_retry_after(response.header("Retry-After")),
            )
        if response.status >= 500 or response.status == 408:
            raise DeliveryError(f"{where}: receiver returned HTTP {response.status}")
        raise DeliveryError(f"{where}: receiver returned HTTP {response.status}", retryable=False)
