"""Tests for interlock_core.sla: absolute and relative deadlines, status, verdicts, dry runs."""

import datetime as dt
from typing import Any

import pytest

from interlock_core import sla
from interlock_core.config.models import SLA, Pipeline
from interlock_core.sla import SlaDeadlines

NY = "America/New_York"
LONDON = "Europe/London"
TRIGGER = {"key": "upstream-complete", "check": "exists"}


def make(sla_doc: dict[str, Any] | None, schedule_doc: dict[str, Any] | None = None) -> Pipeline:
    doc: dict[str, Any] = {
        "pipeline": {"id": "p"},
        "schedule": schedule_doc or {"trigger": TRIGGER},
    }
    if sla_doc is not None:
        doc["sla"] = sla_doc
    return Pipeline.model_validate(doc)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


CRON_NY = {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"}


# --------------------------------------------------------------------------- absolute


@pytest.mark.parametrize(
    ("sla_doc", "schedule_doc", "period", "breach", "warning"),
    [
        pytest.param(
            {"deadline": "10:00", "expectedDuration": "30m"},
            None,
            "2026-03-03",
            utc(2026, 3, 4, 10),
            utc(2026, 3, 4, 9, 30),
            id="sensor-daily-t-plus-1",
        ),
        pytest.param(
            {"deadline": "10:00"},
            None,
            "2026-03-03",
            utc(2026, 3, 4, 10),
            None,
            id="no-expected-duration-no-warning",
        ),
        pytest.param(
            {"deadline": "10:00", "expectedDuration": "30m"},
            None,
            "2026-01-31",
            utc(2026, 2, 1, 10),
            utc(2026, 2, 1, 9, 30),
            id="month-end",
        ),
        pytest.param(
            {"deadline": "10:00", "expectedDuration": "30m"},
            None,
            "2026-12-31",
            utc(2027, 1, 1, 10),
            utc(2027, 1, 1, 9, 30),
            id="year-end",
        ),
        pytest.param(
            {"deadline": "00:15", "expectedDuration": "30m"},
            None,
            "2028-02-28",
            utc(2028, 2, 29, 0, 15),
            utc(2028, 2, 28, 23, 45),
            id="leap-day-warning-on-previous-day",
        ),
        pytest.param(
            {"deadline": "10:00"},
            None,
            "2028-02-29",
            utc(2028, 3, 1, 10),
            None,
            id="after-leap-day",
        ),
        pytest.param(
            {"deadline": "10:00", "timezone": NY, "expectedDuration": "1h"},
            CRON_NY,
            "2026-03-03",
            utc(2026, 3, 4, 15),
            utc(2026, 3, 4, 14),
            id="cron-minus-1d-tick-date-est",
        ),
        pytest.param(
            {"deadline": "10:00", "timezone": NY},
            CRON_NY,
            "2026-03-07",
            utc(2026, 3, 8, 14),
            None,
            id="cron-minus-1d-tick-date-edt",
        ),
        pytest.param(
            {"deadline": "15:00", "timezone": "UTC"},
            {"cron": "0 8 * * *", "timezone": NY},
            "2026-03-04",
            utc(2026, 3, 4, 15),
            None,
            id="cron-schedule-ny-sla-utc",
        ),
        # 10:00Z falls before the 13:00Z tick: the next 10:00Z, not an instant breach.
        pytest.param(
            {"deadline": "10:00", "timezone": "UTC"},
            {"cron": "0 8 * * *", "timezone": NY},
            "2026-03-04",
            utc(2026, 3, 5, 10),
            None,
            id="deadline-before-tick-next-day",
        ),
        pytest.param(
            {"deadline": ":30", "expectedDuration": "10m"},
            None,
            "2026-03-03T23",
            utc(2026, 3, 4, 0, 30),
            utc(2026, 3, 4, 0, 20),
            id="hourly-h-plus-1-next-day",
        ),
        pytest.param(
            {"deadline": ":30", "timezone": NY},
            None,
            "2026-03-03T23",
            utc(2026, 3, 4, 0, 30),
            None,
            id="hourly-ny-whole-hour-offset",
        ),
        pytest.param(
            {"deadline": ":30"},
            None,
            "2026-12-31T23",
            utc(2027, 1, 1, 0, 30),
            None,
            id="hourly-year-end",
        ),
        pytest.param(
            {"deadline": ":30", "timezone": NY},
            None,
            "2026-11-01T05",
            utc(2026, 11, 1, 6, 30),
            None,
            id="hourly-ny-fall-back-repeated-hour",
        ),
        pytest.param(
            {"deadline": ":15", "timezone": "Asia/Kolkata"},
            None,
            "2026-03-03T23",
            utc(2026, 3, 4, 0, 45),
            None,
            id="hourly-half-hour-zone",
        ),
        # DST: 02:30 does not exist on 2026-03-08 in New York (shifted forward to 03:30 EDT);
        # 01:30 happens twice on 2026-11-01 (the first, EDT, counts).
        pytest.param(
            {"deadline": "02:30", "timezone": NY},
            None,
            "2026-03-07",
            utc(2026, 3, 8, 7, 30),
            None,
            id="ny-spring-forward-shifted",
        ),
        pytest.param(
            {"deadline": "01:30", "timezone": NY, "expectedDuration": "1h"},
            None,
            "2026-10-31",
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 4, 30),
            id="ny-fall-back-first-occurrence",
        ),
        pytest.param(
            {"deadline": "10:00", "timezone": NY},
            None,
            "2026-03-08",
            utc(2026, 3, 9, 14),
            None,
            id="ny-day-after-spring-forward-edt",
        ),
        pytest.param(
            {"deadline": "01:30", "timezone": LONDON},
            None,
            "2026-03-28",
            utc(2026, 3, 29, 1, 30),
            None,
            id="london-spring-forward-shifted",
        ),
        pytest.param(
            {"deadline": "01:30", "timezone": LONDON},
            None,
            "2026-10-24",
            utc(2026, 10, 25, 0, 30),
            None,
            id="london-fall-back-first-occurrence",
        ),
    ],
)
def test_absolute_deadlines(
    sla_doc: dict[str, Any],
    schedule_doc: dict[str, Any] | None,
    period: str,
    breach: dt.datetime,
    warning: dt.datetime | None,
) -> None:
    deadlines = sla.absolute_deadlines(make(sla_doc, schedule_doc), period)
    assert deadlines == SlaDeadlines(warning_at=warning, breach_at=breach)


@pytest.mark.parametrize(
    "sla_doc",
    [
        pytest.param(None, id="no-sla"),
        pytest.param({"maxDuration": "2h"}, id="relative-only"),
        pytest.param({"expectedDuration": "30m"}, id="expected-only"),
    ],
)
def test_absolute_deadlines_absent(sla_doc: dict[str, Any] | None) -> None:
    assert sla.absolute_deadlines(make(sla_doc), "2026-03-03") is None


# --------------------------------------------------------------------------- verdicts

DAILY = {"deadline": "10:00", "expectedDuration": "30m"}


@pytest.mark.parametrize(
    ("completed_at", "verdict"),
    [
        pytest.param(utc(2026, 3, 4, 9, 59), "SLA_MET", id="on-time"),
        pytest.param(utc(2026, 3, 4, 10), "SLA_BREACH", id="exactly-at-deadline"),
        # The Go reference rolled the deadline to the next day here and said SLA_MET.
        pytest.param(utc(2026, 3, 4, 10, 5), "SLA_BREACH", id="late-daily-run"),
        pytest.param(utc(2026, 3, 6, 12), "SLA_BREACH", id="days-late"),
    ],
)
def test_daily_completion_verdict(completed_at: dt.datetime, verdict: str) -> None:
    deadlines = sla.absolute_deadlines(make(DAILY), "2026-03-03")
    assert deadlines is not None
    assert sla.completion_verdict(deadlines, completed_at) == verdict


def test_hourly_completion_verdict() -> None:
    deadlines = sla.absolute_deadlines(make({"deadline": ":30"}), "2026-03-03T23")
    assert deadlines is not None
    assert sla.completion_verdict(deadlines, utc(2026, 3, 4, 0, 29)) == "SLA_MET"
    assert sla.completion_verdict(deadlines, utc(2026, 3, 4, 0, 31)) == "SLA_BREACH"


WITH_WARNING = SlaDeadlines(warning_at=utc(2026, 3, 4, 9, 30), breach_at=utc(2026, 3, 4, 10))
NO_WARNING = SlaDeadlines(warning_at=None, breach_at=utc(2026, 3, 4, 10))


@pytest.mark.parametrize(
    ("deadlines", "now", "status"),
    [
        pytest.param(WITH_WARNING, utc(2026, 3, 4, 9, 29), "ok", id="before-warning"),
        pytest.param(WITH_WARNING, utc(2026, 3, 4, 9, 30), "warning", id="at-warning"),
        pytest.param(WITH_WARNING, utc(2026, 3, 4, 9, 59), "warning", id="before-breach"),
        pytest.param(WITH_WARNING, utc(2026, 3, 4, 10), "breach", id="at-breach"),
        pytest.param(NO_WARNING, utc(2026, 3, 4, 9, 59), "ok", id="no-warning-before-breach"),
        pytest.param(NO_WARNING, utc(2026, 3, 4, 10, 1), "breach", id="no-warning-after-breach"),
        pytest.param(
            WITH_WARNING,
            dt.datetime(2026, 3, 4, 4, 45, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "warning",
            id="non-utc-now",
        ),
    ],
)
def test_sla_status(deadlines: SlaDeadlines, now: dt.datetime, status: str) -> None:
    assert sla.sla_status(deadlines, now) == status


def test_naive_instants_are_rejected() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        sla.sla_status(NO_WARNING, dt.datetime(2026, 3, 4))
    with pytest.raises(ValueError, match="completed_at must be a timezone-aware"):
        sla.completion_verdict(NO_WARNING, dt.datetime(2026, 3, 4))
    with pytest.raises(ValueError, match="first_arrival must be a timezone-aware"):
        sla.relative_deadlines(SLA.model_validate({"maxDuration": "2h"}), dt.datetime(2026, 3, 4))


# --------------------------------------------------------------------------- relative


@pytest.mark.parametrize(
    ("sla_doc", "arrival", "expected"),
    [
        pytest.param(
            {"maxDuration": "2h", "expectedDuration": "45m"},
            utc(2026, 3, 4, 10),
            SlaDeadlines(warning_at=utc(2026, 3, 4, 11, 15), breach_at=utc(2026, 3, 4, 12)),
            id="with-expected-duration",
        ),
        pytest.param(
            {"maxDuration": "4h"},
            utc(2026, 3, 4, 10),
            SlaDeadlines(warning_at=utc(2026, 3, 4, 13), breach_at=utc(2026, 3, 4, 14)),
            id="without-expected-duration-75-percent",
        ),
        pytest.param(
            {"maxDuration": "25m", "deadline": ":30", "expectedDuration": "10m"},
            utc(2026, 3, 4, 23, 50),
            SlaDeadlines(warning_at=utc(2026, 3, 5, 0, 5), breach_at=utc(2026, 3, 5, 0, 15)),
            id="hourly-across-midnight",
        ),
        pytest.param(
            {"maxDuration": "24h"},
            dt.datetime(2026, 3, 7, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            SlaDeadlines(warning_at=utc(2026, 3, 8, 11), breach_at=utc(2026, 3, 8, 17)),
            id="elapsed-time-not-wall-clock-across-dst",
        ),
        pytest.param({"deadline": "10:00"}, utc(2026, 3, 4, 10), None, id="no-max-duration"),
    ],
)
def test_relative_deadlines(
    sla_doc: dict[str, Any], arrival: dt.datetime, expected: SlaDeadlines | None
) -> None:
    deadlines = sla.relative_deadlines(SLA.model_validate(sla_doc), arrival)
    assert deadlines == expected
    if deadlines is not None:
        assert deadlines.breach_at.tzinfo is dt.UTC


def test_relative_deadlines_without_sla() -> None:
    assert sla.relative_deadlines(None, utc(2026, 3, 4)) is None


# --------------------------------------------------------------------------- dry run


@pytest.mark.parametrize(
    ("sla_doc", "period", "triggered_at", "expected"),
    [
        pytest.param(
            DAILY,
            "2026-03-03",
            utc(2026, 3, 4, 9),
            {
                "triggeredAt": "2026-03-04T09:00:00Z",
                "estimatedCompletion": "2026-03-04T09:30:00Z",
                "expectedDuration": "30m0s",
                "status": "met",
                "deadline": "2026-03-04T10:00:00Z",
                "marginSeconds": 1800,
            },
            id="met",
        ),
        pytest.param(
            DAILY,
            "2026-03-03",
            utc(2026, 3, 4, 9, 45),
            {
                "triggeredAt": "2026-03-04T09:45:00Z",
                "estimatedCompletion": "2026-03-04T10:15:00Z",
                "expectedDuration": "30m0s",
                "status": "breach",
                "deadline": "2026-03-04T10:00:00Z",
                "marginSeconds": -900,
            },
            id="breach",
        ),
        pytest.param(
            DAILY,
            "2026-03-03",
            utc(2026, 3, 4, 9, 30),
            {
                "triggeredAt": "2026-03-04T09:30:00Z",
                "estimatedCompletion": "2026-03-04T10:00:00Z",
                "expectedDuration": "30m0s",
                "status": "breach",
                "deadline": "2026-03-04T10:00:00Z",
                "marginSeconds": 0,
            },
            id="estimate-at-deadline-is-breach",
        ),
        # Triggered after the day's deadline: Go rolled to tomorrow and projected "met".
        pytest.param(
            DAILY,
            "2026-03-03",
            utc(2026, 3, 4, 11),
            {
                "triggeredAt": "2026-03-04T11:00:00Z",
                "estimatedCompletion": "2026-03-04T11:30:00Z",
                "expectedDuration": "30m0s",
                "status": "breach",
                "deadline": "2026-03-04T10:00:00Z",
                "marginSeconds": -5400,
            },
            id="late-trigger-no-roll-forward",
        ),
        pytest.param(
            {"deadline": ":30", "expectedDuration": "10m"},
            "2026-03-03T23",
            utc(2026, 3, 4, 0, 5),
            {
                "triggeredAt": "2026-03-04T00:05:00Z",
                "estimatedCompletion": "2026-03-04T00:15:00Z",
                "expectedDuration": "10m0s",
                "status": "met",
                "deadline": "2026-03-04T00:30:00Z",
                "marginSeconds": 900,
            },
            id="hourly",
        ),
        pytest.param(
            {"maxDuration": "2h", "expectedDuration": "30m"},
            "2026-03-03",
            utc(2026, 3, 4, 9),
            {
                "triggeredAt": "2026-03-04T09:00:00Z",
                "estimatedCompletion": "2026-03-04T09:30:00Z",
                "expectedDuration": "30m0s",
                "status": "n/a",
            },
            id="no-deadline",
        ),
        pytest.param({"deadline": "10:00"}, "2026-03-03", utc(2026, 3, 4, 9), None, id="no-exp"),
        pytest.param(None, "2026-03-03", utc(2026, 3, 4, 9), None, id="no-sla"),
    ],
)
def test_dry_run_projection(
    sla_doc: dict[str, Any] | None,
    period: str,
    triggered_at: dt.datetime,
    expected: dict[str, Any] | None,
) -> None:
    assert sla.dry_run_projection(make(sla_doc), period, triggered_at) == expected
