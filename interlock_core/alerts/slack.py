"""Slack through the Bot API (``chat.postMessage``), one thread per pipeline-period.

The first alert of a (pipeline, period) becomes the thread's parent; later alerts of the same
pipeline-period reply in that thread, as in the Go reference (§11.4). Thread timestamps are
kept in a :class:`ThreadStore` so a restart of the local runtime keeps its threads.
"""

import json
import logging
import os
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from interlock_core.alerts.base import DeliveryError
from interlock_core.alerts.format import (
    digest_summary,
    format_digest_text,
    format_event_text,
    headline,
    slack_blocks,
)
from interlock_core.alerts.http import HttpTransportError, parse_retry_after, post_json
from interlock_core.alerts.routing import LOOPBACK_HOSTS
from interlock_core.events import Event

logger = logging.getLogger("interlock.alerts")

DEFAULT_API_BASE = "https://slack.com/api"
DEFAULT_TOKEN_ENV = "SLACK_BOT_TOKEN"  # noqa: S105 (the variable's name, not a token)
DEFAULT_CHANNEL_ENV = "SLACK_CHANNEL_ID"
DEFAULT_THREAD_TTL_SECONDS = 14 * 24 * 3600.0

# Slack `error` codes that describe a passing condition on Slack's side; anything else
# (invalid_auth, channel_not_found, not_in_channel, ...) repeats on every attempt.
_TRANSIENT_SLACK_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


class ThreadStore(Protocol):
    """Where Slack thread timestamps are kept, by thread key."""

    def get(self, key: str) -> str | None:
        """Return the parent message ``ts`` of a thread, or ``None``."""
        ...

    def put(self, key: str, ts: str) -> None:
        """Remember ``ts`` as the parent message of the thread ``key``."""
        ...


class MemoryThreadStore:
    """Thread timestamps in a dict (tests, and runtimes that need not survive restarts)."""

    def __init__(self) -> None:
        self._threads: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """Return the thread's parent ``ts``, or ``None``."""
        with self._lock:
            return self._threads.get(key)

    def put(self, key: str, ts: str) -> None:
        """Remember the thread's parent ``ts``."""
        with self._lock:
            self._threads[key] = ts


# Thread records are tiny; a bigger file is not ours.
_MAX_THREAD_FILE_BYTES = 16 << 20


class FileThreadStore:
    """Thread timestamps in a small JSON file, so a restarted local runtime keeps its threads.

    Entries older than ``ttl_seconds`` are dropped on write, like the Go thread records' TTL.
    Writes go through a temporary file and an atomic rename, and each write merges with what
    is on disk, so two processes sharing the file lose at most a concurrent first message's
    thread (the Go reference has the same race).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float = DEFAULT_THREAD_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create a store backed by ``path`` (created on first write).

        Args:
            path: the JSON file.
            ttl_seconds: how long a thread is kept.
            clock: wall-clock seconds (injectable for tests).
        """
        self.path = Path(path)
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("slack thread store %s unreadable, starting afresh: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict) and "ts" in v}

    def _read_bytes(self) -> bytes:
        """The file's bytes, read defensively: it sits beside the store, possibly in a shared
        folder, where a FIFO planted under its name would hang alert delivery forever and a
        link would make us read another file."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{self.path} is not a regular file")
            if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
                raise OSError(f"{self.path} is owned by another user")
            chunks: list[bytes] = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
                if sum(map(len, chunks)) > _MAX_THREAD_FILE_BYTES:
                    raise OSError(f"{self.path} is larger than {_MAX_THREAD_FILE_BYTES} bytes")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def get(self, key: str) -> str | None:
        """Return the thread's parent ``ts``, or ``None`` (also when it has expired)."""
        with self._lock:
            entry = self._read().get(key)
        if entry is None:
            return None
        created = entry.get("createdAt")
        if isinstance(created, int | float) and self._clock() - created > self._ttl:
            return None
        return str(entry["ts"])

    def put(self, key: str, ts: str) -> None:
        """Remember the thread's parent ``ts`` and drop expired threads."""
        with self._lock:
            now = self._clock()
            threads = self._read()
            threads = {
                k: v
                for k, v in threads.items()
                if isinstance(v.get("createdAt"), int | float) and now - v["createdAt"] <= self._ttl
            }
            threads[key] = {"ts": ts, "createdAt": now}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".threads-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(threads, handle, sort_keys=True)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def default_thread_store(store_url: str | None) -> ThreadStore:
    """The thread store to use beside a store URL.

    Args:
        store_url: e.g. ``sqlite:///./interlock.db``.

    Returns:
        A :class:`FileThreadStore` next to a SQLite file
        (``interlock.db`` → ``interlock.slack-threads.json``), else a :class:`MemoryThreadStore`.
    """
    prefix = "sqlite:///"
    if store_url and store_url.startswith(prefix):
        db = Path(store_url[len(prefix) :].split("?", 1)[0])
        if db.name and db.name != ":memory:":
            return FileThreadStore(db.with_name(f"{db.stem}.slack-threads.json"))
    return MemoryThreadStore()


def thread_key(channel_id: str, event: Event) -> str:
    """The thread of an event: one per (Slack channel, pipeline, period)."""
    return f"{channel_id}|{event.pipeline_id}|{event.period or ''}"


class SlackChannel:
    """Posts alerts with the Slack Bot API.

    The token is read from the environment at every send, so rotating it needs no restart and
    it is never stored on the object.
    """

    def __init__(
        self,
        name: str = "slack",
        *,
        channel_id: str | None = None,
        channel_env: str = DEFAULT_CHANNEL_ENV,
        token_env: str = DEFAULT_TOKEN_ENV,
        api_base: str = DEFAULT_API_BASE,
        thread_store: ThreadStore | None = None,
        timeout: float = 10.0,
        env: Mapping[str, str] | None = None,
        allow_private_network: bool = False,
    ) -> None:
        """Create the channel.

        Args:
            name: the channel's name in the alert config.
            channel_id: the Slack channel id (``C0123…``); when ``None`` it is read from
                ``channel_env`` at send time.
            channel_env: the environment variable holding the channel id.
            token_env: the environment variable holding the bot token.
            api_base: the Web API base URL (overridden in tests).
            thread_store: where thread timestamps are kept (default: in memory).
            timeout: seconds per HTTP request.
            env: the environment to read (default: ``os.environ``, read live).
            allow_private_network: allow a loopback, link-local or private ``api_base``.

        Raises:
            ValueError: ``api_base`` is not https (plain http only to a loopback test server
                with ``allow_private_network``).
        """
        parts = urllib.parse.urlsplit(api_base)
        local = parts.hostname in LOOPBACK_HOSTS
        if parts.scheme != "https" and not (
            parts.scheme == "http" and local and allow_private_network
        ):
            raise ValueError(f"slack channel {name!r}: api_base must be an https URL")
        self._allow_private_network = allow_private_network
        self._name = name
        self._channel_id = channel_id
        self._channel_env = channel_env
        self._token_env = token_env
        self._url = api_base.rstrip("/") + "/chat.postMessage"
        self._threads: ThreadStore = (
            thread_store if thread_store is not None else MemoryThreadStore()
        )
        self._timeout = timeout
        self._env = env

    @property
    def name(self) -> str:
        """The channel's name in the alert config."""
        return self._name

    def _environ(self) -> Mapping[str, str]:
        return self._env if self._env is not None else os.environ

    def send(self, events: list[Event]) -> None:
        """Post one event, or several as one digest message.

        A digest whose events all belong to one pipeline-period goes to that thread; a mixed
        digest is posted at the top level and starts no thread.

        Raises:
            DeliveryError: Slack did not accept the message.
        """
        if not events:
            return
        env = self._environ()
        token = env.get(self._token_env, "").strip()
        if not token:
            raise DeliveryError(
                f"slack channel {self._name!r}: environment variable {self._token_env} is not set",
                retryable=False,
            )
        channel_id = self._channel_id or env.get(self._channel_env, "").strip()
        if not channel_id:
            raise DeliveryError(
                f"slack channel {self._name!r}: no channel id "
                f"(set {self._channel_env} or 'channel' in the alert config)",
                retryable=False,
            )
        keys = {thread_key(channel_id, e) for e in events}
        key = keys.pop() if len(keys) == 1 else None
        thread_ts = self._lookup_thread(key) if key else None

        if len(events) == 1:
            text = format_event_text(events[0])
            fallback = headline(events[0], mrkdwn=False)
        else:
            text = format_digest_text(events)
            fallback = digest_summary(events)
        payload: dict[str, Any] = {
            "channel": channel_id,
            "text": fallback,
            "blocks": slack_blocks(text),
        }
        if thread_ts:
            payload["thread_ts"] = thread_ts
        ts = self._post(payload, token)
        if key and not thread_ts and ts:
            try:
                self._threads.put(key, ts)
            except Exception as exc:
                # Losing a thread only means the next alert starts a new one.
                logger.warning("slack channel %r: could not save thread: %s", self._name, exc)

    def _lookup_thread(self, key: str) -> str | None:
        try:
            return self._threads.get(key)
        except Exception as exc:
            logger.warning("slack channel %r: thread lookup failed: %s", self._name, exc)
            return None

    def _post(self, payload: dict[str, Any], token: str) -> str | None:
        where = f"slack channel {self._name!r}"
        try:
            response = post_json(
                self._url,
                payload,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
                allow_private_network=self._allow_private_network,
            )
        except HttpTransportError as exc:
            raise DeliveryError(f"{where}: {exc}") from None
        except ValueError as exc:  # a refused address: retrying cannot help
            raise DeliveryError(f"{where}: {exc}", retryable=False) from None
        if response.status == 429:
            raise DeliveryError(
                f"{where}: rate limited by Slack (HTTP 429)",
                retry_after=parse_retry_after(response.header("Retry-After")),
            )
        if response.status >= 500:
            raise DeliveryError(f"{where}: Slack returned HTTP {response.status}")
        if response.status != 200:
            raise DeliveryError(f"{where}: Slack returned HTTP {response.status}", retryable=False)
        body = response.json()
        if not isinstance(body, dict):
            raise DeliveryError(f"{where}: Slack returned a response that is not JSON")
        if body.get("ok") is not True:
            error = str(body.get("error") or "unknown_error")[:100]
            raise DeliveryError(
                f"{where}: Slack refused the message: {error}",
                retry_after=parse_retry_after(response.header("Retry-After")),
                retryable=error in _TRANSIENT_SLACK_ERRORS,
            )
        ts = body.get("ts")
        return str(ts) if ts else None
