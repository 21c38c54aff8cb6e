"""Alert text per the Go reference's §11.4 layout."""

import pytest

from interlock_core.alerts.format import (
    GREEN,
    INFO,
    RED,
    SLACK_SECTION_LIMIT,
    YELLOW,
    digest_summary,
    emoji_for,
    format_digest_text,
    format_event_text,
    headline,
    slack_blocks,
)
from interlock_core.events import EventType
from tests.core.alerts.fakes import make_event

GO_RED = [
    "SLA_BREACH",
    "JOB_FAILED",
    "VALIDATION_EXHAUSTED",
    "RETRY_EXHAUSTED",
    "INFRA_FAILURE",
    "STALE_RUN",  # replaces SFN_TIMEOUT
    "SCHEDULE_MISSED",
    "DATA_DRIFT",
    "JOB_POLL_EXHAUSTED",
]
OUR_RED = ["RELATIVE_SLA_BREACH", "TRIGGER_UNCERTAIN", "CONFIG_INVALID", "ALERT_DEAD_LETTERED"]


@pytest.mark.parametrize("name", GO_RED + OUR_RED)
def test_action_events_are_red(name: str) -> None:
    assert emoji_for(EventType[name]) == RED


@pytest.mark.parametrize(
    ("name", "emoji"),
    [
        ("SLA_WARNING", YELLOW),
        ("RELATIVE_SLA_WARNING", YELLOW),
        ("SLA_MET", GREEN),
        ("JOB_COMPLETED", INFO),
        ("RUN_OPENED", INFO),
        ("RERUN_ACCEPTED", INFO),
        ("DRY_RUN_WOULD_TRIGGER", INFO),
    ],
)
def test_other_emojis(name: str, emoji: str) -> None:
    assert emoji_for(EventType[name]) == emoji


def test_every_event_type_has_an_emoji() -> None:
    assert {emoji_for(t) for t in EventType} == {RED, YELLOW, GREEN, INFO}


def test_full_event_text() -> None:
    event = make_event(
        EventType.SLA_BREACH,
        deadline="09:00",
        breachAt="2026-03-01T09:00:00Z",
        status="RUNNING",
        source="schedule",
        cron="0 6 * * *",
        actionHint="check the job logs",
    )
    assert format_event_text(event) == (
        "\U0001f534 *SLA_BREACH* | orders | 2026-03-01\n"
        "the SLA deadline passed\n"
        "Deadline 09:00 (2026-03-01T09:00:00Z) · Status: RUNNING · Source: schedule"
        " · Cron: 0 6 * * *\n"
        "→ check the job logs"
    )


def test_deadline_without_breach_time_and_no_hint() -> None:
    event = make_event(EventType.SLA_WARNING, message="", deadline="09:00")
    assert (
        format_event_text(event) == "\U0001f7e1 *SLA_WARNING* | orders | 2026-03-01\nDeadline 09:00"
    )


def test_without_detail_the_message_is_the_second_line() -> None:
    event = make_event(EventType.JOB_COMPLETED, message="job finished in 4m")
    assert format_event_text(event).splitlines() == [
        "\u2139\ufe0f *JOB_COMPLETED* | orders | 2026-03-01",
        "job finished in 4m",
    ]


def test_headline_leaves_out_empty_parts() -> None:
    event = make_event(EventType.WATCHDOG_DEGRADED, pipeline="", period=None)
    assert headline(event) == "\u2139\ufe0f *WATCHDOG_DEGRADED*"
    assert headline(event, mrkdwn=False) == "\u2139\ufe0f WATCHDOG_DEGRADED"


def test_user_text_is_escaped_for_mrkdwn() -> None:
    event = make_event(
        EventType.JOB_FAILED,
        pipeline="a<b>",
        message="exit 1 <!channel> & more",
        actionHint="see <http://evil|here>",
    )
    text = format_event_text(event)
    assert "<" not in text
    assert ">" not in text.replace("→", "")
    assert "&lt;!channel&gt; &amp; more" in text
    assert "a&lt;b&gt;" in text
    plain = format_event_text(event, mrkdwn=False)
    assert "<!channel>" in plain


def test_long_text_fits_a_slack_section() -> None:
    event = make_event(EventType.JOB_FAILED, message="x" * 5000)
    text = format_event_text(event)
    assert len(text) == SLACK_SECTION_LIMIT
    assert text.endswith("…")


def test_digest_lists_every_event() -> None:
    events = [
        make_event(EventType.SLA_BREACH, pipeline="a"),
        make_event(EventType.JOB_FAILED, pipeline="b", message="exit 2"),
        make_event(EventType.SLA_MET, pipeline="c", period=None, message=""),
    ]
    assert format_digest_text(events) == (
        "3 alerts:\n"
        "• \U0001f534 *SLA_BREACH* | a | 2026-03-01 — the SLA deadline passed\n"
        "• \U0001f534 *JOB_FAILED* | b | 2026-03-01 — exit 2\n"
        "• \u2705 *SLA_MET* | c"
    )
    assert digest_summary(events) == "3 alerts: SLA_BREACH x1, JOB_FAILED x1, SLA_MET x1"


def test_a_huge_digest_is_cut_with_a_count() -> None:
    events = [make_event(pipeline=f"pipeline-{i}") for i in range(200)]
    text = format_digest_text(events)
    lines = text.splitlines()
    assert lines[0] == "200 alerts:"
    assert len(text) <= SLACK_SECTION_LIMIT
    shown = len(lines) - 2
    assert lines[-1] == f"… and {200 - shown} more"
    assert shown > 10


def test_slack_blocks_are_one_mrkdwn_section() -> None:
    assert slack_blocks("hi") == [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
