"""SlackChannel against a local server playing chat.postMessage."""

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from interlock_core.alerts.base import DeliveryError
from interlock_core.alerts.slack import (
    FileThreadStore,
    MemoryThreadStore,
    SlackChannel,
    default_thread_store,
)
from interlock_core.events import EventType
from tests.core.alerts.fakes import FakeServer, Reply, make_event

TOKEN = "xoxb-1111-2222-SECRETTOKEN"
ENV = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL_ID": "C0ALERTS"}


def channel(server: FakeServer, **kwargs: object) -> SlackChannel:
    options: dict[str, object] = {
        "api_base": server.url + "/api",
        "env": ENV,
        "timeout": 2.0,
        "allow_private_network": True,  # the fake server listens on 127.0.0.1
    }
    options.update(kwargs)
    return SlackChannel("ops-slack", **options)  # type: ignore[arg-type]


def test_posts_a_message_with_the_bot_token(slack_server: FakeServer) -> None:
    event = make_event(EventType.JOB_FAILED, message="exit 3", actionHint="read the logs")
    channel(slack_server).send([event])
    [request] = slack_server.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = request.json
    assert body["channel"] == "C0ALERTS"
    assert body["text"] == "\U0001f534 JOB_FAILED | orders | 2026-03-01"
    assert body["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "\U0001f534 *JOB_FAILED* | orders | 2026-03-01\nexit 3\n→ read the logs",
            },
        }
    ]
    assert "thread_ts" not in body


def test_one_thread_per_pipeline_period(slack_server: FakeServer) -> None:
    slack = channel(slack_server)
    slack.send([make_event(EventType.SLA_WARNING, period="2026-03-01")])
    slack.send([make_event(EventType.SLA_BREACH, period="2026-03-01")])
    slack.send([make_event(EventType.SLA_WARNING, period="2026-03-02")])
    slack.send([make_event(EventType.SLA_WARNING, pipeline="billing", period="2026-03-01")])
    slack.send([make_event(EventType.SLA_MET, period="2026-03-01")])
    bodies = [r.json for r in slack_server.requests]
    parent = "1700000000.000001"
    assert [b.get("thread_ts") for b in bodies] == [None, parent, None, None, parent]


def test_threads_are_per_slack_channel(slack_server: FakeServer) -> None:
    store = MemoryThreadStore()
    channel(slack_server, thread_store=store).send([make_event()])
    channel(slack_server, thread_store=store, channel_id="C0OTHER").send([make_event()])
    bodies = [r.json for r in slack_server.requests]
    assert [b["channel"] for b in bodies] == ["C0ALERTS", "C0OTHER"]
    assert "thread_ts" not in bodies[1]


def test_a_file_thread_store_survives_a_restart(slack_server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "interlock.slack-threads.json"
    channel(slack_server, thread_store=FileThreadStore(path)).send([make_event()])
    # A new process: new channel, new store object, same file.
    channel(slack_server, thread_store=FileThreadStore(path)).send([make_event()])
    assert slack_server.requests[1].json["thread_ts"] == "1700000000.000001"
    assert json.loads(path.read_text())["C0ALERTS|orders|2026-03-01"]["ts"] == "1700000000.000001"


def test_file_thread_store_expires_old_threads(tmp_path: Path) -> None:
    now = [1000.0]
    store = FileThreadStore(tmp_path / "t.json", ttl_seconds=60, clock=lambda: now[0])
    store.put("a", "1.1")
    assert store.get("a") == "1.1"
    now[0] += 61
    assert store.get("a") is None
    store.put("b", "2.2")
    assert set(json.loads((tmp_path / "t.json").read_text())) == {"b"}


def test_an_unreadable_thread_file_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{not json")
    store = FileThreadStore(path)
    assert store.get("a") is None
    store.put("a", "1.1")
    assert store.get("a") == "1.1"


def test_default_thread_store_sits_beside_a_sqlite_store(tmp_path: Path) -> None:
    store = default_thread_store(f"sqlite:///{tmp_path}/interlock.db")
    assert isinstance(store, FileThreadStore)
    assert store.path == tmp_path / "interlock.slack-threads.json"
    assert isinstance(default_thread_store("memory://"), MemoryThreadStore)
    assert isinstance(default_thread_store(None), MemoryThreadStore)


def test_a_digest_of_one_pipeline_period_goes_to_its_thread(slack_server: FakeServer) -> None:
    slack = channel(slack_server)
    slack.send([make_event(EventType.SLA_WARNING)])
    slack.send([make_event(EventType.SLA_BREACH), make_event(EventType.JOB_FAILED)])
    digest = slack_server.requests[1].json
    assert digest["thread_ts"] == "1700000000.000001"
    assert digest["blocks"][0]["text"]["text"].startswith("2 alerts:\n")
    assert digest["text"] == "2 alerts: SLA_BREACH x1, JOB_FAILED x1"


def test_a_mixed_digest_is_top_level_and_starts_no_thread(slack_server: FakeServer) -> None:
    slack = channel(slack_server)
    slack.send([make_event(pipeline="a"), make_event(pipeline="b")])
    slack.send([make_event(pipeline="a")])
    assert [r.json.get("thread_ts") for r in slack_server.requests] == [None, None]


def test_429_carries_retry_after(slack_server: FakeServer) -> None:
    slack_server.reply(Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}))
    with pytest.raises(DeliveryError) as info:
        channel(slack_server).send([make_event()])
    assert info.value.retry_after == 3.0
    assert info.value.retryable


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(slack_server: FakeServer, status: int) -> None:
    slack_server.reply(Reply(status, None))
    with pytest.raises(DeliveryError) as info:
        channel(slack_server).send([make_event()])
    assert info.value.retryable
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [("channel_not_found", False), ("invalid_auth", False), ("internal_error", True)],
)
def test_ok_false_fails(slack_server: FakeServer, error: str, retryable: bool) -> None:
    slack_server.reply(Reply(200, {"ok": False, "error": error}))
    with pytest.raises(DeliveryError, match=error) as info:
        channel(slack_server).send([make_event()])
    assert info.value.retryable is retryable


def test_other_statuses_are_permanent(slack_server: FakeServer) -> None:
    slack_server.reply(Reply(404, None))
    with pytest.raises(DeliveryError) as info:
        channel(slack_server).send([make_event()])
    assert not info.value.retryable


def test_a_failed_first_message_starts_no_thread(slack_server: FakeServer) -> None:
    slack_server.reply(Reply(500, None))
    slack = channel(slack_server)
    with pytest.raises(DeliveryError):
        slack.send([make_event()])
    slack.send([make_event()])
    slack.send([make_event()])
    assert [r.json.get("thread_ts") for r in slack_server.requests] == [
        None,
        None,
        "1700000000.000001",
    ]


def test_a_missing_token_is_a_permanent_failure_naming_the_variable(
    slack_server: FakeServer,
) -> None:
    slack = channel(slack_server, env={"SLACK_CHANNEL_ID": "C1"}, token_env="MY_TOKEN")
    with pytest.raises(DeliveryError, match="MY_TOKEN is not set") as info:
        slack.send([make_event()])
    assert not info.value.retryable
    assert slack_server.requests == []


def test_a_missing_channel_id_is_a_permanent_failure(slack_server: FakeServer) -> None:
    slack = channel(slack_server, env={"SLACK_BOT_TOKEN": TOKEN})
    with pytest.raises(DeliveryError, match="SLACK_CHANNEL_ID") as info:
        slack.send([make_event()])
    assert not info.value.retryable


def test_the_token_is_read_at_send_time(slack_server: FakeServer) -> None:
    env = dict(ENV)
    slack = channel(slack_server, env=env)
    slack.send([make_event()])
    env["SLACK_BOT_TOKEN"] = "xoxb-rotated"
    slack.send([make_event(period="2026-03-02")])
    assert [r.headers["authorization"] for r in slack_server.requests] == [
        f"Bearer {TOKEN}",
        "Bearer xoxb-rotated",
    ]


def test_the_token_never_reaches_errors_or_logs(
    slack_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_server.reply(
        Reply(500, {"ok": False}),
        Reply(429, None, {"Retry-After": "1"}),
        Reply(200, {"ok": False, "error": "invalid_auth"}),
        Reply(401, None),
        Reply(200, {"ok": True}, delay=0.5),
    )
    slack = channel(slack_server, timeout=0.2)
    messages = []
    for _ in range(5):
        with pytest.raises(DeliveryError) as info:
            slack.send([make_event()])
        messages.append(f"{info.value!s} {info.value!r}")
    assert all(TOKEN not in m for m in messages)
    assert "timed out" in messages[-1]
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_the_thread_file_is_read_defensively(tmp_path: Path, kind: str) -> None:
    # The file sits beside the store (possibly in a shared folder): a FIFO planted under its
    # name hung every Slack delivery; a link made the controller read another file.
    path = tmp_path / "interlock.slack-threads.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        other = tmp_path / "other.json"
        other.write_text('{"C1|orders|": {"ts": "1.0", "createdAt": 9999999999}}')
        path.symlink_to(other)
    store = FileThreadStore(path)
    done = threading.Event()
    found: list[str | None] = []

    def read() -> None:
        found.append(store.get("C1|orders|"))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading the thread file blocked"
    assert found == [None]
