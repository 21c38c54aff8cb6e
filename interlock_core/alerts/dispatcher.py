"""The alert dispatcher: routes published events to channels without ever holding up the caller.

``publish`` only appends to a bounded per-channel queue. Each channel has its own worker
thread, so a slow or failing channel (timeouts, retry back-off, rate-limit waits) delays only
itself. Per channel:

* **rate limit** — a token bucket of ``messages`` per ``per`` seconds. While it is empty,
  events accumulate; when a token comes back they go out as **one digest message**.
* **retries** — exponential back-off (1 s, 2 s, 4 s; 4 attempts), never shorter than the
  receiver's ``Retry-After`` and never longer than ``retry_max`` seconds. Failures that cannot
  succeed later (4xx, a missing environment variable) are not retried.
* **dead letters** — an event that could not be delivered is passed to ``on_dead_letter``
  (the engine records an ``ALERT_DEAD_LETTERED`` event). A dead-lettered
  ``ALERT_DEAD_LETTERED`` event is only logged, so a broken channel cannot start a loop.
"""

import importlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from interlock_core.alerts.base import AlertChannel, DeliveryError
from interlock_core.alerts.routing import (
    AlertConfig,
    ChannelConfig,
    LogChannelConfig,
    RateLimit,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from interlock_core.events import Event, EventType

if TYPE_CHECKING:
    from interlock_core.alerts.slack import ThreadStore

# Channel type -> "module:class": a channel's module (and the HTTP client, urllib, ssl and
# email it needs) is imported only when a config names a channel of that type.
CHANNEL_CLASSES = {
    "slack": "interlock_core.alerts.slack:SlackChannel",
    "webhook": "interlock_core.alerts.webhook:WebhookChannel",
    "log": "interlock_core.alerts.log:LogChannel",
}

logger = logging.getLogger("interlock.alerts")

DeadLetterHandler = Callable[[Event, str], None]

DEFAULT_MAX_PENDING = 1000
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_RETRY_BASE = 1.0
DEFAULT_RETRY_MAX = 60.0
MAX_DIGEST_EVENTS = 100


@dataclass(frozen=True)
class DispatcherStats:
    """Counters since the dispatcher was created.

    Attributes:
        messages: messages delivered (a digest counts once).
        events: events delivered (a digest counts each of its events).
        digests: digest messages delivered.
        retries: delivery attempts that were retried.
        dead_lettered: events given up on after their retries.
        dropped: events dropped because a channel's queue was full or the dispatcher closed.
    """

    messages: int = 0
    events: int = 0
    digests: int = 0
    retries: int = 0
    dead_lettered: int = 0
    dropped: int = 0


class TokenBucket:
    """``messages`` tokens per ``per`` seconds, refilled continuously, starting full."""

    def __init__(self, messages: int, per: float, now: float) -> None:
        """Create a full bucket at time ``now`` (seconds on the dispatcher's clock)."""
        self.capacity = float(messages)
        self.rate = messages / per
        self.tokens = float(messages)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def try_take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float:
        """Seconds until a token is available."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


class _BrokenChannel:
    """Stands in for a channel that could not be built, so its events are dead-lettered."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self._reason = reason

    @property
    def name(self) -> str:
        return self._name

    def send(self, events: list[Event]) -> None:
        raise DeliveryError(self._reason, retryable=False)


def build_channel(
    name: str,
    config: ChannelConfig,
    *,
    env: Mapping[str, str] | None = None,
    thread_store: "ThreadStore | None" = None,
) -> AlertChannel:
    """Build the channel a config describes.

    Args:
        name: the channel's name in the alert config.
        config: its config.
        env: the environment secrets are read from at send time (default ``os.environ``).
        thread_store: where Slack threads are kept (default: in memory).
    """
    if isinstance(config, SlackChannelConfig):
        return _channel_class("slack")(
            name,
            channel_id=config.channel,
            channel_env=config.resolved_channel_env,
            token_env=config.token_env,
            api_base=config.api_base,
            thread_store=thread_store,
            timeout=config.timeout,
            env=env,
            allow_private_network=config.allow_private_network,
        )
    if isinstance(config, WebhookChannelConfig):
        return _channel_class("webhook")(
            name,
            url=config.url,
            url_env=config.url_env,
            secret_env=config.secret_env,
            timeout=config.timeout,
            env=env,
            allow_private_network=config.allow_private_network,
        )
    if isinstance(config, LogChannelConfig):
        return _channel_class("log")(name)
    raise ValueError(f"unknown channel type for {name!r}")


def _channel_class(channel_type: str) -> Callable[..., AlertChannel]:
    """The channel class of a type, imported now (see ``CHANNEL_CLASSES``)."""
    module_name, _, attribute = CHANNEL_CLASSES[channel_type].partition(":")
    channel_class: Callable[..., AlertChannel] = getattr(
        importlib.import_module(module_name), attribute
    )
    return channel_class


def dead_letter_event(event: Event, reason: str, *, at: datetime | None = None) -> Event:
    """The ``ALERT_DEAD_LETTERED`` event that reports an undelivered alert.

    Args:
        event: the alert that was not delivered.
        reason: why (as passed to ``on_dead_letter``; never contains secrets).
        at: when (default: now).
    """
    return Event(
        type=EventType.ALERT_DEAD_LETTERED,
        pipeline_id=event.pipeline_id,
        period=event.period,
        attempt=event.attempt,
        at=at or datetime.now(UTC),
        message=f"{event.type.value} alert could not be delivered: {reason}",
        detail={
            "eventId": event.id,
            "eventType": event.type.value,
            "reason": reason,
            "actionHint": "check the alert channel's configuration, credentials and status",
        },
    )


class _Worker:
    """The queue, rate limit and delivery loop of one channel."""

    def __init__(
        self,
        dispatcher: "AlertDispatcher",
        channel: AlertChannel,
        name: str,
        rate_limit: RateLimit | None,
        max_pending: int,
    ) -> None:
        self.d = dispatcher
        self.channel = channel
        self.name = name
        self.max_pending = max_pending
        self.bucket = (
            TokenBucket(rate_limit.messages, rate_limit.per, dispatcher._clock())
            if rate_limit is not None
            else None
        )
        self.pending: deque[Event] = deque()
        self.cond = threading.Condition()
        self.busy = False
        # Set once the bucket ran dry with events waiting: the next token sends a digest.
        self.limited = False
        self.thread: threading.Thread | None = None

    def offer(self, event: Event) -> bool:
        with self.cond:
            if len(self.pending) >= self.max_pending:
                return False
            self.pending.append(event)
            self.cond.notify_all()
            return True

    def idle(self) -> bool:
        return not self.pending and not self.busy

    def take(self, now: float, *, patient: bool) -> list[Event] | float | None:
        """Under ``cond``: the next message to send, seconds to wait for a token, or None.

        ``patient=False`` (closing, synchronous delivery) sends the rest of a rate-limited
        burst as a digest at once instead of waiting for the window to reopen.
        """
        if not self.pending:
            return None
        if self.bucket is None:
            return [self.pending.popleft()]
        if self.bucket.try_take(now):
            if self.limited:
                return self._digest()
            return [self.pending.popleft()]
        self.limited = True
        if not patient:
            return self._digest()
        return self.bucket.wait_time(now)

    def _digest(self) -> list[Event]:
        count = min(len(self.pending), MAX_DIGEST_EVENTS)
        batch = [self.pending.popleft() for _ in range(count)]
        self.limited = bool(self.pending)
        return batch

    def run(self) -> None:
        while not self.d._stopping:
            try:
                self._step()
            except Exception as exc:
                # A dead worker would let this channel's queue fill up silently.
                logger.error("alert channel %r worker error (%s)", self.name, type(exc).__name__)
                self.d._wait_for_retry(0.1)

    def _step(self) -> None:
        d = self.d
        with self.cond:
            while not self.pending and not d._stopping:
                self.cond.wait()
            if d._stopping:
                return
            decision = self.take(d._clock(), patient=not d._draining.is_set())
            if isinstance(decision, list):
                self.busy = True
        if decision is None:
            return
        if isinstance(decision, float):
            d._wait_for_rate_limit(decision)
            return
        try:
            self.deliver(decision)
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()

    def deliver(self, batch: list[Event]) -> None:
        """Send one message with retries; dead-letter its events if that fails."""
        d = self.d
        attempt = 0
        while True:
            attempt += 1
            try:
                self.channel.send(list(batch))
            except DeliveryError as exc:
                error = exc
            except Exception as exc:
                # A bug in a channel: its message could hold anything, so only the type is kept.
                error = DeliveryError(
                    f"channel {self.name!r} failed unexpectedly ({type(exc).__name__})"
                )
            else:
                d._count(messages=1, events=len(batch), digests=int(len(batch) > 1))
                return
            if d._abort.is_set() or not error.retryable or attempt >= d._max_attempts:
                tries = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                d._dead_letter(self.name, batch, f"{error} ({tries})")
                return
            delay = d._retry_base * 2 ** (attempt - 1)
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
            delay = min(delay, d._retry_max)
            d._count(retries=1)
            logger.warning(
                "alert channel %r: %s; retry %d/%d in %.2gs",
                self.name,
                error,
                attempt,
                d._max_attempts - 1,
                delay,
            )
            d._wait_for_retry(delay)


class AlertDispatcher:
    """Delivers published events to the channels their routes name (an ``AlertSink``).

    Thread-safe. Start it with :meth:`start` (or let the first :meth:`publish` start it) and
    stop it with :meth:`close`, which delivers what is queued first. With
    ``autostart=False`` and no :meth:`start`, nothing runs in the background and
    :meth:`deliver_now` delivers the queue in the calling thread (tests, ``run --once``).
    """

    def __init__(
        self,
        config: AlertConfig,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        on_dead_letter: DeadLetterHandler | None = None,
        channels: Mapping[str, AlertChannel] | None = None,
        env: Mapping[str, str] | None = None,
        thread_store: "ThreadStore | None" = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_max: float = DEFAULT_RETRY_MAX,
        autostart: bool = True,
    ) -> None:
        """Create the dispatcher and its channels (no thread starts yet).

        Args:
            config: the routes and channel configs.
            clock: monotonic seconds for rate limits (default ``time.monotonic``).
            sleep: how to wait for a rate-limit window or a retry back-off (default: a
                wait that :meth:`close` can cut short). Inject it together with ``clock``.
            on_dead_letter: called with each event that could not be delivered and why.
                Called from a worker thread; it may call :meth:`publish`.
            channels: channels to use instead of building them from ``config``, by name
                (each name must still be defined in ``config`` for its rate limit).
            env: where channels read their secrets at send time (default ``os.environ``).
            thread_store: where Slack threads are kept (default: in memory).
            max_pending: events queued per channel before new ones are dropped.
            max_attempts: delivery attempts per message, the first included.
            retry_base: the first retry's delay in seconds (doubled at each retry).
            retry_max: the longest retry delay, ``Retry-After`` included.
            autostart: start the worker threads on the first :meth:`publish`.
        """
        self._config = config
        self._clock: Callable[[], float] = clock or time.monotonic
        self._sleep = sleep
        self._on_dead_letter = on_dead_letter
        self._max_attempts = max(1, max_attempts)
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._autostart = autostart
        self._lock = threading.Lock()
        self._stats = DispatcherStats()
        self._started = False
        self._closed = False
        self._stopping = False
        self._draining = threading.Event()
        self._abort = threading.Event()
        self._workers: dict[str, _Worker] = {}
        overrides = dict(channels or {})
        for name, channel_config in config.channels.items():
            channel = overrides.get(name)
            rate_limit: RateLimit | None = None
            try:
                rate_limit = channel_config.rate_limit
                if channel is None:
                    channel = build_channel(
                        name, channel_config, env=env, thread_store=thread_store
                    )
            except Exception as exc:
                # Refusing to start would take the lifecycle down with one bad channel.
                reason = f"channel {name!r} could not be built ({type(exc).__name__})"
                logger.error("alert %s", reason)
                channel = _BrokenChannel(name, reason)
            self._workers[name] = _Worker(self, channel, name, rate_limit, max(1, max_pending))

    # -- the AlertSink port -------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue ``event`` for its channels and return at once; never raises."""
        try:
            if self._closed:
                self._drop(None, event, "the dispatcher is closed")
                return
            names = self._config.channels_for(event.type)
            if not names:
                return
            if self._autostart and not self._started:
                self.start()
            for name in names:
                worker = self._workers.get(name)
                if worker is not None and not worker.offer(event):
                    self._drop(worker, event, f"the queue is full ({worker.max_pending})")
        except Exception as exc:
            logger.error("alert dispatch failed (%s); event dropped", type(exc).__name__)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start one worker thread per channel (idempotent)."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            for worker in self._workers.values():
                worker.thread = threading.Thread(
                    target=worker.run, name=f"interlock-alerts-{worker.name}", daemon=True
                )
                worker.thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is delivered or dead-lettered.

        Rate limits are honoured, so a pending digest can take up to one window. Without
        running workers this is :meth:`deliver_now`.

        Returns:
            ``True`` if all queues are empty, ``False`` on timeout.
        """
        if not self._started:
            self.deliver_now()
            return True
        deadline = time.monotonic() + timeout
        while True:
            waited = False
            # Another pass after any wait: a dead-letter handler may have queued more.
            for worker in self._workers.values():
                with worker.cond:
                    while not worker.idle():
                        waited = True
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False
                        worker.cond.wait(remaining)
            if not waited:
                return True

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued (a rate-limited burst goes as a digest at once), then stop.

        Events still undelivered at ``timeout`` are dead-lettered. Later publishes are dropped.

        Returns:
            ``True`` if everything queued was delivered or dead-lettered in time.
        """
        if self._closed:
            return True
        self._draining.set()
        for worker in self._workers.values():
            with worker.cond:
                worker.cond.notify_all()
        drained = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._stopping = True
        if not drained:
            self._abort.set()
        for worker in self._workers.values():
            with worker.cond:
                worker.cond.notify_all()
        for worker in self._workers.values():
            if worker.thread is not None:
                worker.thread.join(0.2)
        for worker in self._workers.values():
            with worker.cond:
                left = list(worker.pending)
                worker.pending.clear()
            if left:
                self._dead_letter(worker.name, left, "the dispatcher closed before delivery")
        return drained

    def deliver_now(self) -> int:
        """Deliver everything queued in the calling thread; returns the messages sent.

        Retries still wait (in this thread); a rate-limited burst goes as a digest at once.
        When the workers are running this waits for them instead (:meth:`flush`).
        """
        before = self.stats.messages
        if self._started:
            self.flush()
            return self.stats.messages - before
        progressed = True
        while progressed:
            progressed = False
            for worker in self._workers.values():
                while True:
                    with worker.cond:
                        decision = worker.take(self._clock(), patient=False)
                    if not isinstance(decision, list):
                        break
                    worker.deliver(decision)
                    progressed = True
        return self.stats.messages - before

    @property
    def stats(self) -> DispatcherStats:
        """A snapshot of the counters."""
        with self._lock:
            return self._stats

    # -- internals ----------------------------------------------------------------------

    def _count(self, **increments: int) -> None:
        with self._lock:
            current = self._stats
            self._stats = replace(
                current, **{k: getattr(current, k) + v for k, v in increments.items()}
            )

    def _drop(self, worker: _Worker | None, event: Event, why: str) -> None:
        self._count(dropped=1)
        dropped = self.stats.dropped
        # The first drop and then every 100th: a flood of drops must not flood the log.
        if dropped == 1 or dropped % 100 == 0:
            where = f" on channel {worker.name!r}" if worker else ""
            logger.warning(
                "alert %s for %r dropped%s: %s (%d dropped so far)",
                event.type.value,
                event.pipeline_id,
                where,
                why,
                dropped,
            )

    def _dead_letter(self, channel: str, batch: list[Event], reason: str) -> None:
        self._count(dead_lettered=len(batch))
        for event in batch:
            logger.error(
                "alert %s for %r (%s) dead-lettered on channel %r: %s",
                event.type.value,
                event.pipeline_id,
                event.period or "-",
                channel,
                reason,
            )
            # Reporting this one would publish another ALERT_DEAD_LETTERED to the same
            # broken channel, and so on forever.
            if event.type is EventType.ALERT_DEAD_LETTERED or self._on_dead_letter is None:
                continue
            try:
                self._on_dead_letter(event, reason)
            except Exception as exc:
                logger.error("alert dead-letter handler failed (%s)", type(exc).__name__)

    def _wait_for_rate_limit(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            # Closing ends the wait: the rest of the burst is then sent as a digest.
            self._draining.wait(seconds)

    def _wait_for_retry(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._abort.wait(seconds)
