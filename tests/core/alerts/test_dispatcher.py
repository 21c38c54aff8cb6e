"""AlertDispatcher: non-blocking publish, rate-limit digests, retries, dead letters."""

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from interlock_core.alerts.dispatcher import AlertDispatcher, TokenBucket, dead_letter_event
from interlock_core.alerts.log import LogChannel
from interlock_core.alerts.routing import AlertConfig, parse_alert_config
from interlock_core.events import Event, EventType
from tests.core.alerts.fakes import (
    WEBHOOK_SECRET,
    FakeServer,
    Reply,
    make_event,
)

TOKEN = "xoxb-4242-SUPERSECRETTOKEN"


def slack_config(server: FakeServer, *, rate_limit: dict[str, Any] | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "slack",
        "channel": "C0ALERTS",
        "apiBase": server.url + "/api",
        "timeout": "2s",
        "allowPrivateNetwork": True,  # the fake server listens on 127.0.0.1
    }
    if rate_limit:
        channel["rateLimit"] = rate_limit
    return channel


def webhook_config(
    *, rate_limit: dict[str, Any] | None = None, timeout: str = "2s"
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "webhook",
        "urlEnv": "HOOK_URL",
        "secretEnv": "HOOK_SECRET",
        "timeout": timeout,
        "allowPrivateNetwork": True,
    }
    if rate_limit:
        channel["rateLimit"] = rate_limit
    return channel


def routed(channels: dict[str, Any], events: tuple[str, ...] = ("*",)) -> AlertConfig:
    return parse_alert_config(
        {"channels": channels, "routes": [{"events": list(events), "channels": list(channels)}]}
    )


class DeadLetters:
    """Records on_dead_letter calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Event, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event, reason: str) -> None:
        with self.lock:
            self.calls.append((event, reason))


class RecordingSleep:
    """Real sleeping, with the requested delays recorded."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def dispatchers() -> Iterator[list[AlertDispatcher]]:
    """Dispatchers created by a test are closed after it."""
    before = set(threading.enumerate())
    made: list[AlertDispatcher] = []
    yield made
    for dispatcher in made:
        dispatcher.close(timeout=1)
    # No worker thread may outlive its test: a later test capturing the alert log would see
    # its lines (``test_routes_decide_the_channels`` failed that way under load).
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("interlock-alerts-"):
            thread.join(10)
            assert not thread.is_alive(), f"{thread.name} outlived its test"


def make_dispatcher(
    made: list[AlertDispatcher], config: AlertConfig, **kwargs: Any
) -> AlertDispatcher:
    kwargs.setdefault("retry_base", 0.01)
    kwargs.setdefault("env", {"SLACK_BOT_TOKEN": TOKEN})
    dispatcher = AlertDispatcher(config, **kwargs)
    made.append(dispatcher)
    return dispatcher


class BlockingChannel:
    """A channel whose send waits until released."""

    def __init__(self, name: str = "slow") -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sent: list[list[Event]] = []
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def send(self, events: list[Event]) -> None:
        self.entered.set()
        self.release.wait(5)
        self.sent.append(events)


def test_publish_returns_at_once_while_the_channel_is_stuck(
    dispatchers: list[AlertDispatcher],
) -> None:
    slow = BlockingChannel()
    dispatcher = make_dispatcher(
        dispatchers, routed({"slow": {"type": "log"}}), channels={"slow": slow}
    )
    started = time.monotonic()
    for _ in range(50):
        dispatcher.publish(make_event())
    assert time.monotonic() - started < 0.2
    slow.release.set()
    assert dispatcher.flush(5)
    assert sum(len(batch) for batch in slow.sent) == 50


def test_slack_thread_reuse_through_the_dispatcher(
    slack_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    dispatcher = make_dispatcher(dispatchers, routed({"ops": slack_config(slack_server)}))
    dispatcher.publish(make_event(EventType.SLA_WARNING, period="2026-03-01"))
    assert dispatcher.flush(5)
    dispatcher.publish(make_event(EventType.SLA_BREACH, period="2026-03-01"))
    dispatcher.publish(make_event(EventType.SLA_WARNING, period="2026-03-02"))
    assert dispatcher.flush(5)
    bodies = [r.json for r in slack_server.requests]
    assert [b.get("thread_ts") for b in bodies] == [None, "1700000000.000001", None]
    assert dispatcher.stats.messages == 3


def test_429_then_success_waits_at_least_retry_after(
    slack_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    slack_server.reply(Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0.3"}))
    sleep = RecordingSleep()
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers, routed({"ops": slack_config(slack_server)}), sleep=sleep, on_dead_letter=dead
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    first, second = slack_server.requests
    assert second.at - first.at >= 0.3
    assert sleep.delays == [0.3]  # Retry-After beat the 0.01 s back-off
    assert dead.calls == []
    assert dispatcher.stats.retries == 1
    assert dispatcher.stats.messages == 1


def test_retry_after_is_capped(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    webhook_server.reply(Reply(429, None, {"Retry-After": "3600"}))
    sleep = RecordingSleep()
    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        sleep=sleep,
        retry_max=0.05,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert sleep.delays == [0.05]
    assert len(webhook_server.requests) == 2


def test_5xx_is_retried_with_exponential_backoff(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    webhook_server.reply(Reply(503, None), Reply(502, None), Reply(500, None))
    sleep = RecordingSleep()
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        sleep=sleep,
        on_dead_letter=dead,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    event = make_event()
    dispatcher.publish(event)
    assert dispatcher.flush(5)
    assert len(webhook_server.requests) == 4
    assert webhook_server.requests[-1].json["events"] == [event.to_dict()]
    assert sleep.delays == [0.01, 0.02, 0.04]
    assert dead.calls == []


def test_a_permanent_failure_is_dead_lettered_once_without_retries(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    webhook_server.reply(Reply(400, None))
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        on_dead_letter=dead,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    event = make_event()
    dispatcher.publish(event)
    assert dispatcher.flush(5)
    assert len(webhook_server.requests) == 1
    [(dead_event, reason)] = dead.calls
    assert dead_event == event
    assert "HTTP 400" in reason
    assert "after 1 attempt" in reason
    assert dispatcher.stats.dead_lettered == 1


def test_exhausted_retries_are_dead_lettered_once(
    make_server: Any, dispatchers: list[AlertDispatcher]
) -> None:
    down = make_server(lambda s, r: Reply(500, None))
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        on_dead_letter=dead,
        env={"HOOK_URL": down.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert len(down.requests) == 4
    [(_, reason)] = dead.calls
    assert reason.endswith("(after 4 attempts)")


def test_a_burst_becomes_two_messages_and_one_digest(
    slack_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    config = routed({"ops": slack_config(slack_server, rate_limit={"messages": 2, "per": "1s"})})
    dispatcher = make_dispatcher(dispatchers, config)
    events = [make_event(pipeline=f"p{i}") for i in range(20)]
    for event in events:
        dispatcher.publish(event)
    assert dispatcher.flush(5)
    texts = [r.json["blocks"][0]["text"]["text"] for r in slack_server.requests]
    assert len(texts) == 3
    assert texts[0].startswith("\U0001f534 *SLA_BREACH* | p0 |")
    assert texts[1].startswith("\U0001f534 *SLA_BREACH* | p1 |")
    digest = texts[2].splitlines()
    assert digest[0] == "18 alerts:"
    assert [line.split(" | ")[1] for line in digest[1:]] == [f"p{i}" for i in range(2, 20)]
    # The digest waited for the window: one token comes back every 0.5 s.
    assert slack_server.requests[2].at - slack_server.requests[0].at >= 0.45
    assert dispatcher.stats.digests == 1
    assert dispatcher.stats.events == 20


def test_a_webhook_digest_carries_every_event(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    config = routed({"hook": webhook_config(rate_limit={"messages": 2, "per": "0.4s"})})
    dispatcher = make_dispatcher(
        dispatchers, config, env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET}
    )
    events = [make_event(pipeline=f"p{i}") for i in range(20)]
    for event in events:
        dispatcher.publish(event)
    assert dispatcher.flush(5)
    batches = [r.json["events"] for r in webhook_server.requests]
    assert [len(b) for b in batches] == [1, 1, 18]
    assert [e["pipelineId"] for b in batches for e in b] == [f"p{i}" for i in range(20)]


def test_a_failing_channel_does_not_delay_another(
    make_server: Any, webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    hanging = make_server(lambda s, r: Reply(200, {"ok": True, "ts": "1.1"}, delay=1.0))
    config = routed(
        {
            "down": {**slack_config(hanging), "timeout": "0.5s"},
            "hook": webhook_config(),
        }
    )
    dispatcher = make_dispatcher(
        dispatchers,
        config,
        retry_base=0.2,
        env={
            "SLACK_BOT_TOKEN": TOKEN,
            "HOOK_URL": webhook_server.url,
            "HOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    started = time.monotonic()
    for i in range(3):
        dispatcher.publish(make_event(pipeline=f"p{i}"))
    assert webhook_server.wait_for(3, timeout=2)
    assert time.monotonic() - started < 0.4
    assert hanging.wait_for(1)
    assert [r.json["events"][0]["pipelineId"] for r in webhook_server.requests] == [
        "p0",
        "p1",
        "p2",
    ]
    assert len(hanging.requests) == 1  # still on its first, timing-out attempt
    dispatcher.close(timeout=0.05)


def test_publish_never_raises_with_a_broken_channel(
    dispatchers: list[AlertDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    dead = DeadLetters()
    config = AlertConfig.model_construct(
        channels={"weird": object()},
        routes=parse_alert_config(
            {
                "channels": {"weird": {"type": "log"}},
                "routes": [{"events": ["*"], "channels": ["weird"]}],
            }
        ).routes,
    )
    config.model_post_init(None)
    dispatcher = make_dispatcher(dispatchers, config, on_dead_letter=dead)
    dispatcher.publish(make_event())
    dispatcher.publish("not an event")  # type: ignore[arg-type]
    assert dispatcher.flush(5)
    [(_, reason)] = dead.calls
    assert "channel 'weird' could not be built" in reason


def test_a_missing_token_dead_letters_instead_of_raising(
    slack_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers, routed({"ops": slack_config(slack_server)}), env={}, on_dead_letter=dead
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert slack_server.requests == []
    [(_, reason)] = dead.calls
    assert "SLACK_BOT_TOKEN is not set" in reason


class ExplodingChannel:
    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return "boom"

    def send(self, events: list[Event]) -> None:
        self.calls += 1
        raise RuntimeError(f"leaky message with {TOKEN}")


def test_a_channel_bug_is_retried_then_dead_lettered_without_its_message(
    dispatchers: list[AlertDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    boom = ExplodingChannel()
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers, routed({"boom": {"type": "log"}}), channels={"boom": boom}, on_dead_letter=dead
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert boom.calls == 4
    [(_, reason)] = dead.calls
    assert "RuntimeError" in reason
    assert TOKEN not in reason
    assert TOKEN not in caplog.text


def test_dead_lettering_a_dead_letter_does_not_loop(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    webhook_server.default = lambda s, r: Reply(400, None)
    calls: list[Event] = []
    holder: list[AlertDispatcher] = []

    def on_dead_letter(event: Event, reason: str) -> None:
        calls.append(event)
        holder[0].publish(dead_letter_event(event, reason))

    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        on_dead_letter=on_dead_letter,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    holder.append(dispatcher)
    dispatcher.publish(make_event(EventType.JOB_FAILED))
    assert dispatcher.flush(5)
    assert [e.type for e in calls] == [EventType.JOB_FAILED]
    sent = [r.json["events"][0]["type"] for r in webhook_server.requests]
    assert sent == ["JOB_FAILED", "ALERT_DEAD_LETTERED"]
    assert dispatcher.stats.dead_lettered == 2


def test_dead_letter_event_describes_the_lost_alert() -> None:
    event = make_event(EventType.JOB_FAILED)
    dead = dead_letter_event(event, "webhook channel 'pager': receiver returned HTTP 400")
    assert dead.type is EventType.ALERT_DEAD_LETTERED
    assert (dead.pipeline_id, dead.period, dead.attempt) == ("orders", "2026-03-01", 1)
    assert dead.detail["eventId"] == event.id
    assert dead.detail["eventType"] == "JOB_FAILED"
    assert "HTTP 400" in dead.message


def test_a_failing_dead_letter_handler_is_contained(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    webhook_server.reply(Reply(400, None))

    def on_dead_letter(event: Event, reason: str) -> None:
        raise RuntimeError("store down")

    dispatcher = make_dispatcher(
        dispatchers,
        routed({"hook": webhook_config()}),
        on_dead_letter=on_dead_letter,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    dispatcher.publish(make_event(pipeline="a"))
    dispatcher.publish(make_event(pipeline="b"))
    assert dispatcher.flush(5)
    assert len(webhook_server.requests) == 2
    assert dispatcher.stats.messages == 1


def test_a_full_queue_drops_and_counts(
    dispatchers: list[AlertDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="interlock.alerts")
    dispatcher = make_dispatcher(
        dispatchers, routed({"log": {"type": "log"}}), max_pending=5, autostart=False
    )
    for i in range(8):
        dispatcher.publish(make_event(EventType.RUN_OPENED, pipeline=f"p{i}"))
    assert dispatcher.stats.dropped == 3
    # This thread's records only: other tests' workers may still be logging.
    mine = [r for r in caplog.records if r.thread == threading.get_ident()]
    drops = [r for r in mine if "dropped" in r.getMessage()]
    assert len(drops) == 1  # the first drop is logged, not every one
    assert dispatcher.deliver_now() == 5


class ListHandler(logging.Handler):
    """Keeps the records of one logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def noisy_neighbour() -> Iterator[None]:
    """Another dispatcher's worker, still logging to ``interlock.alerts`` during the test
    (what made the routing test fail about one run in four under load)."""
    stop = threading.Event()
    neighbour = logging.getLogger("interlock.alerts")

    def chatter() -> None:
        while not stop.is_set():
            neighbour.warning("alert channel 'hook': 503; retry 1/3 in 0.01s")
            stop.wait(0.005)

    thread = threading.Thread(target=chatter, name="noisy-neighbour", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_routes_decide_the_channels(
    webhook_server: FakeServer,
    dispatchers: list[AlertDispatcher],
    caplog: pytest.LogCaptureFixture,
    noisy_neighbour: None,
) -> None:
    caplog.set_level(logging.INFO, logger="interlock.alerts")
    # The log channel writes to a logger of this test alone: worker threads of earlier tests
    # that are still winding down log to ``interlock.alerts``, never here.
    private = logging.getLogger(f"tests.alerts.routes.{id(webhook_server)}")
    private.propagate = False
    private.setLevel(logging.DEBUG)
    handler = ListHandler()
    private.addHandler(handler)
    config = parse_alert_config(
        {
            "channels": {"hook": webhook_config(), "log": {"type": "log"}},
            "routes": [
                {"events": ["SLA_BREACH"], "channels": ["hook"]},
                {"events": ["*"], "channels": ["log"]},
            ],
        }
    )
    dispatcher = make_dispatcher(
        dispatchers,
        config,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
        channels={"log": LogChannel("log", logger=private)},
    )
    try:
        dispatcher.publish(make_event(EventType.SLA_BREACH))
        dispatcher.publish(make_event(EventType.RUN_OPENED, message="opened"))
        assert dispatcher.flush(5)
        assert [r.json["events"][0]["type"] for r in webhook_server.requests] == ["SLA_BREACH"]
        logged = [record.alert_event["type"] for record in handler.records]  # type: ignore[attr-defined]
        assert logged == ["SLA_BREACH", "RUN_OPENED"]
    finally:
        private.removeHandler(handler)


def test_close_sends_a_pending_burst_as_a_digest_at_once(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    config = routed({"hook": webhook_config(rate_limit={"messages": 1, "per": "60s"})})
    dispatcher = make_dispatcher(
        dispatchers, config, env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET}
    )
    for i in range(5):
        dispatcher.publish(make_event(pipeline=f"p{i}"))
    assert webhook_server.wait_for(1)
    started = time.monotonic()
    assert dispatcher.close(timeout=2)
    assert time.monotonic() - started < 1
    assert [len(r.json["events"]) for r in webhook_server.requests] == [1, 4]
    dispatcher.publish(make_event())  # after close: dropped, not raised
    assert dispatcher.stats.dropped == 1


def test_close_dead_letters_what_it_could_not_deliver(dispatchers: list[AlertDispatcher]) -> None:
    slow = BlockingChannel()
    dead = DeadLetters()
    dispatcher = make_dispatcher(
        dispatchers, routed({"slow": {"type": "log"}}), channels={"slow": slow}, on_dead_letter=dead
    )
    dispatcher.publish(make_event(pipeline="p0"))
    assert slow.entered.wait(2)
    for i in (1, 2):
        dispatcher.publish(make_event(pipeline=f"p{i}"))
    assert not dispatcher.close(timeout=0.1)
    assert [e.pipeline_id for e, _ in dead.calls] == ["p1", "p2"]
    assert all("closed before delivery" in reason for _, reason in dead.calls)
    slow.release.set()


def test_deliver_now_runs_in_the_calling_thread(
    webhook_server: FakeServer, dispatchers: list[AlertDispatcher]
) -> None:
    config = routed({"hook": webhook_config(rate_limit={"messages": 2, "per": "60s"})})
    dispatcher = make_dispatcher(
        dispatchers,
        config,
        autostart=False,
        env={"HOOK_URL": webhook_server.url, "HOOK_SECRET": WEBHOOK_SECRET},
    )
    for i in range(5):
        dispatcher.publish(make_event(pipeline=f"p{i}"))
    assert webhook_server.requests == []
    assert dispatcher.deliver_now() == 3
    assert [len(r.json["events"]) for r in webhook_server.requests] == [1, 1, 3]
    assert not [t for t in threading.enumerate() if t.name.startswith("interlock-alerts-")]


def test_the_token_never_reaches_logs(
    slack_server: FakeServer, dispatchers: list[AlertDispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_server.default = lambda s, r: Reply(500, {"ok": False, "error": "fatal_error"})
    slack_server.reply(
        Reply(429, None, {"Retry-After": "0.01"}),
        Reply(200, {"ok": False, "error": "internal_error"}),
        Reply(200, {"ok": True}, delay=0.5),
    )
    dead = DeadLetters()
    config = routed({"ops": {**slack_config(slack_server), "timeout": "0.2s"}})
    dispatcher = make_dispatcher(dispatchers, config, on_dead_letter=dead)
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert len(slack_server.requests) == 4
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in slack_server.requests)
    [(_, reason)] = dead.calls
    assert TOKEN not in reason
    assert "retry 3/3" in caplog.text
    assert TOKEN not in caplog.text


def test_token_bucket() -> None:
    bucket = TokenBucket(2, 1.0, now=0.0)
    assert bucket.try_take(0.0)
    assert bucket.try_take(0.0)
    assert not bucket.try_take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(0.5)
    assert bucket.wait_time(0.25) == pytest.approx(0.25)
    assert bucket.try_take(0.5)
    assert not bucket.try_take(0.5)
    assert bucket.try_take(100.0)
    assert bucket.try_take(100.0)
    assert not bucket.try_take(100.0)  # never more than the bucket holds


def test_a_fake_clock_and_sleep_drive_the_rate_limit(dispatchers: list[AlertDispatcher]) -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    sent: list[int] = []

    class Counting:
        name = "c"

        def send(self, events: list[Event]) -> None:
            sent.append(len(events))

    config = routed({"c": {"type": "log", "rateLimit": {"messages": 1, "per": "1h"}}})
    dispatcher = make_dispatcher(
        dispatchers,
        config,
        clock=lambda: now[0],
        sleep=sleep,
        channels={"c": Counting()},
        autostart=False,
    )
    for _ in range(4):
        dispatcher.publish(make_event())
    dispatcher.start()
    deadline = time.monotonic() + 5
    while sum(sent) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [1, 3]
    assert waits == [pytest.approx(3600.0)]


def test_a_worker_survives_an_internal_error(dispatchers: list[AlertDispatcher]) -> None:
    calls = [0]

    def flaky_clock() -> float:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("clock went away")
        return time.monotonic()

    slow = BlockingChannel()
    slow.release.set()
    dispatcher = make_dispatcher(
        dispatchers, routed({"slow": {"type": "log"}}), clock=flaky_clock, channels={"slow": slow}
    )
    dispatcher.publish(make_event())
    assert dispatcher.flush(5)
    assert len(slow.sent) == 1
