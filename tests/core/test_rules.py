"""The rule engine (DESIGN.md §3): every check, every coercion, the exact reasons."""

import datetime as dt
import json
import math
from typing import Any

import pytest

from interlock_core.config.durations import format_duration
from interlock_core.config.models import Check, MatchMode, Rule, TriggerCondition, Validation
from interlock_core.rules import (
    Evaluation,
    RuleResult,
    evaluate_rule,
    evaluate_rule_list,
    evaluate_rules,
)
from interlock_core.sensors import Sensor

NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
NAN = float("nan")
INF = float("inf")
HUGE = 10**400


def rule(check: str, field: str | None = "f", value: Any = None, key: str = "s") -> Rule:
    """A rule that skips config validation, so tables can hold values config would refuse."""
    try:
        parsed: Any = Check(check)
    except ValueError:
        parsed = check
    return Rule.model_construct(key=key, check=parsed, field=field, value=value)


def on_field(check: str, actual: Any, value: Any, field: str = "f") -> RuleResult:
    return evaluate_rule(rule(check, field, value), {"s": {field: actual}}, NOW)


# --- equals / neq ---------------------------------------------------------------------------

EQUALITY = [
    pytest.param(1000, 1000, True, id="int-int"),
    pytest.param(1000, 1000.0, True, id="int-float"),
    pytest.param(1000.0, 1000, True, id="float-int"),
    pytest.param(0.1 + 0.2, 0.3, False, id="float-exact"),
    pytest.param(1000, "1000", True, id="number-numeric-string"),
    pytest.param("1000", 1000, True, id="numeric-string-number"),
    pytest.param("1e3", 1000, True, id="exponent-string-number"),
    pytest.param("1000.0", 1000, True, id="decimal-string-number"),
    pytest.param("-12.5", -12.5, True, id="negative-decimal-string"),
    pytest.param(" 12", 12, False, id="whitespace-string-not-numeric"),
    pytest.param("12 ", 12, False, id="trailing-whitespace-not-numeric"),
    pytest.param("1_000", 1000, False, id="underscore-string-not-numeric"),
    pytest.param("0x10", 16, False, id="hex-string-not-numeric"),
    pytest.param("NaN", NAN, False, id="nan-string-not-numeric"),
    pytest.param("1000.0", "1000", False, id="two-strings-exact"),
    pytest.param("ready", "ready", True, id="strings-equal"),
    pytest.param("Ready", "ready", False, id="strings-case-sensitive"),
    pytest.param("", "", True, id="empty-strings"),
    pytest.param(True, "true", True, id="bool-true-string"),
    pytest.param(True, "TRUE", True, id="bool-TRUE-string"),
    pytest.param("False", False, True, id="False-string-bool"),
    pytest.param(False, "true", False, id="bool-mismatch-string"),
    pytest.param(True, True, True, id="bools"),
    pytest.param(True, False, False, id="bools-differ"),
    pytest.param(True, 1, False, id="bool-not-int"),
    pytest.param(0, False, False, id="int-not-bool"),
    pytest.param("yes", True, False, id="yes-not-bool"),
    pytest.param("true", "TRUE", False, id="bool-strings-exact"),
    pytest.param(None, None, True, id="none-none"),
    pytest.param(None, "null", False, id="none-null-string"),
    pytest.param(None, 0, False, id="none-zero"),
    pytest.param("", None, False, id="empty-none"),
    pytest.param([1, 2], [1, 2], True, id="lists"),
    pytest.param([1, 2], [2, 1], False, id="lists-order"),
    pytest.param([1, "a"], [1.0, "a"], True, id="lists-type-aware"),
    pytest.param([1], [1, 2], False, id="lists-length"),
    pytest.param({"a": 1, "b": [True]}, {"b": ["true"], "a": 1.0}, True, id="dicts"),
    pytest.param({"a": 1}, {"a": 2}, False, id="dicts-value"),
    pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="dicts-keys"),
    pytest.param([1], 1, False, id="list-scalar"),
    pytest.param({"a": 1}, "{'a': 1}", False, id="dict-string"),
    pytest.param({}, [], False, id="dict-list"),
    pytest.param(NAN, NAN, False, id="nan-never-equal"),
    pytest.param(HUGE, HUGE, True, id="huge-ints"),
    pytest.param(HUGE, "1" + "0" * 400, True, id="huge-int-string"),
    pytest.param(HUGE, HUGE + 1, False, id="huge-ints-differ"),
    pytest.param(2**53 + 1, float(2**53), False, id="int-float-exact"),
    pytest.param("9" * 5000, 1, False, id="over-digit-limit-string"),
    pytest.param("2026-03-04", dt.date(2026, 3, 4), True, id="yaml-date-value"),
]


@pytest.mark.parametrize(("actual", "value", "equal"), EQUALITY)
def test_equals(actual: Any, value: Any, equal: bool) -> None:
    assert on_field("equals", actual, value).passed is equal


@pytest.mark.parametrize(("actual", "value", "equal"), EQUALITY)
def test_neq_is_the_opposite_of_equals(actual: Any, value: Any, equal: bool) -> None:
    assert on_field("neq", actual, value).passed is not equal


@pytest.mark.parametrize(("actual", "value", "equal"), EQUALITY)
def test_equality_is_symmetric(actual: Any, value: Any, equal: bool) -> None:
    assert on_field("equals", value, actual).passed is equal


@pytest.mark.parametrize(
    ("check", "actual", "value", "passed", "reason"),
    [
        pytest.param("equals", "ready", "ready", True, 'status is "ready"', id="equals-pass"),
        pytest.param(
            "equals",
            "pending",
            "ready",
            False,
            'status is "pending", expected "ready"',
            id="equals-fail",
        ),
        pytest.param("equals", 12, 1000, False, "status is 12, expected 1000", id="equals-num"),
        pytest.param(
            "neq", "ready", "failed", True, 'status is "ready" (not "failed")', id="neq-pass"
        ),
        pytest.param(
            "neq",
            "failed",
            "failed",
            False,
            'status is "failed", expected not "failed"',
            id="neq-fail",
        ),
        pytest.param("equals", None, "x", False, 'status is null, expected "x"', id="null"),
        pytest.param(
            "equals", HUGE, 1, False, "status is <401-digit integer>, expected 1", id="huge"
        ),
        pytest.param(
            "equals",
            "x" * 100,
            "y",
            False,
            'status is "' + "x" * 40 + '…", expected "y"',
            id="long-string-truncated",
        ),
        pytest.param(
            "equals",
            {"a": [1, None, True]},
            {},
            False,
            'status is {"a": [1, null, true]}, expected {}',
            id="json-like-display",
        ),
    ],
)
def test_equality_reasons(check: str, actual: Any, value: Any, passed: bool, reason: str) -> None:
    result = on_field(check, actual, value, field="status")
    assert (result.passed, result.reason) == (passed, reason)
    assert result.actual == actual or actual is None


# --- in -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "value", "passed", "reason"),
    [
        pytest.param(
            "done", ["ready", "done"], True, 'f is "done" (in ["ready", "done"])', id="hit"
        ),
        pytest.param(
            "pending",
            ["ready", "done"],
            False,
            'f is "pending", expected one of ["ready", "done"]',
            id="miss",
        ),
        pytest.param("1000", [5, 1000], True, None, id="type-aware-number"),
        pytest.param("true", [False, True], True, None, id="type-aware-bool"),
        pytest.param(None, [None], True, None, id="null-member"),
        pytest.param("a", [], False, 'f is "a", expected one of []', id="empty-list"),
        pytest.param("a", "abc", False, 'rule value "abc" is not a list', id="value-not-list"),
        pytest.param("a", None, False, "rule value null is not a list", id="value-none"),
        pytest.param([1], [[1], [2]], True, None, id="list-member"),
    ],
)
def test_in(actual: Any, value: Any, passed: bool, reason: str | None) -> None:
    result = on_field("in", actual, value)
    assert result.passed is passed
    if reason is not None:
        assert result.reason == reason


# --- gt / gte / lt / lte --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "actual", "value", "passed", "reason"),
    [
        pytest.param("gte", 1204, 1000, True, "count is 1204 (>= 1000)", id="gte-pass"),
        pytest.param("gte", 12, 1000, False, "count is 12, needs >= 1000", id="gte-fail"),
        pytest.param("gte", 1000, 1000, True, None, id="gte-equal"),
        pytest.param("gt", 1000, 1000, False, "count is 1000, needs > 1000", id="gt-equal"),
        pytest.param("gt", 1001, 1000, True, "count is 1001 (> 1000)", id="gt-pass"),
        pytest.param("lt", 999, 1000, True, "count is 999 (< 1000)", id="lt-pass"),
        pytest.param("lt", 1000, 1000, False, "count is 1000, needs < 1000", id="lt-equal"),
        pytest.param("lte", 1000, 1000, True, None, id="lte-equal"),
        pytest.param("lte", 1001, 1000, False, "count is 1001, needs <= 1000", id="lte-fail"),
        pytest.param("lte", 0.1, 0.05, False, "count is 0.1, needs <= 0.05", id="floats"),
        pytest.param("gte", 1000.0, 1000, True, None, id="float-vs-int"),
        pytest.param("gt", "1204", 1000, True, 'count is "1204" (> 1000)', id="numeric-string"),
        pytest.param("gt", "1e3", 999, True, None, id="exponent-string"),
        pytest.param("gte", 1000, "1e3", True, "count is 1000 (>= 1000.0)", id="value-exponent"),
        pytest.param("gte", 1000, "1000", True, "count is 1000 (>= 1000)", id="value-string"),
        pytest.param("gt", "-.5", -1, True, None, id="leading-dot-string"),
        pytest.param(
            "gte", " 12", 1, False, 'count is " 12", not a number', id="whitespace-string"
        ),
        pytest.param("gte", "abc", 1, False, 'count is "abc", not a number', id="text"),
        pytest.param("gte", "", 1, False, 'count is "", not a number', id="empty-string"),
        pytest.param("gte", True, 0, False, "count is true, not a number", id="bool"),
        pytest.param("gte", None, 0, False, "count is null, not a number", id="null"),
        pytest.param("gte", NAN, 0, False, "count is NaN, not a finite number", id="nan"),
        pytest.param("gte", INF, 0, False, "count is inf, not a finite number", id="inf"),
        pytest.param("lt", -INF, 0, False, "count is -inf, not a finite number", id="-inf"),
        pytest.param("gte", "NaN", 0, False, 'count is "NaN", not a number', id="nan-string"),
        pytest.param("gte", "Infinity", 0, False, None, id="inf-string"),
        pytest.param(
            "gte", "1e999", 0, False, 'count is "1e999", not a finite number', id="overflow"
        ),
        pytest.param("gte", [5], 1, False, "count is [5], not a number", id="list"),
        pytest.param("gte", {"n": 5}, 1, False, 'count is {"n": 5}, not a number', id="dict"),
        pytest.param("gt", HUGE, 1e308, True, None, id="huge-int-vs-float"),
        pytest.param(
            "lt", HUGE, 1, False, "count is <401-digit integer>, needs < 1", id="huge-int"
        ),
        pytest.param("gt", -HUGE, 0, False, None, id="huge-negative"),
        pytest.param("gt", "9" * 5000, 0, False, None, id="over-digit-limit"),
        pytest.param("gt", 1, NAN, False, "rule value NaN is not a finite number", id="v-nan"),
        pytest.param("gt", 1, INF, False, "rule value inf is not a finite number", id="v-inf"),
        pytest.param("gt", 1, "abc", False, 'rule value "abc" is not a number', id="v-text"),
        pytest.param("gt", 1, True, False, "rule value true is not a number", id="v-bool"),
        pytest.param("gt", 1, None, False, "rule value null is not a number", id="v-null"),
        pytest.param("gt", 1, [1], False, "rule value [1] is not a number", id="v-list"),
    ],
)
def test_ordering(check: str, actual: Any, value: Any, passed: bool, reason: str | None) -> None:
    result = on_field(check, actual, value, field="count")
    assert result.passed is passed
    if reason is not None:
        assert result.reason == reason


# --- age_lt / age_gt on a field -------------------------------------------------------------

HOUR_AGO = NOW - dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("stamp", "age"),
    [
        pytest.param("2026-03-04T11:00:00Z", "1h0m0s", id="Z"),
        pytest.param("2026-03-04T11:00:00+00:00", "1h0m0s", id="offset-utc"),
        pytest.param("2026-03-04T13:00:00+03:00", "2h0m0s", id="offset-east"),
        pytest.param("2026-03-04T06:00:00-04:00", "2h0m0s", id="offset-west"),
        pytest.param("2026-03-04T11:00:00", "1h0m0s", id="no-offset-is-utc"),
        pytest.param("2026-03-04 11:00:00", "1h0m0s", id="space-separator"),
        pytest.param("2026-03-04T11:00:00.250Z", "59m59s", id="fraction-ms"),
        pytest.param("2026-03-04T11:00:00.123456789Z", "59m59s", id="fraction-ns"),
        pytest.param("2026-03-04T10:30:00.5", "1h29m59s", id="fraction-no-offset"),
        pytest.param("2026-03-04", "12h0m0s", id="date-only-midnight-utc"),
        pytest.param("2026-03-03", "36h0m0s", id="date-only-yesterday"),
        pytest.param("20260304", "12h0m0s", id="compact-date-not-epoch"),
        pytest.param(int(HOUR_AGO.timestamp()), "1h0m0s", id="epoch-s-int"),
        pytest.param(HOUR_AGO.timestamp() + 0.5, "59m59s", id="epoch-s-float"),
        pytest.param(str(int(HOUR_AGO.timestamp())), "1h0m0s", id="epoch-s-string"),
        pytest.param(int(HOUR_AGO.timestamp()) * 1000, "1h0m0s", id="epoch-ms-int"),
        pytest.param(HOUR_AGO.timestamp() * 1000.0, "1h0m0s", id="epoch-ms-float"),
        pytest.param(str(int(HOUR_AGO.timestamp()) * 1000), "1h0m0s", id="epoch-ms-string"),
        pytest.param(f"{HOUR_AGO.timestamp() / 1e9}e9", "1h0m0s", id="epoch-exponent-string"),
        pytest.param(HOUR_AGO, "1h0m0s", id="datetime-object"),
        pytest.param(HOUR_AGO.replace(tzinfo=None), "1h0m0s", id="naive-datetime-object"),
    ],
)
def test_age_of_field_formats(stamp: Any, age: str) -> None:
    result = on_field("age_lt", stamp, "100000h", field="updatedAt")
    assert result.passed, result.reason
    assert result.reason == f"updatedAt is {age} old (< 100000h0m0s)"
    assert result.actual == stamp


@pytest.mark.parametrize(
    ("check", "stamp", "value", "passed", "reason"),
    [
        pytest.param(
            "age_lt",
            "2026-03-04T11:00:00Z",
            "2h",
            True,
            "updatedAt is 1h0m0s old (< 2h0m0s)",
            id="lt-pass",
        ),
        pytest.param(
            "age_lt",
            "2026-03-04T09:00:00Z",
            "2h",
            False,
            "updatedAt is 3h0m0s old, needs < 2h0m0s",
            id="lt-fail",
        ),
        pytest.param(
            "age_lt", "2026-03-04T10:00:00Z", "2h", False, None, id="lt-exactly-threshold"
        ),
        pytest.param(
            "age_gt",
            "2026-03-04T09:00:00Z",
            "2h",
            True,
            "updatedAt is 3h0m0s old (> 2h0m0s)",
            id="gt-pass",
        ),
        pytest.param(
            "age_gt",
            "2026-03-04T11:00:00Z",
            "2h",
            False,
            "updatedAt is 1h0m0s old, needs > 2h0m0s",
            id="gt-fail",
        ),
        pytest.param(
            "age_gt", "2026-03-04T10:00:00Z", "2h", False, None, id="gt-exactly-threshold"
        ),
        pytest.param("age_lt", "2026-03-02T12:00:00Z", "1d", False, None, id="days-unit-threshold"),
        pytest.param("age_gt", "2026-03-02T12:00:00Z", "1d", True, None, id="days-unit-gt"),
        pytest.param(
            "age_lt",
            "2026-03-04T12:05:00Z",
            "1h",
            True,
            "updatedAt is 0s old (< 1h0m0s)",
            id="future-exactly-5m-is-now",
        ),
        pytest.param(
            "age_gt",
            "2026-03-04T12:05:00Z",
            "0s",
            False,
            "updatedAt is 0s old, needs > 0s",
            id="future-exactly-5m-gt",
        ),
        pytest.param(
            "age_lt",
            "2026-03-04T12:05:01Z",
            "1h",
            False,
            "timestamp is in the future (updatedAt is 5m1s ahead)",
            id="future-beyond-5m-lt",
        ),
        pytest.param(
            "age_gt",
            "2026-03-04T12:05:01Z",
            "0s",
            False,
            "timestamp is in the future (updatedAt is 5m1s ahead)",
            id="future-beyond-5m-gt",
        ),
        pytest.param(
            "age_lt",
            int((NOW + dt.timedelta(hours=3)).timestamp() * 1000),
            "1h",
            False,
            "timestamp is in the future (updatedAt is 3h0m0s ahead)",
            id="future-epoch-ms",
        ),
        pytest.param(
            "age_lt",
            "yesterday",
            "1h",
            False,
            'updatedAt is "yesterday", not a timestamp',
            id="text",
        ),
        pytest.param("age_lt", "2026-13-01", "1h", False, None, id="invalid-month"),
        pytest.param("age_lt", "2026-03-04T25:00:00", "1h", False, None, id="invalid-hour"),
        pytest.param("age_lt", "", "1h", False, 'updatedAt is "", not a timestamp', id="empty"),
        pytest.param("age_lt", True, "1h", False, "updatedAt is true, not a timestamp", id="bool"),
        pytest.param("age_lt", None, "1h", False, "updatedAt is null, not a timestamp", id="null"),
        pytest.param("age_lt", NAN, "1h", False, "updatedAt is NaN, not a timestamp", id="nan"),
        pytest.param("age_lt", INF, "1h", False, "updatedAt is inf, not a timestamp", id="inf"),
        pytest.param("age_lt", 1e300, "1h", False, None, id="out-of-range-float"),
        pytest.param("age_lt", HUGE, "1h", False, None, id="out-of-range-int"),
        pytest.param("age_lt", [1], "1h", False, "updatedAt is [1], not a timestamp", id="list"),
        pytest.param(
            "age_lt",
            "2026-03-04T11:00:00Z",
            "2 hours",
            False,
            "rule value \"2 hours\" is not a duration such as '2h'",
            id="bad-threshold",
        ),
        pytest.param(
            "age_lt",
            "2026-03-04T11:00:00Z",
            7200,
            False,
            "rule value 7200 is not a duration such as '2h'",
            id="numeric-threshold",
        ),
    ],
)
def test_age_checks(check: str, stamp: Any, value: Any, passed: bool, reason: str | None) -> None:
    result = on_field(check, stamp, value, field="updatedAt")
    assert result.passed is passed, result.reason
    if reason is not None:
        assert result.reason == reason


@pytest.mark.parametrize(
    ("stamp", "instant"),
    [
        pytest.param(10**12, dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC), id="1e12-is-ms"),
        pytest.param(
            "1000000000000", dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC), id="1e12-str-ms"
        ),
        pytest.param(10**9, dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC), id="1e9-is-s"),
        pytest.param(-(10**12), dt.datetime(1938, 4, 24, 22, 13, 20, tzinfo=dt.UTC), id="neg-ms"),
        pytest.param(0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), id="zero"),
    ],
)
def test_epoch_unit_threshold(stamp: Any, instant: dt.datetime) -> None:
    expected_age = NOW - instant
    result = on_field("age_gt", stamp, "1h", field="t")
    assert result.passed, result.reason
    assert result.reason == f"t is {format_duration(expected_age)} old (> 1h0m0s)"


def test_epoch_seconds_beyond_the_calendar_are_not_timestamps() -> None:
    # 999 999 999 999 is below the ms threshold: seconds, i.e. year ~33658.
    result = on_field("age_lt", 999_999_999_999, "1h", field="t")
    assert (result.passed, result.reason) == (False, "t is 999999999999, not a timestamp")


# --- age of the sensor's write time ---------------------------------------------------------


def write_age(check: str, written_at: dt.datetime | None, value: str = "2h") -> RuleResult:
    sensors = {"s": Sensor(key="s", data={"a": 1}, written_at=written_at, version=3)}
    return evaluate_rule(rule(check, None, value), sensors, NOW)


@pytest.mark.parametrize(
    ("check", "ago", "passed", "reason"),
    [
        pytest.param("age_lt", 1, True, 'sensor "s" is 1h0m0s old (< 2h0m0s)', id="lt-pass"),
        pytest.param("age_lt", 3, False, 'sensor "s" is 3h0m0s old, needs < 2h0m0s', id="lt-fail"),
        pytest.param("age_gt", 3, True, 'sensor "s" is 3h0m0s old (> 2h0m0s)', id="gt-pass"),
        pytest.param("age_gt", 1, False, 'sensor "s" is 1h0m0s old, needs > 2h0m0s', id="gt-fail"),
        pytest.param(
            "age_lt",
            -1,
            False,
            'timestamp is in the future (sensor "s" is 1h0m0s ahead)',
            id="written-in-future",
        ),
    ],
)
def test_write_time_age(check: str, ago: int, passed: bool, reason: str) -> None:
    # Sub-second noise, as real clocks have, is not shown.
    written_at = NOW - dt.timedelta(hours=ago, microseconds=417 if ago > 0 else -417)
    result = write_age(check, written_at)
    assert (result.passed, result.reason) == (passed, reason)
    assert result.actual == written_at


def test_write_time_naive_is_utc() -> None:
    result = write_age("age_lt", dt.datetime(2026, 3, 4, 11, 0))
    assert result.passed
    assert result.reason == 'sensor "s" is 1h0m0s old (< 2h0m0s)'


def test_write_time_in_another_zone() -> None:
    east = dt.timezone(dt.timedelta(hours=5))
    result = write_age("age_gt", dt.datetime(2026, 3, 4, 14, 0, tzinfo=east))
    assert result.passed
    assert result.reason == 'sensor "s" is 3h0m0s old (> 2h0m0s)'


@pytest.mark.parametrize("check", ["age_lt", "age_gt"])
def test_write_time_missing_from_sensor(check: str) -> None:
    result = write_age(check, None)
    assert not result.passed
    assert result.reason == 'sensor "s" has no write time to measure its age (give a field)'


@pytest.mark.parametrize("check", ["age_lt", "age_gt"])
def test_write_time_unknown_for_plain_dicts(check: str) -> None:
    result = evaluate_rule(rule(check, None, "1h"), {"s": {"a": 1}}, NOW)
    assert not result.passed
    assert result.reason == 'sensor "s" has no write time to measure its age (give a field)'


def test_naive_now_is_utc() -> None:
    result = evaluate_rule(
        rule("age_lt", "t", "2h"), {"s": {"t": "2026-03-04T11:00:00Z"}}, NOW.replace(tzinfo=None)
    )
    assert result.passed
    assert result.reason == "t is 1h0m0s old (< 2h0m0s)"


# --- exists, missing sensors and fields, dotted paths --------------------------------------


@pytest.mark.parametrize(
    ("sensors", "field", "passed", "reason"),
    [
        pytest.param({}, None, False, 'sensor "s" not found', id="missing-sensor"),
        pytest.param({"s": None}, None, False, 'sensor "s" not found', id="none-is-missing"),
        pytest.param({"other": {}}, None, False, 'sensor "s" not found', id="other-key"),
        pytest.param({"s": {}}, None, True, 'sensor "s" exists', id="empty-dict-exists"),
        pytest.param({"s": Sensor("s", {})}, None, True, 'sensor "s" exists', id="sensor-obj"),
        pytest.param(
            {"s": Sensor("s", [1, 2])},  # type: ignore[arg-type]
            None,
            True,
            'sensor "s" exists',
            id="non-dict-data-exists",
        ),
        pytest.param({"s": {"f": 0}}, "f", True, "f is 0", id="field-zero"),
        pytest.param({"s": {"f": False}}, "f", True, "f is false", id="field-false"),
        pytest.param({"s": {"f": ""}}, "f", True, 'f is ""', id="field-empty-string"),
        pytest.param(
            {"s": {"f": None}}, "f", False, 'field "f" is null in sensor "s"', id="field-null"
        ),
        pytest.param(
            {"s": {"g": 1}}, "f", False, 'field "f" not found in sensor "s"', id="field-missing"
        ),
        pytest.param(
            {"s": Sensor("s", "text")},  # type: ignore[arg-type]
            "f",
            False,
            'sensor "s" data is not an object',
            id="non-dict-data-field",
        ),
        pytest.param({"s": ["f"]}, "f", False, 'sensor "s" data is not an object', id="list"),
        pytest.param({}, "f", False, 'sensor "s" not found', id="missing-sensor-with-field"),
    ],
)
def test_exists(sensors: dict[str, Any], field: str | None, passed: bool, reason: str) -> None:
    result = evaluate_rule(rule("exists", field), sensors, NOW)
    assert (result.passed, result.reason) == (passed, reason)


@pytest.mark.parametrize("check", [c.value for c in Check])
def test_every_check_fails_on_a_missing_sensor(check: str) -> None:
    result = evaluate_rule(rule(check, "f", "1h"), {}, NOW)
    assert not result.passed
    assert result.reason == 'sensor "s" not found'


@pytest.mark.parametrize("check", [c.value for c in Check])
def test_every_check_fails_on_a_missing_field(check: str) -> None:
    result = evaluate_rule(rule(check, "f", "1h"), {"s": {"g": 1}}, NOW)
    assert not result.passed
    assert result.reason == 'field "f" not found in sensor "s"'


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        pytest.param({"stats": {"rows": 5}}, "stats.rows", 5, id="nested"),
        pytest.param({"a": {"b": {"c": 4}}}, "a.b.c", 4, id="deep"),
        pytest.param({"stats.rows": 1, "stats": {"rows": 2}}, "stats.rows", 1, id="exact-wins"),
        pytest.param({"a": {"b.c": 3, "b": {"c": 9}}}, "a.b.c", 3, id="exact-wins-nested"),
        pytest.param({"a.b": {"c": 7}}, "a.b.c", 7, id="dotted-key-then-nested"),
        pytest.param({"a": {"x": 1}, "a.b": {"c": 8}}, "a.b.c", 8, id="backtracks"),
        pytest.param({"stats": 5}, "stats.rows", None, id="scalar-parent"),
        pytest.param({"stats": [{"rows": 5}]}, "stats.rows", None, id="list-parent"),
        pytest.param({"stats": {"rows": 5}}, "stats.cols", None, id="missing-leaf"),
        pytest.param({"stats": {"rows": 5}}, "stats", {"rows": 5}, id="map-value"),
        pytest.param({"": {"": 1}}, ".", 1, id="empty-segments"),
    ],
)
def test_dotted_paths(data: dict[str, Any], field: str, expected: Any) -> None:
    result = evaluate_rule(rule("exists", field), {"s": data}, NOW)
    if expected is None:
        assert not result.passed
        assert result.reason == f'field "{field}" not found in sensor "s"'
    else:
        assert result.passed, result.reason
        assert result.actual == expected


def test_dotted_path_with_numeric_check() -> None:
    result = evaluate_rule(rule("gte", "stats.rows", 1000), {"s": {"stats": {"rows": 1204}}}, NOW)
    assert (result.passed, result.reason) == (True, "stats.rows is 1204 (>= 1000)")


# --- odd rules and odd text -----------------------------------------------------------------


def test_unknown_check_fails() -> None:
    result = evaluate_rule(rule("regex", "f", ".*"), {"s": {"f": "x"}}, NOW)
    assert (result.passed, result.reason, result.check) == (False, 'unknown check "regex"', "regex")


@pytest.mark.parametrize("check", ["equals", "neq", "in", "gt", "gte", "lt", "lte"])
def test_value_checks_without_field_fail(check: str) -> None:
    result = evaluate_rule(rule(check, None, 1), {"s": {"f": 1}}, NOW)
    assert not result.passed
    assert result.reason == f"check '{check}' needs a field"


def test_lone_surrogate_in_sensor_text_gives_an_encodable_reason() -> None:
    result = on_field("equals", "bad\ud800", "ok")
    assert not result.passed
    result.reason.encode("utf-8")
    assert "\\ud800" in result.reason


def test_deeply_nested_values_fail_closed_for_neq() -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    other: Any = 2
    for _ in range(200):
        other = [other]
    assert not on_field("equals", deep, other).passed
    # "Not equal" must not be concluded from data the engine gave up comparing.
    neq = on_field("neq", deep, other)
    assert not neq.passed
    assert neq.reason == "value is nested too deeply to compare"


def test_quotes_in_keys_and_fields_are_escaped() -> None:
    result = evaluate_rule(rule("exists", 'a"b', key='k"1'), {'k"1': {}}, NOW)
    assert result.reason == 'field "a\\"b" not found in sensor "k\\"1"'


# --- combining rules ------------------------------------------------------------------------

SENSORS: dict[str, Any] = {
    "row-count": {"count": 12},
    "upstream": Sensor("upstream", {"status": "ready"}, NOW - dt.timedelta(minutes=30)),
}
PASSING = Rule(key="upstream", check=Check.EQUALS, field="status", value="ready")
FAILING = Rule(key="row-count", check=Check.GTE, field="count", value=1000)
MISSING = Rule(key="absent", check=Check.EXISTS)
FRESH = Rule(key="upstream", check=Check.AGE_LT, value="1h")


@pytest.mark.parametrize(
    ("mode", "rules", "passed"),
    [
        pytest.param("ALL", [PASSING, FRESH], True, id="all-pass"),
        pytest.param("ALL", [PASSING, FAILING], False, id="all-one-fails"),
        pytest.param("ALL", [FAILING, PASSING], False, id="all-first-fails"),
        pytest.param("ALL", [], True, id="all-empty-passes"),
        pytest.param("ANY", [FAILING, PASSING], True, id="any-one-passes"),
        pytest.param("ANY", [PASSING, FAILING], True, id="any-first-passes"),
        pytest.param("ANY", [FAILING, MISSING], False, id="any-none-pass"),
        pytest.param("ANY", [], False, id="any-empty-fails"),
        pytest.param("any", [FAILING, PASSING], True, id="lowercase-any"),
        pytest.param(" Any ", [FAILING, PASSING], True, id="spaced-any"),
        pytest.param(MatchMode.ANY, [FAILING, PASSING], True, id="enum-any"),
        pytest.param("bogus", [FAILING, PASSING], False, id="unknown-mode-is-all"),
    ],
)
def test_match_modes(mode: Any, rules: list[Rule], passed: bool) -> None:
    evaluation = evaluate_rule_list(rules, mode, SENSORS, NOW)
    assert evaluation.passed is passed
    # No short circuit: one result per rule, in rule order.
    assert [(r.key, r.check) for r in evaluation.results] == [(r.key, r.check.value) for r in rules]


def test_evaluate_rules_with_a_loaded_validation() -> None:
    validation = Validation.model_validate(
        {
            "trigger": "any",
            "rules": [
                {"key": "row-count", "check": "gte", "field": "count", "value": 1000},
                {"key": "upstream", "check": "equals", "field": "status", "value": "ready"},
                {"key": "absent", "check": "exists"},
            ],
        }
    )
    evaluation = evaluate_rules(validation, SENSORS, NOW)
    assert evaluation.passed
    assert evaluation.mode == MatchMode.ANY
    assert [r.passed for r in evaluation.results] == [False, True, False]
    assert [r.key for r in evaluation.failed] == ["row-count", "absent"]
    assert evaluation.summary() == (
        "ANY: 1 of 3 rules pass; failing: row-count (count is 12, needs >= 1000); "
        'absent (sensor "absent" not found)'
    )


def test_evaluate_rules_all_mode_summary() -> None:
    validation = Validation(rules=[FAILING, PASSING, FRESH])
    evaluation = evaluate_rules(validation, SENSORS, NOW)
    assert not evaluation.passed
    assert evaluation.summary() == (
        "2 of 3 rules pass; failing: row-count (count is 12, needs >= 1000)"
    )
    assert evaluation.results[2].reason == 'sensor "upstream" is 30m0s old (< 1h0m0s)'


def test_summaries_of_edge_cases() -> None:
    assert evaluate_rules(Validation(), {}, NOW).summary() == "no rules to check (passes)"
    any_empty = Validation.model_construct(trigger=MatchMode.ANY, rules=[])
    evaluation = evaluate_rules(any_empty, {}, NOW)
    assert not evaluation.passed
    assert evaluation.summary() == "no rules: ANY needs at least one (fails)"
    single = evaluate_rule_list([PASSING], "ALL", SENSORS, NOW)
    assert single.summary() == "1 of 1 rule passes"
    assert single.failed == []


def test_trigger_condition_is_a_rule() -> None:
    trigger = TriggerCondition(
        key="upstream", check=Check.EQUALS, field="status", value="ready", deadline="11:00"
    )
    result = evaluate_rule(trigger, SENSORS, NOW)
    assert result == RuleResult("upstream", "equals", "status", True, 'status is "ready"', "ready")


def test_results_are_frozen() -> None:
    evaluation = evaluate_rule_list([PASSING], "ALL", SENSORS, NOW)
    with pytest.raises(AttributeError):
        evaluation.passed = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        evaluation.results[0].passed = False  # type: ignore[misc]


def test_sensor_mapping_is_not_modified() -> None:
    sensors: dict[str, Any] = {"s": {"f": [1, 2]}}
    evaluate_rule_list(
        [rule("equals", "f", [1, 2]), rule("in", "f", [[1, 2]])], "ALL", sensors, NOW
    )
    assert sensors == {"s": {"f": [1, 2]}}


def test_evaluation_is_a_dataclass_with_list_results() -> None:
    evaluation = Evaluation(passed=True, results=[])
    assert evaluation.mode == MatchMode.ALL
    assert evaluation.failed == []


def test_nan_never_counts_as_equal_even_in_lists() -> None:
    assert not on_field("in", math.nan, [math.nan]).passed


def test_integers_beyond_the_text_conversion_limit_are_described_not_printed() -> None:
    # Python refuses str() of ints over 4300 digits; the reason must still be written.
    result = on_field("gte", 10**5000, 1)
    assert (result.passed, result.reason) == (True, "f is <5001-digit integer> (>= 1)")
    assert on_field("equals", -(10**5000), 1).reason == ("f is -<5001-digit integer>, expected 1")


def test_a_rule_result_document_is_json_safe_for_every_adapter() -> None:
    when = dt.datetime(2026, 3, 4, 10, tzinfo=dt.UTC)
    result = RuleResult("k", "gte", "n", False, "too small", {"at": when, "x": float("nan")})
    document = result.to_document()
    assert document == {
        "key": "k",
        "check": "gte",
        "field": "n",
        "passed": False,
        "reason": "too small",
        "actual": {"at": "2026-03-04T10:00:00+00:00", "x": None},
    }
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert RuleResult("k", "exists", None, True, "ok", actual=object()).to_document()["actual"]
