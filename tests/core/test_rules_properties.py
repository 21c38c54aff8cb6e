"""Property tests: whatever producers write, the rule engine and the period view never raise."""

import datetime as dt
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from interlock_core.config.models import Check, Rule, Validation
from interlock_core.periods import (
    Period,
    check_sensor_write,
    parse_period,
    period_of_sensor,
    sensors_for_period,
    split_period_suffix,
    trigger_key_matches,
)
from interlock_core.rules import evaluate_rule, evaluate_rule_list, evaluate_rules
from interlock_core.sensors import Sensor, SensorError

SETTINGS = settings(max_examples=300, deadline=None)
SAFETY_NET = "could not evaluate rule"

# Hypothesis draws are slow here (~1 ms each); hand-picked pools are nearly free and hold the
# values that matter, so the drawn strategies only add breadth.
NAN, INF = float("nan"), float("inf")
VALUE_POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    12,
    1000,
    1000.0,
    0.1,
    -0.0,
    2**53 + 1,
    10**30,
    -(10**30),
    10**400,
    -(10**4000),  # near the 4300-digit limit of int-to-text
    NAN,
    INF,
    -INF,
    1e308,
    5e-324,
    1.772622e9,
    999_999_999_999,
    10**12,
    1_772_622_000_000,
    "1e3",
    " 12",
    "12 ",
    "NaN",
    "inf",
    "-Infinity",
    "1e999",
    "9" * 5000,
    "true",
    "TRUE",
    "false",
    "",
    "ready",
    "2026-03-04",
    "20260304",
    "2026-03-04T10:00:00Z",
    "2026-03-04T10:00:00.123456789+05:30",
    "2026-03-04 10:00",
    "2026-02-30",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "1772622000",
    "1772622000000",
    "\ud800",
    "\x00",
    "٢٠٢٦-٠٣-٠٤",
    "2h",
    "-1d",
    dt.datetime(2026, 3, 4, 10, tzinfo=dt.UTC),
    dt.date(2026, 3, 4),
]
SCALARS = st.one_of(
    st.sampled_from(VALUE_POOL),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "a.b", "", "date"]), children, max_size=3),
    ),
    max_leaves=4,
)
FIELD_NAMES = ["a", "a.b", "t"]
FIELDS = st.one_of(st.none(), st.sampled_from([*FIELD_NAMES, "b", "a.b.c", "b.a", ".", ""]))
DATA = st.fixed_dictionaries({}, optional={name: JSON for name in FIELD_NAMES})
KEYS = st.sampled_from(["s", "t", "s#2026-03-04", "s#20260304T07", "u"])
NOW_POOL = [
    dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 4, 12),
    dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 5, 0, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
]
NOW = st.sampled_from(NOW_POOL)
WRITTEN_AT = st.sampled_from(
    [
        None,
        *NOW_POOL,
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 4, 18, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    ]
)
SENSOR_OBJECTS = st.builds(
    Sensor,
    key=KEYS,
    data=st.one_of(DATA, JSON),
    written_at=WRITTEN_AT,
    version=st.integers(min_value=0, max_value=3),
)
SENSORS = st.dictionaries(KEYS, st.one_of(st.none(), DATA, JSON, SENSOR_OBJECTS), max_size=3)
DURATIONS = st.sampled_from(["2h", "0s", "-1h", "1d", "90s", "100000h", "5m"])
RULE_VALUES = st.one_of(JSON, DURATIONS, st.lists(st.sampled_from(VALUE_POOL), max_size=3))
RULES = st.builds(
    lambda key, check, field, value: Rule.model_construct(
        key=key, check=check, field=field, value=value
    ),
    key=KEYS,
    check=st.one_of(st.sampled_from(list(Check)), st.sampled_from(["", "EQUALS", "regex"])),
    field=FIELDS,
    value=RULE_VALUES,
)


@SETTINGS
@given(
    rules=st.lists(RULES, max_size=4),
    mode=st.sampled_from(["ALL", "ANY", "any", "x"]),
    sensors=SENSORS,
    now=NOW,
)
def test_evaluation_never_raises_and_always_explains(
    rules: list[Rule], mode: str, sensors: dict[str, Any], now: dt.datetime
) -> None:
    evaluation = evaluate_rule_list(rules, mode, sensors, now)
    assert len(evaluation.results) == len(rules)
    for rule, result in zip(rules, evaluation.results, strict=True):
        assert result.key == rule.key
        assert isinstance(result.reason, str)
        assert result.reason
        assert SAFETY_NET not in result.reason
        result.reason.encode("utf-8")
    passes = [result.passed for result in evaluation.results]
    expected = any(passes) if mode.upper() == "ANY" else all(passes)
    assert evaluation.passed is expected
    assert evaluation.summary()
    # The same through evaluate_rules with a Validation that skipped config checks.
    validation = Validation.model_construct(trigger=cast(Any, mode), rules=rules)
    assert evaluate_rules(validation, sensors, now) == evaluation


def run(check: Check, actual: Any, value: Any, now: dt.datetime) -> tuple[bool, str]:
    rule = Rule.model_construct(key="s", check=check, field="f", value=value)
    result = evaluate_rule(rule, {"s": {"f": actual}}, now)
    assert result.reason
    assert SAFETY_NET not in result.reason
    return result.passed, result.reason


@SETTINGS
@given(actual=JSON, value=JSON, duration=DURATIONS, now=NOW)
def test_checks_are_consistent_with_each_other(
    actual: Any, value: Any, duration: str, now: dt.datetime
) -> None:
    # equals/neq are complementary and symmetric; "in [v]" is "equals v".
    equal = run(Check.EQUALS, actual, value, now)[0]
    assert run(Check.NEQ, actual, value, now)[0] is not equal
    assert run(Check.EQUALS, value, actual, now)[0] is equal
    assert run(Check.IN, actual, [value], now)[0] is equal

    gt, gte, lt, lte = (
        run(c, actual, value, now) for c in (Check.GT, Check.GTE, Check.LT, Check.LTE)
    )
    if gt[0]:
        assert gte[0]
    if lt[0]:
        assert lte[0]
    if "not a" in gt[1]:
        assert not any(result[0] for result in (gt, gte, lt, lte))
    else:
        # Two finite numbers: exactly one of <, >= holds, and exactly one of >, <=.
        assert lt[0] is not gte[0]
        assert gt[0] is not lte[0]

    age_lt = run(Check.AGE_LT, actual, duration, now)
    age_gt = run(Check.AGE_GT, actual, duration, now)
    assert not (age_lt[0] and age_gt[0])


# --- periods --------------------------------------------------------------------------------

PERIOD_POOL = [
    "2026-03-04",
    "20260304",
    "2026-03-03",
    "2026-03-04T07",
    "20260304T07",
    "2026-03-04T23",
    "2026-03-05T00",
    "2028-02-29",
    "20280229T23",
]
PERIOD_TEXT = st.one_of(
    st.sampled_from(PERIOD_POOL),
    st.builds(
        lambda date, hour: date.isoformat() + ("" if hour is None else f"T{hour:02d}"),
        st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)),
        st.one_of(st.none(), st.integers(min_value=0, max_value=23)),
    ),
)
SUFFIX_KEYS = st.one_of(
    st.builds(
        lambda name, period: f"{name}#{period}", st.sampled_from(["a", "b", "a#b"]), PERIOD_TEXT
    ),
    st.sampled_from(["a", "b", "a#", "#2026-03-04", "a#2026-0304", "a#2026-03-04T24", "a#x"]),
    st.text(alphabet="ab#-T0123456789", max_size=14),
    st.text(max_size=8),
)
PERIOD_FIELD_VALUES = st.sampled_from(
    ["00", "07", "23", "24", "7", "2026-02-30", *PERIOD_POOL, *VALUE_POOL]
)
PERIOD_DATA = st.one_of(
    st.fixed_dictionaries({}, optional={"date": PERIOD_FIELD_VALUES, "hour": PERIOD_FIELD_VALUES}),
    st.sampled_from(VALUE_POOL),
)
PERIOD_SENSORS = st.dictionaries(
    SUFFIX_KEYS,
    st.builds(
        Sensor,
        key=st.just("k"),
        data=PERIOD_DATA,
        written_at=WRITTEN_AT,
        version=st.integers(min_value=0, max_value=3),
    ),
    max_size=4,
)


@SETTINGS
@given(
    sensors=PERIOD_SENSORS,
    period=PERIOD_TEXT,
    now=NOW,
    granularity=st.sampled_from(["daily", "hourly"]),
)
def test_period_functions_never_raise_on_any_key_or_data(
    sensors: dict[str, Sensor], period: str, now: dt.datetime, granularity: str
) -> None:
    target = parse_period(period)
    seen = sensors_for_period(sensors, period)
    # An hourly target also sees its date's day-dated sensors (DESIGN §4).
    day = Period(target.date) if target.hour is not None else target
    suffixed_for_target = {
        key: sensor
        for key, sensor in sensors.items()
        if split_period_suffix(key)[1] in (target, day)
    }
    for key, sensor in seen.items():
        if key in sensors:
            assert sensor is sensors[key] or split_period_suffix(key)[1] is None
            assert split_period_suffix(key)[1] in (None, target, day)
        else:
            # An alias: it stands for a key suffixed with exactly this period.
            assert any(
                split_period_suffix(k)[0] == key and s is sensor
                for k, s in suffixed_for_target.items()
            )
    for key, sensor in suffixed_for_target.items():
        name = split_period_suffix(key)[0]
        assert seen[key] is sensor
        # The name shows a sensor suffixed with this period, never an unsuffixed one.
        assert any(seen[name] is s for s in suffixed_for_target.values())

    for key, sensor in sensors.items():
        name, suffix = split_period_suffix(key)
        assert (name == key) is (suffix is None)
        assert trigger_key_matches(name, key)
        assert parse_period(period_of_sensor(key, sensor.data, granularity, now, "Asia/Tokyo"))
        try:
            check_sensor_write(key, sensor.data)
        except SensorError:
            assert suffix is not None
