"""Human text for alerts: the Slack layout of the Go reference (§11.4), shared by every channel.

One event::

    🔴 *SLA_BREACH* | orders-daily | 2026-03-01
    deadline passed without a successful run
    Deadline 09:00 (2026-03-01T09:00:00Z) · Status: RUNNING · Source: schedule
    → check the job logs

Unlike the Go formatter, the event's message is kept when a ``detail`` map is present: Go
events carried little in their messages, ours always carry the sentence an operator needs.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from interlock_core.events import Event, EventType

RED = "\U0001f534"
YELLOW = "\U0001f7e1"
GREEN = "\u2705"
INFO = "\u2139\ufe0f"

# Go §11.4's red set, with STALE_RUN for SFN_TIMEOUT, plus the events that need an operator
# which Go did not have (or, for RELATIVE_SLA_*, had but never coloured).
_RED_EVENTS = frozenset(
    {
        EventType.SLA_BREACH,
        EventType.JOB_FAILED,
        EventType.VALIDATION_EXHAUSTED,
        EventType.RETRY_EXHAUSTED,
        EventType.INFRA_FAILURE,
        EventType.STALE_RUN,
        EventType.SCHEDULE_MISSED,
        EventType.DATA_DRIFT,
        EventType.JOB_POLL_EXHAUSTED,
        EventType.RELATIVE_SLA_BREACH,
        EventType.TRIGGER_UNCERTAIN,
        EventType.CONFIG_INVALID,
        EventType.ALERT_DEAD_LETTERED,
        EventType.CONTROLLER_ERROR,
    }
)
_YELLOW_EVENTS = frozenset({EventType.SLA_WARNING, EventType.RELATIVE_SLA_WARNING})
_GREEN_EVENTS = frozenset({EventType.SLA_MET})

# Slack rejects section text longer than 3000 characters.
SLACK_SECTION_LIMIT = 3000


def emoji_for(event_type: EventType) -> str:
    """The severity emoji of an event type: red, yellow, green or info."""
    if event_type in _RED_EVENTS:
        return RED
    if event_type in _YELLOW_EVENTS:
        return YELLOW
    if event_type in _GREEN_EVENTS:
        return GREEN
    return INFO


def is_severe(event_type: EventType) -> bool:
    """Whether an event type needs an operator (the red ones)."""
    return event_type in _RED_EVENTS


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as markup (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _detail_value(detail: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = detail.get(name)
        if value is not None and value != "":
            return str(value)
    return None


def headline(event: Event, *, mrkdwn: bool = True) -> str:
    """Line 1: ``<emoji> *TYPE* | pipeline | period`` (empty parts are left out).

    Args:
        event: the event.
        mrkdwn: bold the type and escape the ids for Slack; plain text otherwise.
    """
    esc = escape_mrkdwn if mrkdwn else str
    name = f"*{event.type.value}*" if mrkdwn else event.type.value
    parts = [f"{emoji_for(event.type)} {name}"]
    parts += [esc(p) for p in (event.pipeline_id, event.period) if p]
    return " | ".join(parts)


def detail_facts(event: Event) -> list[str]:
    """The Go detail line's facts: deadline (with breach time), status, source, cron."""
    detail = event.detail
    facts: list[str] = []
    deadline = _detail_value(detail, "deadline")
    breach_at = _detail_value(detail, "breachAt", "breach_at")
    if deadline and breach_at:
        facts.append(f"Deadline {deadline} ({breach_at})")
    elif deadline:
        facts.append(f"Deadline {deadline}")
    for label, keys in (
        ("Status", ("status",)),
        ("Source", ("source",)),
        ("Cron", ("cron",)),
    ):
        value = _detail_value(detail, *keys)
        if value:
            facts.append(f"{label}: {value}")
    return facts


def format_event_text(event: Event, *, mrkdwn: bool = True) -> str:
    """The full text of one event's alert.

    Args:
        event: the event.
        mrkdwn: Slack mrkdwn (bold, escaped) or plain text.

    Returns:
        Headline, message, detail facts and ``→ actionHint``, one per line, each present only
        when it has content.
    """
    esc = escape_mrkdwn if mrkdwn else str
    lines = [headline(event, mrkdwn=mrkdwn)]
    if event.message:
        lines.append(esc(event.message))
    facts = detail_facts(event)
    if facts:
        lines.append(esc(" · ".join(facts)))
    hint = _detail_value(event.detail, "actionHint", "action_hint")
    if hint:
        lines.append(f"→ {esc(hint)}")
    return _truncate("\n".join(lines), SLACK_SECTION_LIMIT)


def format_digest_text(events: Sequence[Event], *, mrkdwn: bool = True) -> str:
    """One message for a burst: ``N alerts:`` and one line per event.

    Lines that do not fit in a Slack section are replaced by ``… and K more``.
    """
    esc = escape_mrkdwn if mrkdwn else str
    header = f"{len(events)} alerts:" if len(events) != 1 else "1 alert:"
    lines = [header]
    used = len(header)
    for index, event in enumerate(events):
        line = f"• {headline(event, mrkdwn=mrkdwn)}"
        if event.message:
            line += f" — {esc(event.message)}"
        line = _truncate(line, 300)
        remaining = len(events) - index
        # Keep room for the "and K more" line in case a later line does not fit.
        if used + 1 + len(line) > SLACK_SECTION_LIMIT - 40:
            lines.append(f"… and {remaining} more")
            break
        lines.append(line)
        used += 1 + len(line)
    return "\n".join(lines)


def digest_summary(events: Sequence[Event]) -> str:
    """A one-line plain summary of a digest (Slack's notification ``text``)."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event.type.value] = counts.get(event.type.value, 0) + 1
    top = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return _truncate(f"{len(events)} alerts: {top}", 300)


def slack_blocks(text: str) -> list[dict[str, Any]]:
    """The Block Kit payload for ``text``: one mrkdwn section, as the Go dispatcher sent."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
