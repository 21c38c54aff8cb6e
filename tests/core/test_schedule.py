"""Tests for interlock_core.schedule: exclusions, ticks, periods, schedule instants, deadlines."""

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock_core import schedule
from interlock_core.config.calendars import Calendar
from interlock_core.config.models import Pipeline

NY = "America/New_York"
LONDON = "Europe/London"


def make(schedule_doc: dict[str, Any] | None = None, **extra: Any) -> Pipeline:
    return Pipeline.model_validate(
        {"pipeline": {"id": "p"}, "schedule": schedule_doc or {}, **extra}
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def hours(start: dt.datetime, count: int) -> list[dt.datetime]:
    return [start + dt.timedelta(hours=i) for i in range(count)]


CALENDARS = {
    "us-federal": Calendar.model_validate(
        {"name": "us-federal", "dates": ["2026-11-26", "2026-12-25"]}
    ),
    "no-saturdays": Calendar.model_validate({"name": "no-saturdays", "days": ["saturday"]}),
}

# --------------------------------------------------------------------------- exclusions


@pytest.mark.parametrize(
    ("exclude", "calendar", "day", "expected"),
    [
        pytest.param({"weekends": True}, None, "2026-03-07", "weekend", id="weekend-saturday"),
        pytest.param({"weekends": True}, None, "2026-03-08", "weekend", id="weekend-sunday"),
        pytest.param({"weekends": True}, None, "2026-03-06", None, id="weekend-friday-not"),
        pytest.param({"weekends": False}, None, "2026-03-07", None, id="weekends-off"),
        pytest.param(
            {"dates": ["2026-12-25"]},
            None,
            "2026-12-25",
            "excluded date 2026-12-25",
            id="date",
        ),
        pytest.param({"dates": ["2026-12-25"]}, None, "2026-12-24", None, id="date-other-day"),
        pytest.param(
            {"calendars": ["us-federal"]},
            None,
            "2026-11-26",
            "us-federal calendar: 2026-11-26",
            id="named-calendar-date",
        ),
        pytest.param(
            {"calendars": ["no-saturdays"]},
            None,
            "2026-03-07",
            "no-saturdays calendar: saturday",
            id="named-calendar-day",
        ),
        pytest.param(
            {},
            "us-federal",
            "2026-12-25",
            "us-federal calendar: 2026-12-25",
            id="schedule-calendar",
        ),
        pytest.param(
            {"weekends": True, "dates": ["2026-12-24"], "calendars": ["us-federal"]},
            "no-saturdays",
            "2026-11-27",
            None,
            id="all-sources-not-excluded",
        ),
        pytest.param(
            {"weekends": True, "dates": ["2026-03-07"]},
            None,
            "2026-03-07",
            "weekend",
            id="weekend-checked-first",
        ),
    ],
)
def test_exclusion_reason(
    exclude: dict[str, Any], calendar: str | None, day: str, expected: str | None
) -> None:
    doc: dict[str, Any] = {"exclude": exclude}
    if calendar:
        doc["calendar"] = calendar
    pipeline = make(doc)
    assert schedule.exclusion_reason(pipeline, CALENDARS, dt.date.fromisoformat(day)) == expected


def test_unknown_calendar_is_an_error() -> None:
    pipeline = make({"exclude": {"calendars": ["nope"]}})
    with pytest.raises(ValueError, match="unknown calendar 'nope'"):
        schedule.exclusion_reason(pipeline, CALENDARS, dt.date(2026, 3, 4))


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param("2026-12-25", "excluded date 2026-12-25", id="daily"),
        pytest.param("20261225", "excluded date 2026-12-25", id="daily-compact"),
        # 02:00Z on Saturday is still Friday evening in New York: the UTC date decides.
        pytest.param("2026-03-07T02", "weekend", id="hourly-uses-utc-date"),
        pytest.param("2026-03-06T23", None, id="hourly-friday"),
        pytest.param("2026-12-25T05", "excluded date 2026-12-25", id="hourly-excluded-date"),
    ],
)
def test_is_excluded_period(period: str, expected: str | None) -> None:
    pipeline = make({"timezone": NY, "exclude": {"weekends": True, "dates": ["2026-12-25"]}})
    assert schedule.is_excluded_period(pipeline, CALENDARS, period) == expected


# --------------------------------------------------------------------------- cron ticks


@pytest.mark.parametrize(
    ("cron", "tz", "start", "end", "expected"),
    [
        pytest.param(
            "0 * * * *",
            "UTC",
            utc(2026, 3, 4),
            utc(2026, 3, 4, 3),
            [utc(2026, 3, 4, 1), utc(2026, 3, 4, 2), utc(2026, 3, 4, 3)],
            id="hourly-start-exclusive-end-inclusive",
        ),
        pytest.param(
            "0 8 * * *",
            "UTC",
            utc(2026, 3, 3, 8),
            utc(2026, 3, 6),
            [utc(2026, 3, 4, 8), utc(2026, 3, 5, 8)],
            id="daily",
        ),
        pytest.param(
            "0 8 * * *",
            NY,
            utc(2026, 3, 4),
            utc(2026, 3, 5, 23),
            [utc(2026, 3, 4, 13), utc(2026, 3, 5, 13)],
            id="daily-new-york-est",
        ),
        pytest.param(
            "0 8 * * 1-5",
            "UTC",
            utc(2026, 3, 6),
            utc(2026, 3, 10),
            [utc(2026, 3, 6, 8), utc(2026, 3, 9, 8)],
            id="weekdays-only-skip-weekend",
        ),
        pytest.param(
            "*/15 * * * *",
            "UTC",
            utc(2026, 3, 4, 10),
            utc(2026, 3, 4, 11),
            [
                utc(2026, 3, 4, 10, 15),
                utc(2026, 3, 4, 10, 30),
                utc(2026, 3, 4, 10, 45),
                utc(2026, 3, 4, 11),
            ],
            id="every-15-minutes",
        ),
        pytest.param(
            "0 0 * * *",
            "UTC",
            utc(2026, 12, 31),
            utc(2027, 1, 2),
            [utc(2027, 1, 1), utc(2027, 1, 2)],
            id="year-end",
        ),
        pytest.param(
            "0 0 29 2 *",
            "UTC",
            utc(2026, 1, 1),
            utc(2029, 1, 1),
            [utc(2028, 2, 29)],
            id="leap-day-only",
        ),
        # Fixed-time crons on DST days: shifted out of the gap, first occurrence in the overlap.
        pytest.param(
            "30 2 * * *",
            NY,
            utc(2026, 3, 7),
            utc(2026, 3, 10),
            [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)],
            id="ny-spring-forward-0230-once-at-0330-edt",
        ),
        pytest.param(
            "0 2 * * *",
            NY,
            utc(2026, 3, 8),
            utc(2026, 3, 9),
            [utc(2026, 3, 8, 7)],
            id="ny-spring-forward-0200-at-0300-edt",
        ),
        pytest.param(
            "30 2,3 * * *",
            NY,
            utc(2026, 3, 8),
            utc(2026, 3, 9),
            [utc(2026, 3, 8, 7, 30)],
            id="ny-spring-forward-shifted-tick-merges-with-0330",
        ),
        pytest.param(
            "30 1 * * *",
            NY,
            utc(2026, 10, 31),
            utc(2026, 11, 3),
            [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
            id="ny-fall-back-0130-once-edt",
        ),
        pytest.param(
            "30 1 * * *",
            LONDON,
            utc(2026, 3, 28),
            utc(2026, 3, 31),
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)],
            id="london-spring-forward-0130-at-0230-bst",
        ),
        pytest.param(
            "30 1 * * *",
            LONDON,
            utc(2026, 10, 24),
            utc(2026, 10, 27),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
            id="london-fall-back-0130-once-bst",
        ),
        # Wildcard crons run in real time: the repeated local hour fires twice.
        pytest.param(
            "30 * * * *",
            NY,
            utc(2026, 11, 1, 4),
            utc(2026, 11, 1, 8),
            [
                utc(2026, 11, 1, 4, 30),
                utc(2026, 11, 1, 5, 30),
                utc(2026, 11, 1, 6, 30),
                utc(2026, 11, 1, 7, 30),
            ],
            id="ny-fall-back-hourly-0130-twice",
        ),
        pytest.param(
            "30 * * * *",
            NY,
            utc(2026, 3, 8, 5),
            utc(2026, 3, 8, 9),
            [
                utc(2026, 3, 8, 5, 30),
                utc(2026, 3, 8, 6, 30),
                utc(2026, 3, 8, 7, 30),
                utc(2026, 3, 8, 8, 30),
            ],
            id="ny-spring-forward-hourly-continuous",
        ),
        pytest.param("0 0 29 2 *", "UTC", utc(2026, 1, 1), utc(2027, 1, 1), [], id="leap-day"),
        pytest.param("0 8 * * *", "UTC", utc(2026, 3, 5), utc(2026, 3, 5), [], id="empty-range"),
        pytest.param("0 8 * * *", "UTC", utc(2026, 3, 6), utc(2026, 3, 5), [], id="reversed"),
    ],
)
def test_cron_ticks(
    cron: str, tz: str, start: dt.datetime, end: dt.datetime, expected: list[dt.datetime]
) -> None:
    ticks = schedule.cron_ticks(make({"cron": cron, "timezone": tz}), start, end)
    assert ticks == expected
    assert all(tick.tzinfo is dt.UTC for tick in ticks)


@pytest.mark.parametrize(
    ("tz", "start", "end", "count"),
    [
        pytest.param(NY, utc(2026, 3, 8, 5), utc(2026, 3, 9, 5), 24, id="ny-spring-24h-window"),
        pytest.param(NY, utc(2026, 11, 1, 4), utc(2026, 11, 2, 4), 24, id="ny-fall-24h-window"),
        # Local midnight to local midnight: the local day has 23 / 25 hours.
        pytest.param(NY, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23, id="ny-spring-local-day"),
        pytest.param(NY, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25, id="ny-fall-local-day"),
        pytest.param(
            LONDON, utc(2026, 3, 29), utc(2026, 3, 29, 23), 23, id="london-spring-local-day"
        ),
        pytest.param(
            LONDON, utc(2026, 10, 24, 23), utc(2026, 10, 26), 25, id="london-fall-local-day"
        ),
    ],
)
def test_hourly_cron_ticks_once_per_utc_hour_across_dst(
    tz: str, start: dt.datetime, end: dt.datetime, count: int
) -> None:
    ticks = schedule.cron_ticks(make({"cron": "0 * * * *", "timezone": tz}), start, end)
    assert ticks == hours(start + dt.timedelta(hours=1), count)


def test_cron_ticks_cap() -> None:
    pipeline = make({"cron": "* * * * *"})
    assert len(schedule.cron_ticks(pipeline, utc(2026, 3, 4), utc(2026, 3, 4, 1), limit=60)) == 60
    with pytest.raises(ValueError, match="more than 59 cron ticks"):
        schedule.cron_ticks(pipeline, utc(2026, 3, 4), utc(2026, 3, 4, 1), limit=59)
    # The default cap (10 000) stops a per-minute cron over a week (10 080 ticks).
    with pytest.raises(ValueError, match="more than 10000"):
        schedule.schedule_ticks(pipeline, utc(2026, 3, 1), utc(2026, 3, 8))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: schedule.cron_ticks(make(), utc(2026, 3, 4), utc(2026, 3, 5)),
            "no schedule.cron",
            id="no-cron",
        ),
        pytest.param(
            lambda: schedule.inclusion_ticks(make(), utc(2026, 3, 4), utc(2026, 3, 5)),
            "no schedule.include",
            id="no-include",
        ),
        pytest.param(
            lambda: schedule.cron_ticks(
                make({"cron": "0 8 * * *"}), dt.datetime(2026, 3, 4), utc(2026, 3, 5)
            ),
            "start must be a timezone-aware",
            id="naive-start",
        ),
        pytest.param(
            lambda: schedule.schedule_ticks(make(), utc(2026, 3, 4), dt.datetime(2026, 3, 5)),
            "end must be a timezone-aware",
            id="naive-end-sensor-driven",
        ),
        pytest.param(
            lambda: schedule.current_period(make(), dt.datetime(2026, 3, 5)),
            "now must be a timezone-aware",
            id="naive-now",
        ),
    ],
)
def test_misuse_is_an_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- inclusion ticks

INCLUDE = {"dates": ["2026-06-30", "2026-03-31", "2026-03-08"]}


@pytest.mark.parametrize(
    ("doc", "start", "end", "expected"),
    [
        pytest.param(
            {"include": INCLUDE},
            utc(2026, 1, 1),
            utc(2026, 12, 31),
            [utc(2026, 3, 8), utc(2026, 3, 31), utc(2026, 6, 30)],
            id="default-midnight-utc-sorted",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00"},
            utc(2026, 3, 9),
            utc(2026, 12, 31),
            [utc(2026, 3, 31, 12), utc(2026, 6, 30, 12)],
            id="new-york-0800-edt",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "02:30"},
            utc(2026, 3, 8),
            utc(2026, 3, 9),
            [utc(2026, 3, 8, 7, 30)],
            id="spring-forward-gap-shifted",
        ),
        pytest.param(
            {"include": INCLUDE},
            utc(2026, 3, 8),
            utc(2026, 3, 31),
            [utc(2026, 3, 31)],
            id="start-exclusive-end-inclusive",
        ),
    ],
)
def test_inclusion_ticks(
    doc: dict[str, Any], start: dt.datetime, end: dt.datetime, expected: list[dt.datetime]
) -> None:
    pipeline = make(doc)
    assert schedule.inclusion_ticks(pipeline, start, end) == expected
    assert schedule.schedule_ticks(pipeline, start, end) == expected


def test_inclusion_ticks_cap() -> None:
    pipeline = make({"include": INCLUDE})
    with pytest.raises(ValueError, match="more than 2 inclusion ticks"):
        schedule.inclusion_ticks(pipeline, utc(2026, 1, 1), utc(2027, 1, 1), limit=2)


def test_schedule_ticks_dispatch() -> None:
    start, end = utc(2026, 3, 4), utc(2026, 3, 5)
    assert schedule.schedule_ticks(make({"cron": "0 8 * * *"}), start, end) == [utc(2026, 3, 4, 8)]
    sensor_driven = make({"trigger": {"key": "up", "check": "exists"}})
    assert schedule.schedule_ticks(sensor_driven, start, end) == []


# --------------------------------------------------------------------------- last tick


@pytest.mark.parametrize(
    ("doc", "now", "expected"),
    [
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY},
            utc(2026, 3, 4, 13),
            utc(2026, 3, 4, 13),
            id="exactly-at-tick",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY},
            utc(2026, 3, 4, 12, 59, 59),
            utc(2026, 3, 3, 13),
            id="just-before-tick",
        ),
        pytest.param(
            {"cron": "0 8 * * 1-5"},
            utc(2026, 3, 9, 7),
            utc(2026, 3, 6, 8),
            id="monday-before-tick-gives-friday",
        ),
        pytest.param(
            {"cron": "* * * * *"},
            utc(2026, 3, 4, 13, 0, 30),
            utc(2026, 3, 4, 13),
            id="every-minute",
        ),
        pytest.param(
            {"cron": "30 1 * * *", "timezone": NY},
            utc(2026, 11, 1, 6, 45),
            utc(2026, 11, 1, 5, 30),
            id="fall-back-fixed-first-only",
        ),
        pytest.param(
            {"cron": "30 * * * *", "timezone": NY},
            utc(2026, 11, 1, 6, 45),
            utc(2026, 11, 1, 6, 30),
            id="fall-back-wildcard-second",
        ),
        pytest.param(
            {"cron": "30 * * * *", "timezone": NY},
            utc(2026, 11, 1, 6, 29),
            utc(2026, 11, 1, 5, 30),
            id="fall-back-wildcard-first",
        ),
        pytest.param(
            {"cron": "30 2 * * *", "timezone": NY},
            utc(2026, 3, 8, 8),
            utc(2026, 3, 8, 7, 30),
            id="spring-forward-shifted",
        ),
        pytest.param(
            {"cron": "30 2 * * *", "timezone": NY},
            utc(2026, 3, 8, 7, 29),
            utc(2026, 3, 7, 7, 30),
            id="spring-forward-before-shifted",
        ),
        pytest.param({"cron": "0 0 29 2 *"}, utc(2026, 3, 4), utc(2024, 2, 29), id="leap-day"),
        pytest.param({"include": INCLUDE}, utc(2026, 4, 1), utc(2026, 3, 31), id="include-between"),
        pytest.param({"include": INCLUDE}, utc(2026, 3, 7, 23), None, id="include-before-first"),
        pytest.param({}, utc(2026, 3, 4), None, id="sensor-driven"),
    ],
)
def test_last_tick_at_or_before(
    doc: dict[str, Any], now: dt.datetime, expected: dt.datetime | None
) -> None:
    assert schedule.last_tick_at_or_before(make(doc), now) == expected


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("doc", "tick", "expected"),
    [
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            utc(2026, 3, 4, 13),
            "2026-03-03",
            id="daily-minus-1d",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY},
            utc(2026, 3, 4, 13),
            "2026-03-04",
            id="daily-no-offset",
        ),
        pytest.param(
            {"cron": "0 22 * * *", "timezone": NY},
            utc(2026, 3, 5, 3),
            "2026-03-04",
            id="daily-local-date-not-utc",
        ),
        # -1d moves the wall clock: 00:00 EDT on 03-09 is 03-08, although 24 real hours
        # earlier it was already 23:00 EST on 03-07.
        pytest.param(
            {"cron": "0 0 * * *", "timezone": NY, "periodOffset": "-1d"},
            utc(2026, 3, 9, 4),
            "2026-03-08",
            id="daily-minus-1d-across-dst",
        ),
        pytest.param(
            {"cron": "0 0 * * *", "periodOffset": "-1d"},
            utc(2027, 1, 1),
            "2026-12-31",
            id="year-end",
        ),
        pytest.param(
            {"cron": "0 0 * * *", "periodOffset": "-1d"},
            utc(2028, 3, 1),
            "2028-02-29",
            id="leap-day",
        ),
        pytest.param(
            {"cron": "5 * * * *", "periodOffset": "-1h"},
            utc(2026, 3, 4, 0, 5),
            "2026-03-03T23",
            id="hourly-minus-1h-midnight",
        ),
        pytest.param(
            {"cron": "5 * * * *"}, utc(2026, 3, 4, 10, 5), "2026-03-04T10", id="hourly-no-offset"
        ),
        pytest.param(
            {"cron": "30 * * * *", "timezone": NY},
            utc(2026, 11, 1, 6, 30),
            "2026-11-01T06",
            id="hourly-is-utc-hour",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00"},
            utc(2026, 3, 31, 12),
            "2026-03-31",
            id="inclusion-date",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00", "periodOffset": "-1d"},
            utc(2026, 3, 31, 12),
            "2026-03-30",
            id="inclusion-date-minus-1d",
        ),
    ],
)
def test_period_of_tick(doc: dict[str, Any], tick: dt.datetime, expected: str) -> None:
    assert schedule.period_of_tick(make(doc), tick) == expected


HOURLY_SENSOR = {"trigger": {"key": "up", "check": "exists"}, "period": "hourly"}


@pytest.mark.parametrize(
    ("doc", "now", "expected"),
    [
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            utc(2026, 3, 4, 12, 59, 59),
            "2026-03-02",
            id="cron-before-tick",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            utc(2026, 3, 4, 13),
            "2026-03-03",
            id="cron-at-tick",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            utc(2026, 3, 5, 4, 59),
            "2026-03-03",
            id="cron-across-utc-midnight",
        ),
        pytest.param(
            {"cron": "5 * * * *", "periodOffset": "-1h"},
            utc(2026, 3, 4, 10, 4, 59),
            "2026-03-04T08",
            id="cron-hourly-before-tick",
        ),
        pytest.param(
            {"cron": "5 * * * *", "periodOffset": "-1h"},
            utc(2026, 3, 4, 10, 5),
            "2026-03-04T09",
            id="cron-hourly-at-tick",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00"},
            utc(2026, 3, 31, 11, 59),
            "2026-03-08",
            id="include-before-tick",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00"},
            utc(2026, 3, 31, 12),
            "2026-03-31",
            id="include-at-tick",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY},
            utc(2026, 3, 1, 12),
            "2026-03-01",
            id="include-no-past-tick-falls-back",
        ),
        pytest.param(
            {"timezone": NY},
            utc(2026, 3, 5, 4, 59, 59),
            "2026-03-04",
            id="sensor-daily-before-local-midnight",
        ),
        pytest.param(
            {"timezone": NY}, utc(2026, 3, 5, 5), "2026-03-05", id="sensor-daily-at-local-midnight"
        ),
        pytest.param(
            {"timezone": "Asia/Tokyo"},
            utc(2026, 12, 31, 15),
            "2027-01-01",
            id="sensor-daily-tokyo-new-year",
        ),
        pytest.param(
            {**HOURLY_SENSOR, "timezone": NY},
            utc(2026, 3, 4, 23, 59, 59),
            "2026-03-04T23",
            id="sensor-hourly-before-midnight",
        ),
        pytest.param(
            {**HOURLY_SENSOR, "timezone": NY},
            utc(2026, 3, 5),
            "2026-03-05T00",
            id="sensor-hourly-at-midnight",
        ),
    ],
)
def test_current_period(doc: dict[str, Any], now: dt.datetime, expected: str) -> None:
    assert schedule.current_period(make(doc), now) == expected


def test_current_period_hourly_inferred_from_mm_deadline() -> None:
    pipeline = make({"trigger": {"key": "up", "check": "exists"}}, sla={"deadline": ":30"})
    assert schedule.current_period(pipeline, utc(2026, 3, 4, 7, 59)) == "2026-03-04T07"


# --------------------------------------------------------------------------- schedule instant


@pytest.mark.parametrize(
    ("doc", "period", "instant", "date"),
    [
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            "2026-03-03",
            utc(2026, 3, 4, 13),
            "2026-03-04",
            id="cron-minus-1d",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY},
            "2026-03-04",
            utc(2026, 3, 4, 13),
            "2026-03-04",
            id="cron-no-offset",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"},
            "2026-03-07",
            utc(2026, 3, 8, 12),
            "2026-03-08",
            id="cron-minus-1d-into-edt",
        ),
        pytest.param(
            {"cron": "0 2 * * *", "periodOffset": "-6h"},
            "2026-03-03",
            utc(2026, 3, 4, 2),
            "2026-03-04",
            id="cron-minus-6h",
        ),
        pytest.param(
            {"cron": "0 8 * * 1-5", "periodOffset": "-1d"},
            "2026-03-08",
            utc(2026, 3, 9, 8),
            "2026-03-09",
            id="weekday-cron-sunday-period",
        ),
        pytest.param(
            {"cron": "0 8 * * 1-5", "periodOffset": "-1d", "timezone": NY},
            "2026-03-06",
            utc(2026, 3, 7, 5),
            "2026-03-07",
            id="weekday-cron-no-tick-falls-back",
        ),
        pytest.param(
            {"include": INCLUDE, "timezone": NY, "time": "08:00", "periodOffset": "-1d"},
            "2026-03-30",
            utc(2026, 3, 31, 12),
            "2026-03-31",
            id="inclusion-minus-1d",
        ),
        pytest.param(
            {"timezone": NY},
            "2026-03-07",
            utc(2026, 3, 8, 5),
            "2026-03-08",
            id="sensor-t-plus-1-local-midnight",
        ),
        pytest.param({}, "2026-01-31", utc(2026, 2, 1), "2026-02-01", id="sensor-month-end"),
        pytest.param({}, "2026-02-28", utc(2026, 3, 1), "2026-03-01", id="sensor-february-end"),
        pytest.param({}, "2026-12-31", utc(2027, 1, 1), "2027-01-01", id="sensor-year-end"),
        pytest.param({}, "2028-02-28", utc(2028, 2, 29), "2028-02-29", id="sensor-leap-day"),
        pytest.param({}, "2028-02-29", utc(2028, 3, 1), "2028-03-01", id="sensor-after-leap-day"),
        pytest.param(
            {}, "2026-03-03T23", utc(2026, 3, 4), "2026-03-04", id="hourly-h-plus-1-next-day"
        ),
        pytest.param(
            {}, "20261231T23", utc(2027, 1, 1), "2027-01-01", id="hourly-compact-year-end"
        ),
        pytest.param(
            {"cron": "5 * * * *"},
            "2026-03-04T10",
            utc(2026, 3, 4, 11),
            "2026-03-04",
            id="hourly-cron-h-plus-1",
        ),
        pytest.param(
            {"cron": "5 * * * *", "periodOffset": "-1h"},
            "2026-03-04T09",
            utc(2026, 3, 4, 10, 5),
            "2026-03-04",
            id="hourly-cron-offset-1h-its-tick",
        ),
        pytest.param(
            {"cron": "5 * * * *", "periodOffset": "-2h"},
            "2026-03-04T23",
            utc(2026, 3, 5, 1, 5),
            "2026-03-05",
            id="hourly-cron-offset-2h-its-tick",
        ),
    ],
)
def test_schedule_instant_and_date(
    doc: dict[str, Any], period: str, instant: dt.datetime, date: str
) -> None:
    pipeline = make(doc)
    assert schedule.schedule_instant(pipeline, period) == instant
    assert schedule.schedule_date(pipeline, period) == dt.date.fromisoformat(date)


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY, "periodOffset": "-1d"}, id="daily-ny-minus-1d"
        ),
        pytest.param(
            {"cron": "0 0 * * *", "timezone": NY, "periodOffset": "-1d"}, id="midnight-ny-minus-1d"
        ),
        pytest.param({"cron": "30 2 * * *", "timezone": NY}, id="daily-ny-0230"),
        pytest.param(
            {"cron": "30 1 * * *", "timezone": LONDON, "periodOffset": "-1d"},
            id="daily-london-0130",
        ),
        pytest.param(
            {"cron": "0 6 * * 1-5", "timezone": NY, "periodOffset": "-1d"}, id="weekdays-ny"
        ),
        pytest.param(
            {"include": {"dates": ["2026-03-08", "2026-11-01"]}, "timezone": NY, "time": "01:30"},
            id="inclusion-dst-days",
        ),
    ],
)
def test_every_tick_is_the_schedule_instant_of_its_period(doc: dict[str, Any]) -> None:
    pipeline = make(doc)
    # Both 2026 transitions in New York and London are inside these ranges.
    for start, end in [(utc(2026, 3, 1), utc(2026, 4, 1)), (utc(2026, 10, 20), utc(2026, 11, 10))]:
        ticks = schedule.schedule_ticks(pipeline, start, end)
        assert ticks
        for tick in ticks:
            period = schedule.period_of_tick(pipeline, tick)
            assert schedule.schedule_instant(pipeline, period) == tick, period


# --------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("deadline", "tz", "anchor", "expected"),
    [
        pytest.param("10:00", "UTC", utc(2026, 3, 4), utc(2026, 3, 4, 10), id="hh-mm-same-day"),
        pytest.param(
            "06:00",
            "UTC",
            utc(2026, 3, 4, 22),
            utc(2026, 3, 5, 6),
            id="hh-mm-before-anchor-next-day",
        ),
        pytest.param(
            "22:00", "UTC", utc(2026, 3, 4, 22), utc(2026, 3, 4, 22), id="hh-mm-at-anchor"
        ),
        pytest.param(
            "02:30", NY, utc(2026, 3, 8, 5), utc(2026, 3, 8, 7, 30), id="ny-gap-shifted-forward"
        ),
        pytest.param(
            "01:30", NY, utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30), id="ny-overlap-first"
        ),
        pytest.param(
            "01:30",
            LONDON,
            utc(2026, 3, 29),
            utc(2026, 3, 29, 1, 30),
            id="london-gap-shifted-forward",
        ),
        pytest.param(
            "01:30",
            LONDON,
            utc(2026, 10, 24, 23),
            utc(2026, 10, 25, 0, 30),
            id="london-overlap-first",
        ),
        pytest.param(":30", "UTC", utc(2026, 3, 4), utc(2026, 3, 4, 0, 30), id="mm"),
        pytest.param(":00", "UTC", utc(2026, 3, 4), utc(2026, 3, 4), id="mm-at-anchor"),
        pytest.param(
            ":30", NY, utc(2026, 11, 1, 6), utc(2026, 11, 1, 6, 30), id="mm-ny-repeated-hour"
        ),
        pytest.param(
            ":15",
            "Asia/Kolkata",
            utc(2026, 3, 4),
            utc(2026, 3, 4, 0, 45),
            id="mm-half-hour-zone-next-hour",
        ),
        pytest.param(
            ":30", "Asia/Kolkata", utc(2026, 3, 4), utc(2026, 3, 4), id="mm-half-hour-zone-same"
        ),
    ],
)
def test_next_deadline(deadline: str, tz: str, anchor: dt.datetime, expected: dt.datetime) -> None:
    assert schedule.next_deadline(anchor, deadline, ZoneInfo(tz)) == expected


@pytest.mark.parametrize("deadline", ["25:00", "10", ":5", ":60", "ab:cd"])
def test_next_deadline_rejects_malformed(deadline: str) -> None:
    with pytest.raises(ValueError, match="invalid deadline"):
        schedule.next_deadline(utc(2026, 3, 4), deadline, dt.UTC)


def trigger(deadline: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": "up", "check": "exists"}
    if deadline is not None:
        doc["deadline"] = deadline
    return doc


@pytest.mark.parametrize(
    ("doc", "period", "expected"),
    [
        pytest.param({"trigger": trigger(None)}, "2026-03-03", None, id="no-deadline"),
        pytest.param({}, "2026-03-03", None, id="no-trigger"),
        pytest.param(
            {
                "cron": "0 8 * * *",
                "timezone": NY,
                "periodOffset": "-1d",
                "trigger": trigger("11:00"),
            },
            "2026-03-03",
            utc(2026, 3, 4, 16),
            id="cron-tick-date",
        ),
        pytest.param(
            {"trigger": trigger("09:00")},
            "2026-12-31",
            utc(2027, 1, 1, 9),
            id="sensor-daily-t-plus-1-year-end",
        ),
        pytest.param(
            {"trigger": trigger("09:00"), "timezone": NY},
            "2026-03-07",
            utc(2026, 3, 8, 13),
            id="sensor-daily-ny-edt",
        ),
        pytest.param(
            {"trigger": trigger(":45")},
            "2026-03-03T23",
            utc(2026, 3, 4, 0, 45),
            id="hourly-h-plus-1",
        ),
        pytest.param(
            {"trigger": trigger(":45"), "timezone": NY},
            "2026-11-01T05",
            utc(2026, 11, 1, 6, 45),
            id="hourly-ny-fall-back",
        ),
        pytest.param(
            {"cron": "0 22 * * *", "trigger": trigger("06:00")},
            "2026-03-04",
            utc(2026, 3, 5, 6),
            id="deadline-before-tick-next-day",
        ),
    ],
)
def test_trigger_deadline_at(
    doc: dict[str, Any], period: str, expected: dt.datetime | None
) -> None:
    assert schedule.trigger_deadline_at(make(doc), period) == expected


@pytest.mark.parametrize(
    ("schedule_doc", "sla_doc", "expected"),
    [
        pytest.param(
            {"cron": "0 8 * * *"}, {"timezone": NY}, utc(2026, 3, 4, 16), id="sla-timezone"
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": "UTC"},
            {"timezone": NY},
            utc(2026, 3, 4, 11),
            id="schedule-timezone-wins",
        ),
        pytest.param(
            {"cron": "0 8 * * *", "timezone": NY},
            {"timezone": LONDON},
            utc(2026, 3, 4, 16),
            id="schedule-timezone-wins-over-sla",
        ),
        pytest.param({"cron": "0 8 * * *"}, None, utc(2026, 3, 4, 11), id="utc"),
    ],
)
def test_trigger_deadline_zone_is_schedule_then_sla_then_utc(
    schedule_doc: dict[str, Any], sla_doc: dict[str, Any] | None, expected: dt.datetime
) -> None:
    doc = {**schedule_doc, "trigger": {"key": "go", "check": "exists", "deadline": "11:00"}}
    extra = {"sla": sla_doc} if sla_doc is not None else {}
    pipeline = make(doc, **extra)
    assert schedule.trigger_deadline_at(pipeline, "2026-03-04") == expected
    # The store keeps whether schedule.timezone was set (the config round-trips).
    stored = Pipeline.model_validate(pipeline.to_document())
    assert schedule.trigger_deadline_at(stored, "2026-03-04") == expected


@pytest.mark.parametrize(
    ("doc", "opened_at", "expected"),
    [
        pytest.param({}, utc(2026, 3, 4, 8), utc(2026, 3, 4, 9), id="default-1h-window"),
        pytest.param(
            {"evaluation": {"window": "30m"}},
            utc(2026, 3, 4, 8),
            utc(2026, 3, 4, 8, 30),
            id="window",
        ),
        pytest.param(
            {"trigger": trigger("09:00")},
            utc(2026, 3, 5, 7),
            utc(2026, 3, 5, 8),
            id="deadline-after-window",
        ),
        pytest.param(
            {"trigger": trigger("09:00")},
            utc(2026, 3, 5, 8, 30),
            utc(2026, 3, 5, 9),
            id="capped-by-deadline",
        ),
        pytest.param(
            {"trigger": trigger("09:00")},
            utc(2026, 3, 5, 9, 30),
            utc(2026, 3, 5, 9),
            id="opened-after-deadline",
        ),
    ],
)
def test_evaluation_window_end(
    doc: dict[str, Any], opened_at: dt.datetime, expected: dt.datetime
) -> None:
    assert schedule.evaluation_window_end(make(doc), "2026-03-04", opened_at) == expected


# --------------------------------------------------------------------------- properties

CRONS = ["0 8 * * *", "30 2 * * *", "30 1 * * *", "0 * * * *", "*/20 * * * *", "15 9 * * 1-5"]
ZONES = ["UTC", NY, LONDON, "Australia/Lord_Howe", "Asia/Kolkata"]
INSTANTS = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2028, 12, 31),
    timezones=st.just(dt.UTC),
)


@settings(max_examples=150, deadline=None)
@given(cron=st.sampled_from(CRONS), tz=st.sampled_from(ZONES), now=INSTANTS)
def test_last_tick_agrees_with_cron_ticks(cron: str, tz: str, now: dt.datetime) -> None:
    pipeline = make({"cron": cron, "timezone": tz})
    last = schedule.last_tick_at_or_before(pipeline, now)
    assert last is not None
    assert last <= now
    # Nothing ticks between the last tick and now, and the last tick is a tick.
    assert schedule.cron_ticks(pipeline, last, now) == []
    assert schedule.cron_ticks(pipeline, last - dt.timedelta(microseconds=1), last) == [last]


@settings(max_examples=100, deadline=None)
@given(cron=st.sampled_from(CRONS), tz=st.sampled_from(ZONES), start=INSTANTS)
def test_ticks_are_sorted_unique_and_at_least_hourly_spaced_for_daily(
    cron: str, tz: str, start: dt.datetime
) -> None:
    pipeline = make({"cron": cron, "timezone": tz})
    ticks = schedule.cron_ticks(pipeline, start, start + dt.timedelta(days=3))
    assert ticks == sorted(set(ticks))
    if pipeline.granularity.value == "daily":
        # One tick per local day: consecutive ticks are at least 23 hours apart (DST).
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert all(gap >= dt.timedelta(hours=23) for gap in gaps)
