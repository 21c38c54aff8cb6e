"""LogChannel: one line per event, never fails."""

import logging
import threading
from typing import Any

import pytest

from interlock_core.alerts.log import LogChannel
from interlock_core.events import EventType
from tests.core.alerts.fakes import make_event


def test_one_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="interlock.alerts")
    LogChannel().send(
        [
            make_event(EventType.SLA_BREACH, message="late"),
            make_event(EventType.JOB_COMPLETED, pipeline="b", period=None, message="done"),
        ]
    )
    # This thread's records only: other tests' alert workers may still be logging.
    records = [
        r
        for r in caplog.records
        if r.name == "interlock.alerts" and r.thread == threading.get_ident()
    ]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "alert \U0001f534 SLA_BREACH | orders | 2026-03-01: late"),
        (logging.INFO, "alert \u2139\ufe0f JOB_COMPLETED | b: done"),
    ]
    assert records[0].alert_event["type"] == "SLA_BREACH"  # type: ignore[attr-defined]


class _ExplodingLogger(logging.Logger):
    def log(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")


def test_never_raises() -> None:
    LogChannel("log", logger=_ExplodingLogger("x")).send([make_event()])


def test_control_characters_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    # A pipeline file named "ev\x1b[2Jil\nFAKE.yaml" reached stderr raw through the default
    # log channel's CONFIG_INVALID line: a cleared terminal and a forged log line.
    caplog.set_level(logging.INFO, logger="interlock.alerts")
    LogChannel().send(
        [make_event(EventType.CONFIG_INVALID, message="invalid: ev\x1b[2Jil\nFAKE.yaml:2")]
    )
    [record] = [r for r in caplog.records if r.name == "interlock.alerts"]
    text = record.getMessage()
    assert "\x1b" not in text and "\n" not in text
    assert text.endswith("invalid: ev\\x1b[2Jil\\nFAKE.yaml:2")
