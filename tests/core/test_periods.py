"""Periods and which sensors count for them (DESIGN.md §4)."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from interlock_core.config.models import Granularity
from interlock_core.periods import (
    Period,
    check_sensor_write,
    daily_period,
    hourly_period,
    normalize_period,
    parse_period,
    period_at,
    period_of_sensor,
    sensors_for_period,
    shift_period,
    split_period_suffix,
    trigger_key_matches,
)
from interlock_core.sensors import Sensor, SensorError

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("2026-03-04", "2026-03-04", id="dashed-daily"),
        pytest.param("20260304", "2026-03-04", id="compact-daily"),
        pytest.param("2026-03-04T07", "2026-03-04T07", id="dashed-hourly"),
        pytest.param("20260304T07", "2026-03-04T07", id="compact-hourly"),
        pytest.param("2028-02-29", "2028-02-29", id="leap-day"),
        pytest.param("20280229", "2028-02-29", id="leap-day-compact"),
        pytest.param("20280229T23", "2028-02-29T23", id="leap-day-compact-hour-23"),
        pytest.param("2026-12-31T23", "2026-12-31T23", id="year-end-hour-23"),
        pytest.param("2026-03-04T00", "2026-03-04T00", id="hour-00"),
    ],
)
def test_parse_period(text: str, canonical: str) -> None:
    assert normalize_period(text) == canonical
    assert str(parse_period(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2027-02-29", id="not-a-leap-year"),
        pytest.param("20270229", id="not-a-leap-year-compact"),
        pytest.param("2026-02-30", id="feb-30"),
        pytest.param("2026-13-01", id="month-13"),
        pytest.param("2026-03-04T24", id="hour-24"),
        pytest.param("2026-03-04T7", id="one-digit-hour"),
        pytest.param("2026-03-04 07", id="space"),
        pytest.param("26-03-04", id="short-year"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid period"):
        parse_period(text)


def test_period_forms() -> None:
    period = parse_period("2028-02-29T23")
    assert period == Period(dt.date(2028, 2, 29), 23)
    assert period.compact == "20280229T23"
    assert period.granularity == Granularity.HOURLY
    assert period.start_utc == dt.datetime(2028, 2, 29, 23, tzinfo=UTC)
    assert parse_period("20280229").granularity == Granularity.DAILY


def test_daily_and_hourly_period() -> None:
    assert daily_period(dt.date(2028, 2, 29)) == "2028-02-29"
    late_in_new_york = dt.datetime(2026, 3, 4, 23, 30, tzinfo=NEW_YORK)
    assert hourly_period(late_in_new_york) == "2026-03-05T04"


# --- key suffixes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name", "period"),
    [
        pytest.param("ready#2026-03-04", "ready", "2026-03-04", id="dashed"),
        pytest.param("ready#20260304", "ready", "2026-03-04", id="compact"),
        pytest.param("ready#2026-03-04T23", "ready", "2026-03-04T23", id="dashed-hour"),
        pytest.param("ready#20260304T07", "ready", "2026-03-04T07", id="compact-hour"),
        pytest.param("ready#20280229", "ready", "2028-02-29", id="leap-day"),
        pytest.param("a#b#2026-03-04", "a#b", "2026-03-04", id="last-segment-only"),
        pytest.param("a#2026-03-04#b", "a#2026-03-04#b", None, id="period-not-last"),
        pytest.param("ready", "ready", None, id="no-suffix"),
        pytest.param("ready#", "ready#", None, id="empty-suffix"),
        pytest.param("#2026-03-04", "#2026-03-04", None, id="no-name"),
        pytest.param("ready#latest", "ready#latest", None, id="word-suffix"),
        pytest.param("ready#2027-02-29", "ready#2027-02-29", None, id="invalid-date"),
        pytest.param("ready#2026-03-04T24", "ready#2026-03-04T24", None, id="invalid-hour"),
        pytest.param("ready#2026-0304", "ready#2026-0304", None, id="mixed-form"),
        pytest.param("ready#2026-03-04T7", "ready#2026-03-04T7", None, id="short-hour"),
        pytest.param("ready#2026-03-04\n", "ready#2026-03-04\n", None, id="trailing-newline"),
        pytest.param("ready#٢٠٢٦٠٣٠٤", "ready#٢٠٢٦٠٣٠٤", None, id="non-ascii-digits"),
    ],
)
def test_split_period_suffix(key: str, name: str, period: str | None) -> None:
    got_name, got_period = split_period_suffix(key)
    assert got_name == name
    assert (str(got_period) if got_period else None) == period


@pytest.mark.parametrize(
    ("sensor_key", "matches"),
    [
        pytest.param("upstream-complete", True, id="exact"),
        pytest.param("upstream-complete#2026-03-04", True, id="daily-suffix"),
        pytest.param("upstream-complete#20260304T07", True, id="compact-hourly-suffix"),
        pytest.param("upstream-complete-test", False, id="prefix-is-not-a-match"),
        pytest.param("upstream-completed", False, id="longer-name"),
        pytest.param("upstream-complete#test", False, id="non-period-suffix"),
        pytest.param("upstream-complete#2026-03-04#x", False, id="suffix-not-last"),
        pytest.param("upstream", False, id="shorter-name"),
        pytest.param("x#upstream-complete", False, id="name-after-hash"),
        pytest.param("upstream-complete-test#2026-03-04", False, id="prefix-with-suffix"),
    ],
)
def test_trigger_key_matches(sensor_key: str, matches: bool) -> None:
    assert trigger_key_matches("upstream-complete", sensor_key) is matches


# --- which sensors count for a period -------------------------------------------------------

T0 = dt.datetime(2026, 3, 4, 12, tzinfo=UTC)


def sensor(key: str, version: int = 1, **data: Any) -> Sensor:
    return Sensor(
        key=key, data=data, written_at=T0 + dt.timedelta(seconds=version), version=version
    )


def view(period: str, *sensors: Sensor) -> dict[str, dict[str, Any]]:
    return {k: s.data for k, s in sensors_for_period({s.key: s for s in sensors}, period).items()}


def test_suffixed_key_is_seen_under_its_name_and_wins() -> None:
    got = view(
        "2026-03-04",
        sensor("ready", 5, status="stale"),
        sensor("ready#2026-03-04", 2, status="today"),
    )
    assert got == {"ready": {"status": "today"}, "ready#2026-03-04": {"status": "today"}}


def test_suffix_wins_whatever_the_order() -> None:
    suffixed = sensor("ready#20260304", 1, status="today")
    plain = sensor("ready", 2, status="latest")
    for order in ([suffixed, plain], [plain, suffixed]):
        assert view("2026-03-04", *order)["ready"] == {"status": "today"}


def test_both_suffix_forms_present_the_later_write_wins() -> None:
    dashed = sensor("ready#2026-03-04", 7, n=1)
    compact = sensor("ready#20260304", 9, n=2)
    for order in ([dashed, compact], [compact, dashed]):
        got = view("20260304", *order)
        assert got["ready"] == {"n": 2}
        assert set(got) == {"ready", "ready#2026-03-04", "ready#20260304"}


def test_other_periods_suffixes_are_dropped() -> None:
    got = view(
        "2026-03-04",
        sensor("ready#2026-03-03", status="yesterday"),
        sensor("ready#2026-03-05", status="tomorrow"),
        sensor("ready#2026-03-04T07", status="an hour of today"),
    )
    assert got == {}


def test_hourly_period_prefers_its_hour_over_its_day_and_ignores_other_hours() -> None:
    got = view(
        "2026-03-04T23",
        sensor("ready#2026-03-04", status="day"),
        sensor("ready#2026-03-04T22", status="hour 22"),
        sensor("ready#2026-03-05T00", status="next hour, next day"),
        sensor("ready#20260304T23", status="hour 23"),
    )
    assert got == {
        "ready": {"status": "hour 23"},
        "ready#20260304T23": {"status": "hour 23"},
        "ready#2026-03-04": {"status": "day"},
    }


@pytest.mark.parametrize(
    "day_dated",
    [
        pytest.param({"ready#2026-03-04": {"status": "day"}}, id="suffix"),
        pytest.param({"ready#20260304": {"status": "day"}}, id="compact-suffix"),
        pytest.param({"ready": {"status": "day", "date": "2026-03-04"}}, id="date-field"),
    ],
)
def test_a_day_dated_sensor_counts_for_every_hour_of_its_date(
    day_dated: dict[str, dict[str, Any]],
) -> None:
    for hour in ("2026-03-04T00", "2026-03-04T13", "2026-03-04T23"):
        assert sensors_for_period(day_dated, hour)["ready"]["status"] == "day"
    assert "ready" not in sensors_for_period(day_dated, "2026-03-05T00")
    assert "ready" not in sensors_for_period(day_dated, "2026-03-03T23")


def test_a_day_dated_suffix_wins_over_an_undated_sensor_but_not_over_the_hour() -> None:
    sensors = {
        "ready": {"status": "undated"},
        "ready#2026-03-04": {"status": "day"},
        "ready#2026-03-04T07": {"status": "hour 7"},
    }
    assert sensors_for_period(sensors, "2026-03-04T06")["ready"]["status"] == "day"
    assert sensors_for_period(sensors, "2026-03-04T07")["ready"]["status"] == "hour 7"


@pytest.mark.parametrize(
    ("period", "data", "counts"),
    [
        pytest.param("2026-03-04", {}, True, id="no-date-counts-as-latest"),
        pytest.param("2026-03-04", {"date": "2026-03-04"}, True, id="same-date"),
        pytest.param("2026-03-04", {"date": "20260304"}, True, id="same-date-compact"),
        pytest.param("2026-03-04", {"date": "2026-03-03"}, False, id="yesterday-does-not-count"),
        pytest.param("2026-03-04", {"date": "20260303"}, False, id="yesterday-compact"),
        pytest.param(
            "2026-03-04", {"date": "2026-03-04", "hour": "07"}, True, id="daily-ignores-hour"
        ),
        pytest.param("2026-03-04", {"hour": "07"}, True, id="daily-hour-only"),
        pytest.param("2026-03-04", {"date": 20260303}, False, id="number-date-read"),
        pytest.param("2026-03-04", {"date": True}, True, id="bool-date-ignored"),
        pytest.param("2026-03-04", {"date": "2026-02-30"}, True, id="invalid-date-ignored"),
        pytest.param("2026-03-04", {"date": "03/03/2026"}, True, id="other-format-ignored"),
        pytest.param("2026-03-04", {"date": None}, True, id="null-date-ignored"),
        pytest.param("2028-02-29", {"date": "20280229"}, True, id="leap-day"),
        pytest.param("2026-03-04T23", {"date": "2026-03-04", "hour": "23"}, True, id="hour-23"),
        pytest.param("2026-03-04T23", {"date": "2026-03-04", "hour": "22"}, False, id="hour-22"),
        pytest.param(
            "2026-03-04T23", {"date": "2026-03-05", "hour": "00"}, False, id="cross-midnight"
        ),
        pytest.param(
            "2026-03-05T00", {"date": "2026-03-05", "hour": "00"}, True, id="after-midnight"
        ),
        pytest.param(
            "2026-03-05T00", {"date": "2026-03-04", "hour": "00"}, False, id="hour-right-date-not"
        ),
        pytest.param("2026-03-04T23", {"date": "2026-03-04"}, True, id="hourly-date-only"),
        pytest.param("2026-03-04T23", {"hour": "23"}, True, id="hourly-hour-only"),
        pytest.param("2026-03-04T23", {"hour": "07"}, False, id="hourly-other-hour-only"),
        pytest.param(
            "2026-03-04T23", {"date": "2026-03-04", "hour": "7"}, True, id="bad-hour-ignored"
        ),
        pytest.param(
            "2026-03-04T23", {"date": "2026-03-04", "hour": "24"}, True, id="hour-24-ignored"
        ),
        pytest.param("2026-03-04T23", {"hour": 7}, False, id="number-hour-read"),
        pytest.param("2026-03-04T23", {"hour": 24}, True, id="number-hour-out-of-range-ignored"),
    ],
)
def test_unsuffixed_sensor_with_period_fields(
    period: str, data: dict[str, Any], counts: bool
) -> None:
    got = view(period, Sensor("ready", data))
    assert ("ready" in got) is counts


def test_unsuffixed_sensor_with_non_dict_data_counts() -> None:
    odd = Sensor("ready", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert sensors_for_period({"ready": odd}, "2026-03-04") == {"ready": odd}


def test_keys_with_non_period_hash_segments_are_plain_keys() -> None:
    got = view("2026-03-04", sensor("a#b", x=1), sensor("a#2026-03-04#b", x=2))
    assert got == {"a#b": {"x": 1}, "a#2026-03-04#b": {"x": 2}}


def test_plain_dict_sensors_work_too() -> None:
    sensors: dict[str, dict[str, Any]] = {
        "ready": {"status": "latest"},
        "count#2026-03-04": {"n": 5},
        "old": {"date": "2026-03-03"},
    }
    assert sensors_for_period(sensors, "2026-03-04") == {
        "ready": {"status": "latest"},
        "count": {"n": 5},
        "count#2026-03-04": {"n": 5},
    }


def test_the_view_keeps_the_original_sensor_objects() -> None:
    original = sensor("ready#2026-03-04", status="ok")
    got = sensors_for_period({original.key: original}, "2026-03-04")
    assert got["ready"] is original
    assert got["ready"].key == "ready#2026-03-04"


def test_sensors_for_period_rejects_a_bad_period() -> None:
    with pytest.raises(ValueError, match="invalid period"):
        sensors_for_period({}, "today")


# --- the period a trigger sensor names ------------------------------------------------------

NOON = dt.datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "data", "granularity", "period"),
    [
        pytest.param("up#2026-03-02", {}, "daily", "2026-03-02", id="suffix-dashed"),
        pytest.param("up#20260302", {}, "daily", "2026-03-02", id="suffix-compact"),
        pytest.param("up#20260302T05", {}, "daily", "2026-03-02T05", id="suffix-compact-hour"),
        pytest.param("up#2026-03-02T05", {}, "hourly", "2026-03-02T05", id="suffix-dashed-hour"),
        pytest.param(
            "up#2026-03-02", {"date": "2026-03-01"}, "daily", "2026-03-02", id="suffix-wins"
        ),
        pytest.param("up#20280229", {}, "daily", "2028-02-29", id="suffix-leap-day"),
        pytest.param("up", {"date": "2026-03-01"}, "daily", "2026-03-01", id="date-dashed"),
        pytest.param("up", {"date": "20260301"}, "daily", "2026-03-01", id="date-compact"),
        pytest.param("up", {"date": "2026-03-01"}, "hourly", "2026-03-01", id="date-on-hourly"),
        pytest.param(
            "up", {"date": "2026-03-01", "hour": "07"}, "daily", "2026-03-01T07", id="date-hour"
        ),
        pytest.param(
            "up", {"date": "20260301", "hour": "23"}, "daily", "2026-03-01T23", id="compact-hour"
        ),
        pytest.param("up", {"hour": "09"}, "daily", "2026-03-04T09", id="hour-only-earlier"),
        pytest.param("up", {"hour": "12"}, "daily", "2026-03-04T12", id="hour-only-current"),
        pytest.param("up", {"hour": "23"}, "daily", "2026-03-03T23", id="hour-only-later-is-past"),
        pytest.param(
            "up", {"date": "2026-03-01", "hour": "7"}, "daily", "2026-03-01", id="one-digit-hour"
        ),
        pytest.param(
            "up", {"date": "2026-03-01", "hour": "24"}, "daily", "2026-03-01", id="hour-24"
        ),
        pytest.param(
            "up", {"date": "2026-03-01", "hour": "ab"}, "daily", "2026-03-01", id="hour-text"
        ),
        pytest.param(
            "up", {"date": "2026-03-01", "hour": 7}, "daily", "2026-03-01T07", id="hour-number"
        ),
        pytest.param("up", {"date": 20260301}, "daily", "2026-03-01", id="date-number"),
        pytest.param("up", {"date": 2026}, "daily", "2026-03-04", id="date-short-number"),
        pytest.param("up", {"date": "2026-02-30"}, "daily", "2026-03-04", id="date-invalid"),
        pytest.param("up", {"date": ""}, "daily", "2026-03-04", id="date-empty"),
        pytest.param(
            "up", {"date": "2026-02-30", "hour": "05"}, "daily", "2026-03-04T05", id="bad-date-hour"
        ),
        pytest.param("up", {}, "daily", "2026-03-04", id="fallback-daily"),
        pytest.param("up", {}, "hourly", "2026-03-04T12", id="fallback-hourly"),
        pytest.param("up", {}, Granularity.HOURLY, "2026-03-04T12", id="fallback-enum"),
        pytest.param("up", None, "daily", "2026-03-04", id="no-data"),
        pytest.param("up", ["x"], "daily", "2026-03-04", id="list-data"),
        pytest.param("up#latest", {}, "daily", "2026-03-04", id="non-period-suffix"),
    ],
)
def test_period_of_sensor(key: str, data: Any, granularity: Any, period: str) -> None:
    assert period_of_sensor(key, data, granularity, NOON, "UTC") == period


def test_daily_fallback_uses_the_schedule_time_zone() -> None:
    just_after_utc_midnight = dt.datetime(2026, 3, 5, 0, 30, tzinfo=UTC)
    assert period_of_sensor("up", {}, "daily", just_after_utc_midnight, NEW_YORK) == "2026-03-04"
    assert period_of_sensor("up", {}, "daily", just_after_utc_midnight, "UTC") == "2026-03-05"
    assert (
        period_of_sensor("up", {}, "daily", just_after_utc_midnight, "America/New_York")
        == "2026-03-04"
    )
    # Hourly periods are UTC hours whatever the zone.
    assert period_of_sensor("up", {}, "hourly", just_after_utc_midnight, NEW_YORK) == (
        "2026-03-05T00"
    )


def test_hour_only_sensor_just_after_utc_midnight_names_yesterday() -> None:
    after_midnight = dt.datetime(2026, 3, 5, 0, 10, tzinfo=UTC)
    assert period_of_sensor("up", {"hour": "23"}, "hourly", after_midnight, "UTC") == (
        "2026-03-04T23"
    )
    assert period_of_sensor("up", {"hour": "00"}, "hourly", after_midnight, "UTC") == (
        "2026-03-05T00"
    )


@pytest.mark.parametrize(
    ("now", "granularity", "zone", "period"),
    [
        pytest.param(NOON, "daily", "UTC", "2026-03-04", id="daily-utc"),
        pytest.param(NOON, "hourly", "UTC", "2026-03-04T12", id="hourly-utc"),
        pytest.param(
            dt.datetime(2026, 3, 5, 3, 59, tzinfo=UTC), "daily", NEW_YORK, "2026-03-04", id="ny"
        ),
        pytest.param(
            dt.datetime(2026, 3, 5, 5, 0, tzinfo=UTC), "daily", NEW_YORK, "2026-03-05", id="ny-next"
        ),
        pytest.param(
            dt.datetime(2026, 3, 4, 23, 0, tzinfo=UTC), "daily", "Asia/Tokyo", "2026-03-05", id="jp"
        ),
        pytest.param(
            dt.datetime(2026, 3, 4, 23, 0, tzinfo=NEW_YORK),
            "hourly",
            "UTC",
            "2026-03-05T04",
            id="hourly-is-utc",
        ),
        pytest.param(dt.datetime(2026, 3, 4, 23, 59), "hourly", "UTC", "2026-03-04T23", id="naive"),
        pytest.param(
            dt.datetime(2028, 2, 29, 23, 0, tzinfo=UTC), "daily", "UTC", "2028-02-29", id="leap"
        ),
    ],
)
def test_period_at(now: dt.datetime, granularity: str, zone: Any, period: str) -> None:
    assert period_at(now, granularity, zone) == period


# --- write checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data"),
    [
        pytest.param("ready#2026-03-04", {"date": "2026-03-05"}, id="date-differs"),
        pytest.param("ready#20260304", {"date": "2026-03-03"}, id="compact-key-date-differs"),
        pytest.param("ready#2026-03-04", {"date": "20260305"}, id="compact-date-differs"),
        pytest.param("ready#2026-03-04T07", {"date": "2026-03-04", "hour": "08"}, id="hour"),
        pytest.param("ready#2026-03-04T07", {"hour": "23"}, id="hour-only-differs"),
        pytest.param("ready#2026-03-04T23", {"date": "2026-03-05", "hour": "23"}, id="midnight"),
        pytest.param("ready#2026-03-04", {"date": 20260305}, id="number-date-differs"),
        pytest.param("ready#2026-03-04T07", {"hour": 8}, id="number-hour-differs"),
    ],
)
def test_check_sensor_write_refuses_disagreement(key: str, data: dict[str, Any]) -> None:
    with pytest.raises(SensorError, match="names period"):
        check_sensor_write(key, data)


@pytest.mark.parametrize(
    ("key", "data"),
    [
        pytest.param("ready#2026-03-04", {"date": "2026-03-04"}, id="same-date"),
        pytest.param("ready#2026-03-04", {"date": "20260304"}, id="same-date-compact"),
        pytest.param("ready#2026-03-04", {}, id="no-fields"),
        pytest.param("ready#2026-03-04", {"date": "2026-03-04", "hour": "07"}, id="daily-key-hour"),
        pytest.param("ready#2026-03-04T07", {"date": "2026-03-04", "hour": "07"}, id="same-hour"),
        pytest.param("ready#2026-03-04T07", {"date": "2026-03-04"}, id="hourly-key-date-only"),
        pytest.param("ready#2026-03-04", {"date": 20260304}, id="same-date-number"),
        pytest.param("ready#2026-03-04", {"date": "garbage"}, id="bad-date-ignored"),
        pytest.param("ready", {"date": "2026-03-05"}, id="no-suffix"),
        pytest.param("ready#latest", {"date": "2026-03-05"}, id="non-period-suffix"),
        pytest.param("ready#2026-03-04", ["not", "a", "dict"], id="non-dict-data"),
    ],
)
def test_check_sensor_write_accepts(key: str, data: Any) -> None:
    check_sensor_write(key, data)


def test_check_sensor_write_message_names_both_sides() -> None:
    with pytest.raises(SensorError) as caught:
        check_sensor_write("ready#2026-03-04", {"date": "2026-03-05"})
    message = str(caught.value)
    assert "2026-03-04" in message
    assert "'2026-03-05'" in message
    assert "'ready#2026-03-04'" in message


# --- shifting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "days", "hours", "shifted"),
    [
        pytest.param("2026-03-04", -1, 0, "2026-03-03", id="yesterday"),
        pytest.param("20260301", -1, 0, "2026-02-28", id="compact-month-start"),
        pytest.param("2028-03-01", -1, 0, "2028-02-29", id="into-leap-day"),
        pytest.param("2026-12-31", 1, 0, "2027-01-01", id="year-end"),
        pytest.param("2026-03-04", 0, 48, "2026-03-06", id="daily-by-whole-days-of-hours"),
        pytest.param("2026-03-04T23", 0, 1, "2026-03-05T00", id="hour-23-to-midnight"),
        pytest.param("2026-03-05T00", 0, -1, "2026-03-04T23", id="back-over-midnight"),
        pytest.param("2028-02-29T23", 0, 1, "2028-03-01T00", id="leap-day-hour"),
        pytest.param("2026-03-04T07", 1, 2, "2026-03-05T09", id="days-and-hours"),
        pytest.param("2026-03-04", 0, 0, "2026-03-04", id="no-move"),
    ],
)
def test_shift_period(period: str, days: int, hours: int, shifted: str) -> None:
    assert shift_period(period, days=days, hours=hours) == shifted


def test_shift_daily_period_by_partial_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="by 5 hours"):
        shift_period("2026-03-04", hours=5)


@pytest.mark.parametrize(
    "text",
    ["2026-0304", "202603-04", "2026-03-04\n", "２０２６-03-04", "2026-03-04T24", "2026-02-30"],
)
def test_parse_period_is_strict(text: str) -> None:
    from interlock_core.periods import parse_period

    with pytest.raises(ValueError, match="invalid period"):
        parse_period(text)
