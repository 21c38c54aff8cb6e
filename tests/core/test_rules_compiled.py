"""Compiled rules (interlock_core/rule_compiler.py): the same results and reasons as the
interpreter they replaced (tests/core/rules_reference.py), reasons written on first read, and
a cache that follows the config objects it was compiled from."""

import copy
import dataclasses
import datetime as dt
import gc
import pickle
from collections import defaultdict
from types import MappingProxyType
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock_core import lifecycle
from interlock_core.clock import ManualClock
from interlock_core.config.models import Check, MatchMode, Pipeline, Rule, Validation
from interlock_core.engine import Interlock
from interlock_core.rule_compiler import cache_sizes, compile_lookup, compile_validation
from interlock_core.rule_values import MISSING, lookup
from interlock_core.rules import (
    Evaluation,
    RuleResult,
    evaluate_rule,
    evaluate_rule_list,
    evaluate_rules,
)
from interlock_core.sensors import Sensor
from interlock_core.storage import open_store
from tests.core import rules_reference as reference
from tests.core.test_rules_properties import VALUE_POOL
from tests.scenarios.harness import PipelineSetStub

SETTINGS = settings(max_examples=400, deadline=None)
NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
PLUS_5 = dt.timezone(dt.timedelta(hours=5))

# Timestamps around NOW, so age rules land on both sides of their thresholds, inside and
# beyond the 5-minute future tolerance, in every accepted shape.
INSTANTS: list[Any] = [
    NOW,
    NOW - dt.timedelta(hours=1),
    NOW + dt.timedelta(minutes=3),
    NOW + dt.timedelta(minutes=5),
    NOW + dt.timedelta(minutes=7),
    (NOW - dt.timedelta(hours=3)).astimezone(PLUS_5),
    dt.datetime(2026, 3, 4, 11),  # naive: UTC
    dt.date(2026, 3, 4),
    "2026-03-04T11:30:00Z",
    "2026-03-04T11:30:00+05:00",
    "2026-03-04T12:04:59",
    "2026-03-04 09:00",
    "20260304",
    "2026-03-04T11:30:00.123456789Z",
    "0001-01-01T00:00:00+05:00",  # overflows when moved to UTC
    NOW.timestamp(),
    int(NOW.timestamp()) - 7200,
    int(NOW.timestamp() * 1000) - 60_000,
    str(int(NOW.timestamp()) - 30),
    -1e300,
]
SCALARS = st.one_of(
    st.sampled_from(VALUE_POOL),
    st.sampled_from(INSTANTS),
    st.sampled_from(["eu", "us", "EU", "ready", "1000", "1e3", "true", "False", "2026-03-04"]),
    st.integers(min_value=-3, max_value=1001),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
)
NAMES = ["a", "b", "a.b", "c", "b.c", "", "x"]


def _mappings(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    plain = st.dictionaries(st.sampled_from(NAMES), children, max_size=3)
    return st.one_of(
        plain,
        plain.map(MappingProxyType),  # a Mapping that is not a dict
        plain.map(lambda d: defaultdict(int, d)),  # a dict subclass with __missing__
    )


VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), _mappings(children)),
    max_leaves=6,
)
FIELDS = st.one_of(
    st.none(),
    st.sampled_from(
        ["a", "b", "a.b", "a.b.c", "b.c", "b.a", ".", "a..b", "x", "", ".".join("a" * 10)]
    ),
)
DATA = st.one_of(_mappings(VALUES), VALUES)
WRITTEN_AT = st.sampled_from(
    [None, NOW, *[i for i in INSTANTS if isinstance(i, dt.datetime)], dt.datetime(1, 1, 1)]
)
ENTRIES = st.one_of(
    st.none(),
    DATA,
    st.builds(Sensor, key=st.just("s"), data=DATA, written_at=WRITTEN_AT, version=st.just(1)),
)
SENSORS = st.dictionaries(st.sampled_from(["s", "t", "u"]), ENTRIES, max_size=3)
DURATIONS = st.sampled_from(
    [
        *["2h", "0s", "-1h", "1d", "90s", "5m", "100000h", "1e400h", "99999999999h", "2 h", 7],
        dt.timedelta(minutes=30),
    ]
)
RULE_VALUES = st.one_of(
    SCALARS,
    DURATIONS,
    VALUES,
    st.lists(st.sampled_from(["eu", "us", "", "1000", "true"]), max_size=3),
    st.lists(SCALARS, max_size=3),
    st.lists(SCALARS, max_size=3).map(tuple),
)
CHECKS = st.one_of(
    st.sampled_from(list(Check)),
    st.sampled_from(["gte", "age_lt", "", "EQUALS", "regex"]),
)
RULES = st.builds(
    lambda key, check, field, value: Rule.model_construct(
        key=key, check=check, field=field, value=value
    ),
    key=st.sampled_from(["s", "t", "u", 'q"\\']),
    check=CHECKS,
    field=FIELDS,
    value=RULE_VALUES,
)
NOWS = st.sampled_from(
    [NOW, dt.datetime(2026, 3, 4, 12), NOW.astimezone(PLUS_5), dt.datetime(1, 1, 1, tzinfo=PLUS_5)]
)


def same(left: Any, right: Any) -> bool:
    return left is right or left == right


def assert_same_result(compiled: RuleResult, expected: Any) -> None:
    assert (compiled.key, compiled.check, compiled.field) == (
        expected.key,
        expected.check,
        expected.field,
    )
    assert (compiled.passed, compiled.reason) == (expected.passed, expected.reason)
    assert same(compiled.actual, expected.actual)


@SETTINGS
@given(
    rules=st.lists(RULES, max_size=4),
    mode=st.sampled_from(["ALL", "ANY", "x"]),
    sensors=SENSORS,
    now=NOWS,
)
def test_compiled_rules_give_the_interpreters_results_and_reasons(
    rules: list[Rule], mode: str, sensors: dict[str, Any], now: dt.datetime
) -> None:
    for rule in rules:
        assert_same_result(
            evaluate_rule(rule, sensors, now), reference.evaluate_rule(rule, sensors, now)
        )
    compiled = evaluate_rule_list(rules, mode, sensors, now)
    expected = reference.evaluate_rule_list(rules, mode, sensors, now)
    assert (compiled.passed, compiled.mode, compiled.summary()) == (
        expected.passed,
        expected.mode,
        expected.summary(),
    )
    for result, wanted in zip(compiled.results, expected.results, strict=True):
        assert_same_result(result, wanted)
    # Twice through the same compiled gate: nothing is left over from the first evaluation.
    validation = Validation.model_construct(trigger=cast(Any, mode), rules=rules)
    first = evaluate_rules(validation, sensors, now)
    again = evaluate_rules(validation, sensors, now)
    assert first == again
    assert [r.reason for r in again.results] == [r.reason for r in expected.results]


ALL_CHECKS: list[Any] = [*Check, "", "regex"]


@settings(max_examples=1000, deadline=None)
@given(
    actual=st.one_of(st.sampled_from([*VALUE_POOL, *INSTANTS]), VALUES),
    value=st.one_of(st.sampled_from([*VALUE_POOL, *INSTANTS]), RULE_VALUES),
    nested=st.booleans(),
    as_sensor=st.booleans(),
    written_at=WRITTEN_AT,
    now=NOWS,
)
def test_every_check_on_a_field_that_is_there_matches_the_interpreter(
    actual: Any,
    value: Any,
    nested: bool,
    as_sensor: bool,
    written_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    # Every example reaches the checks themselves (the test above mostly meets missing
    # sensors and fields): each check, with and without the field, on the same values.
    field, data = ("n.f", {"n": {"f": actual}}) if nested else ("f", {"f": actual})
    sensors = {"s": Sensor("s", data, written_at, 1) if as_sensor else data}
    for check in ALL_CHECKS:
        for rule_field in (field, None):
            rule = Rule.model_construct(key="s", check=check, field=rule_field, value=value)
            assert_same_result(
                evaluate_rule(rule, sensors, now), reference.evaluate_rule(rule, sensors, now)
            )


# Hand-picked values crossed exhaustively: the pairs random draws rarely meet (a date and its
# ISO text, a NaN on an order check, an age exactly at its limit, "null" and None).
EXTRA_VALUES: list[Any] = [
    "null",
    "eu",
    NOW.isoformat(),
    "2026-03-04T12:00:00",
    NOW - dt.timedelta(hours=1),
    NOW - dt.timedelta(hours=2),
    NOW - dt.timedelta(seconds=90),
    NOW - dt.timedelta(seconds=90, microseconds=1),
    NOW + dt.timedelta(minutes=5, microseconds=1),
    ["eu", "us"],
    ["1000", "true"],
    [1000, None],
    (True,),
    {"a": 1},
    {"a": [1, {"b": "x"}]},
    [[1]],
]
ACTUALS: list[Any] = [*VALUE_POOL, *INSTANTS, *EXTRA_VALUES]
RULE_VALUE_POOL: list[Any] = [
    *VALUE_POOL[:26],
    *INSTANTS[:8],
    *EXTRA_VALUES,
    *["1h", "0s", "90s", "2h", "5m", "x"],
    dt.timedelta(hours=1),
    dt.timedelta(0),
]
SHAPES = [
    lambda x: ("f", {"f": x}),
    lambda x: ("n.f", {"n": {"f": x}}),
    lambda x: ("n.f", {"n": MappingProxyType({"f": x})}),
    lambda x: ("n.f", MappingProxyType({"n.f": x})),
    lambda x: ("f", defaultdict(list, {"f": x})),
]
SENSOR_TIMES: list[Any] = [NOW, dt.datetime(2026, 3, 4, 11), None, NOW.astimezone(PLUS_5)]


def test_every_check_on_every_pair_of_pool_values_matches_the_interpreter() -> None:
    checked = 0
    for i, actual in enumerate(ACTUALS):
        for j, value in enumerate(RULE_VALUE_POOL):
            field, data = SHAPES[(i + j) % len(SHAPES)](actual)
            written_at = SENSOR_TIMES[(i * 7 + j) % len(SENSOR_TIMES)]
            now = [NOW, dt.datetime(2026, 3, 4, 12)][(i + j) % 2]
            sensors = {"s": Sensor("s", data, written_at, 1) if j % 3 else data}
            # Without a field only the value and the write time matter: a few actuals will do.
            fields = (field, None) if i % 8 == 0 else (field,)
            for check in ALL_CHECKS:
                for rule_field in fields:
                    rule = Rule.model_construct(key="s", check=check, field=rule_field, value=value)
                    assert_same_result(
                        evaluate_rule(rule, sensors, now),
                        reference.evaluate_rule(rule, sensors, now),
                    )
                    checked += 1
    assert checked > 50_000


@SETTINGS
@given(data=_mappings(VALUES), path=st.text(alphabet="ab.", max_size=7))
def test_compiled_field_paths_find_what_the_dotted_lookup_finds(data: Any, path: str) -> None:
    found = reference._lookup(data, path)
    expected = MISSING if found is reference._MISSING else found
    assert same(compile_lookup(path)(data), expected)
    assert same(lookup(data, path), expected)


def test_one_compiled_age_rule_follows_each_new_timestamp() -> None:
    # The rule keeps the last timestamp text it parsed: a new text must be parsed anew.
    rule = Rule(key="s", check=Check.AGE_LT, field="t", value="2h")
    for text in ["2026-03-04T11:00:00Z", "2026-03-04T08:00:00Z", "x", "2026-03-04T11:00:00Z"]:
        sensors = {"s": {"t": text}}
        assert_same_result(
            evaluate_rule(rule, sensors, NOW), reference.evaluate_rule(rule, sensors, NOW)
        )


def test_an_exact_key_wins_at_each_level_and_a_dead_end_split_tries_the_next() -> None:
    data = {"a.b": {"c": 1, "y": 5}, "a": {"b": {"x": 2}, "b.c": 3}}
    assert compile_lookup("a.b.c")(data) == 3  # splits go left to right: a, then "b.c"
    assert compile_lookup("a.b.x")(data) == 2
    assert compile_lookup("a.b.y")(data) == 5  # a -> b has no y: the split at "a.b" is next
    assert compile_lookup("a.b.c.d")(data) is MISSING
    assert compile_lookup("a.a.a.a.a.a.a.a.a.a")({"a": {"a": {"a.a.a.a.a.a.a.a": 4}}}) == 4


# --- reasons written on first read ------------------------------------------------------------


def compiled_failure() -> RuleResult:
    rule = Rule(key="rows", check=Check.GTE, field="count", value=1000)
    return evaluate_rule(rule, {"rows": {"count": 12}}, NOW)


def test_a_reason_is_written_when_first_read_and_then_kept() -> None:
    result = compiled_failure()
    assert "reason" not in vars(result)
    assert result.reason == "count is 12, needs >= 1000"
    assert vars(result)["reason"] is result.reason


def test_an_unread_reason_behaves_like_a_written_one() -> None:
    eager = RuleResult("rows", "gte", "count", False, "count is 12, needs >= 1000", 12)
    assert compiled_failure() == eager
    assert hash(compiled_failure()) == hash(eager)
    assert repr(compiled_failure()) == repr(eager)
    assert dataclasses.asdict(compiled_failure()) == dataclasses.asdict(eager)
    assert compiled_failure().to_document() == eager.to_document()
    assert dataclasses.replace(compiled_failure(), passed=True).reason == eager.reason
    assert pickle.loads(pickle.dumps(compiled_failure())) == eager
    assert copy.deepcopy(compiled_failure()) == eager


def test_gate_results_are_made_when_first_read_and_equal_eager_ones() -> None:
    six = Validation(
        rules=[
            Rule(key="rows", check=Check.GTE, field="count", value=1000),
            Rule(key="rows", check=Check.EXISTS),
            Rule(key="gone", check=Check.EXISTS, field="x"),
        ]
    )
    sensors = {"rows": {"count": 12}}
    evaluation = evaluate_rules(six, sensors, NOW)
    assert not evaluation.passed
    assert "results" not in vars(evaluation)
    expected = reference.evaluate_rules(six, sensors, NOW)
    eager = Evaluation(
        passed=False,
        results=[
            RuleResult(r.key, r.check, r.field, r.passed, r.reason, r.actual)
            for r in expected.results
        ],
        mode=MatchMode.ALL,
    )
    assert evaluation == eager
    assert evaluation.results is evaluation.results  # made once, then kept
    assert evaluation.summary() == expected.summary()
    lazy = evaluate_rules(six, sensors, NOW)
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert pickle.loads(pickle.dumps(evaluate_rules(six, sensors, NOW))) == eager
    assert repr(evaluate_rules(six, sensors, NOW)) == repr(eager)


def test_an_eager_result_still_needs_its_reason() -> None:
    with pytest.raises(TypeError, match="reason"):
        RuleResult("k", "exists", None, True)  # type: ignore[call-arg]


# --- the cache: per object, dropped with it ---------------------------------------------------


def validation(threshold: int) -> Validation:
    return Validation(rules=[Rule(key="rows", check=Check.GTE, field="count", value=threshold)])


def test_a_validation_compiles_once_and_an_equal_new_one_compiles_anew() -> None:
    first = validation(1000)
    assert compile_validation(first) is compile_validation(first)
    second = validation(1000)
    assert second == first
    assert compile_validation(second) is not compile_validation(first)


def test_a_changed_validation_is_a_new_object_with_new_results() -> None:
    sensors = {"rows": {"count": 500}}
    assert not evaluate_rules(validation(1000), sensors, NOW).passed
    assert evaluate_rules(validation(10), sensors, NOW).passed
    any_mode = Validation(trigger=MatchMode.ANY, rules=[*validation(1000).rules])
    assert not evaluate_rules(any_mode, sensors, NOW).passed


def test_cache_entries_go_when_their_config_goes() -> None:
    gc.collect()
    before = cache_sizes()
    validations = [validation(n) for n in range(50)]
    for each in validations:
        evaluate_rules(each, {"rows": {"count": 20}}, NOW)
        evaluate_rule(each.rules[0], {}, NOW)
    during = cache_sizes()
    assert during["validations"] >= before["validations"] + 50
    assert during["rules"] >= before["rules"] + 50
    del validations, each
    gc.collect()
    assert cache_sizes() == before


def test_equal_rules_share_one_compiled_rule_and_unequal_ones_do_not() -> None:
    def gate(value: Any) -> Any:
        rule = Rule.model_construct(key="s", check=Check.EQUALS, field="f", value=value)
        return compile_validation(Validation.model_construct(trigger="ALL", rules=[rule]))

    keep = [gate("ready"), gate("ready"), gate(1), gate(1.0), gate(True), gate(-0.0), gate(0.0)]
    assert keep[0] is not keep[1]  # a gate per validation object...
    assert keep[0].rules[0] is keep[1].rules[0]  # ...sharing the equal rule
    checks = [g.rules[0] for g in keep[2:]]
    assert len({id(check) for check in checks}) == len(checks)  # 1, 1.0, True, -0.0, 0.0
    reasons = [
        evaluate_rules(v, {"s": {"f": 2}}, NOW).results[0].reason
        for v in (
            Validation.model_construct(
                trigger="ALL",
                rules=[Rule.model_construct(key="s", check="equals", field="f", value=x)],
            )
            for x in (1, 1.0, True, -0.0, 0.0)
        )
    ]
    assert reasons == [
        "f is 2, expected 1",
        "f is 2, expected 1.0",
        "f is 2, expected true",
        "f is 2, expected -0.0",
        "f is 2, expected 0.0",
    ]


def test_the_engine_gate_follows_a_re_applied_config() -> None:
    engine = Interlock(open_store("memory://"), {}, ManualClock(NOW))

    def apply(threshold: int) -> None:
        document = {
            "pipeline": {"id": "orders"},
            "validation": {
                "rules": [{"key": "rows", "check": "gte", "field": "count", "value": threshold}]
            },
        }
        engine.apply(PipelineSetStub({"orders": Pipeline.model_validate(document)}, {}))

    apply(1000)
    engine.emit("orders", "rows", {"count": 500})
    assert not engine.evaluate("orders").ready
    assert not engine.evaluate("orders").ready
    apply(10)
    assert engine.evaluate("orders").ready
    apply(1000)
    readiness = engine.evaluate("orders")
    assert not readiness.ready
    assert readiness.evaluation.results[0].reason == "count is 500, needs >= 1000"


def test_the_trigger_condition_is_the_gates_first_rule() -> None:
    pipeline = Pipeline.model_validate(
        {
            "pipeline": {"id": "p"},
            "schedule": {"trigger": {"key": "go", "check": "equals", "field": "s", "value": "ok"}},
            "validation": {
                "trigger": "ANY",
                "rules": [
                    {"key": "go", "check": "equals", "field": "s", "value": "ok"},
                    {"key": "rows", "check": "gte", "field": "count", "value": 10},
                ],
            },
        }
    )
    for sensors in ({}, {"go": {"s": "ok"}}, {"rows": {"count": 11}}):
        compiled = lifecycle.evaluate_gate(pipeline, sensors, NOW)
        trigger, rules = lifecycle.gate_validation(pipeline)
        expected = reference.evaluate_rules(rules, sensors, NOW)
        assert trigger is not None
        first = reference.evaluate_rule(trigger, sensors, NOW)
        assert compiled.passed is (first.passed and expected.passed)
        assert compiled.mode == expected.mode
        for result, wanted in zip(compiled.results, [first, *expected.results], strict=True):
            assert_same_result(result, wanted)
    assert lifecycle.evaluate_gate(pipeline, {}, NOW).results[0].key == "go"


@pytest.mark.parametrize(
    ("check", "value", "found"),
    [
        ("equals", [1, 2], [1, 2]),
        ("neq", {"x": 1}, {"x": 2}),
        ("exists", None, [1]),
        ("in", [[1]], [1]),
        ("gte", 1, [5]),
        ("age_lt", "1h", {"at": "x"}),
    ],
)
def test_a_reason_read_later_describes_the_value_seen_when_the_rule_ran(
    check: str, value: Any, found: Any
) -> None:
    # Reasons are written when first read, but about the value the rule judged: a caller
    # that changes its sensor data after evaluating (a reused dict) must read what the
    # interpreter wrote at evaluation time, not the changed data.
    rule: dict[str, Any] = {"key": "a", "check": check, "field": "f"}
    if value is not None:
        rule["value"] = value
    validation = Validation.model_validate({"rules": [rule]})
    data: dict[str, Any] = {"f": copy.deepcopy(found)}
    evaluation = evaluate_rules(validation, {"a": data}, NOW)
    expected = reference.evaluate_rules(validation, {"a": copy.deepcopy(data)}, NOW)
    if isinstance(data["f"], list):
        data["f"].append(99)
    else:
        data["f"]["x"] = 42
    assert [r.reason for r in evaluation.results] == [r.reason for r in expected.results]
    assert evaluation.passed == expected.passed
