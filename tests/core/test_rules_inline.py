"""Gates written as one function (interlock_core/rule_inline.py): every rule checked inline
gives the results and reasons of the interpreter (tests/core/rules_reference.py), through the
inline path where the values allow it and the rules' closures where they do not."""

import copy
import datetime as dt
import gc
import pickle
from collections import defaultdict
from types import MappingProxyType
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock_core import lifecycle, rule_compiler, rule_inline
from interlock_core.config.models import MatchMode, Pipeline, Rule, Validation
from interlock_core.rule_compiler import (
    CompiledGate,
    cache_sizes,
    compile_rule_shared,
    compile_validation,
)
from interlock_core.rule_inline import _factory, _source
from interlock_core.rules import Evaluation, RuleResult, evaluate_rules
from interlock_core.sensors import Sensor
from tests.core import rules_reference as reference
from tests.core.test_rules_compiled import (
    ACTUALS,
    ALL_CHECKS,
    NOW,
    NOWS,
    PLUS_5,
    RULE_VALUE_POOL,
    RULES,
    SENSORS,
    assert_same_result,
)


@pytest.fixture(autouse=True)
def _gates_write_their_function_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a gate function does, from the first evaluation on (how a gate comes to write it:
    # tests/core/test_rules_gate_writing.py).
    monkeypatch.setattr(rule_compiler, "EVALUATIONS_BEFORE_WRITING", 0)


THE_GATE = [
    {"key": "upstream", "check": "equals", "field": "status", "value": "ready"},
    {"key": "rows", "check": "gte", "field": "count", "value": 1000},
    {"key": "rows", "check": "lt", "field": "errors", "value": 5},
    {"key": "fresh", "check": "age_lt", "field": "updatedAt", "value": "2h"},
    {"key": "stats", "check": "exists", "field": "a.b"},
    {"key": "region", "check": "in", "field": "name", "value": ["eu", "us"]},
]


def the_sensors() -> dict[str, Any]:
    return {
        "upstream": Sensor("upstream", {"status": "ready"}, NOW, 1),
        "rows": {"count": 5000, "errors": 0},
        "fresh": {"updatedAt": "2026-03-04T11:30:00Z"},
        "stats": {"a": {"b": 1}},
        "region": {"name": "eu"},
    }


def validation_of(rules: list[dict[str, Any]], mode: Any = "ALL") -> Validation:
    """Rules as given, unchecked by the config model (the gate must cope with any)."""
    return Validation.model_construct(
        trigger=mode, rules=[Rule.model_construct(**{"field": None, **rule}) for rule in rules]
    )


def kept(evaluation: Evaluation) -> tuple[Any, ...]:
    """What the gate kept per rule: a value found (inline) or an ``Outcome`` (a closure)."""
    _, _, values = vars(evaluation)["_outcomes"]
    return tuple(values)


def assert_like_reference(
    validation: Validation, sensors: Any, now: dt.datetime
) -> tuple[Evaluation, reference.Evaluation]:
    evaluation = evaluate_rules(validation, sensors, now)
    expected = reference.evaluate_rules(validation, sensors, now)
    assert (evaluation.passed, evaluation.mode) == (expected.passed, expected.mode)
    for result, wanted in zip(evaluation.results, expected.results, strict=True):
        assert_same_result(result, wanted)
    assert evaluation.summary() == expected.summary()
    return evaluation, expected


def test_the_usual_gate_is_one_function_that_keeps_the_values_it_found() -> None:
    validation = validation_of(THE_GATE)
    gate = compile_validation(validation)
    assert gate.evaluate.__code__.co_filename == "<interlock gate>"
    evaluation, _ = assert_like_reference(validation, the_sensors(), NOW)
    # Every rule went inline: no Outcome tuple, only what each rule looked at.
    assert kept(evaluate_rules(validation, the_sensors(), NOW)) == (
        "ready",
        5000,
        0,
        "2026-03-04T11:30:00Z",
        1,
        "eu",
    )
    assert evaluation.passed is True
    assert [r.reason for r in evaluation.results] == [
        'status is "ready"',
        "count is 5000 (>= 1000)",
        "errors is 0 (< 5)",
        "updatedAt is 30m0s old (< 2h0m0s)",
        "a.b is 1",
        'name is "eu" (in ["eu", "us"])',
    ]


def test_a_failing_usual_gate_reads_the_same_as_the_interpreter() -> None:
    sensors = the_sensors()
    sensors["rows"] = {"count": 12.5, "errors": 7}
    sensors["fresh"] = {"updatedAt": "2026-03-04T08:00:00Z"}
    sensors["region"] = {"name": "apac"}
    del sensors["stats"]
    evaluation, _ = assert_like_reference(validation_of(THE_GATE), sensors, NOW)
    assert not evaluation.passed
    assert [type(value) is tuple for value in kept(evaluation)] == [
        False,  # found inline, failing or not
        False,
        False,
        False,
        True,  # sensor missing: the rule's closure said so
        False,
    ]


# One rule per test a gate function has, with values its guard admits (inline) and values it
# does not (the rule's closure): (rule, inline values, other values).
SPECIALISATIONS: list[tuple[dict[str, Any], list[Any], list[Any]]] = [
    (
        {"check": "equals", "value": "ready"},
        ["ready", "READY", ""],
        [None, 1, ["ready"], dt.date(2026, 3, 4)],
    ),
    ({"check": "neq", "value": "ready"}, ["ready", "x"], [True, {"a": 1}]),
    ({"check": "equals", "value": 1000}, [1000, 1000.0, 999, float("nan")], ["1000", True]),
    ({"check": "neq", "value": 1.5}, [1.5, 2, float("inf")], ["1.5", None]),
    ({"check": "equals", "value": True}, [True, False], ["true", 1, None]),
    ({"check": "neq", "value": False}, [True, False], ["false", 0]),
    ({"check": "equals", "value": None}, [None, "null", 0, False], [[None], {}]),
    ({"check": "neq", "value": None}, [None, "x", 1.0], [[], (1,)]),
    ({"check": "in", "value": ["eu", "us"]}, ["eu", "us", "EU", ""], [None, 1, ["eu"]]),
    ({"check": "in", "value": []}, ["eu"], [None]),
    ({"check": "gt", "value": 10}, [11, 10, 10.5, -1e308], ["11", True, float("nan"), None]),
    ({"check": "gte", "value": "1e3"}, [1000, 999.9, 10**400], ["1000", float("inf")]),
    ({"check": "lt", "value": 0.5}, [0, 0.5, -(10**30)], [float("-inf"), "0"]),
    ({"check": "lte", "value": -3}, [-3, -2, -3.0], [[1], {"x": 1}]),
    ({"check": "exists"}, ["", 0, 0.0, False, "x"], [None, [], {"a": None}, (1,)]),
    (
        {"check": "age_lt", "value": "1h"},
        [
            "2026-03-04T11:30:00Z",
            "2026-03-04T10:00:00Z",
            "2026-03-04T12:04:00Z",  # within the future tolerance: "just now"
            "2026-03-04T12:10:00Z",  # beyond it
            "2026-03-04T11:00:00Z",  # exactly the limit
            "x",
            "1772622000",
            "0001-01-01T00:00:00+05:00",  # overflows moving to UTC: the closure decides
        ],
        [1772622000, NOW, None, ["2026-03-04"]],
    ),
    (
        {"check": "age_gt", "value": "90s"},
        ["2026-03-04T11:58:30Z", "2026-03-04T11:58:31Z", "2026-03-04", "not a time"],
        [1.5e12, dt.date(2026, 3, 4)],
    ),
]


def test_every_inline_test_has_its_specialisation_case() -> None:
    tests = set()
    for rule, _, _ in SPECIALISATIONS:
        plan = compile_validation(validation_of([{"key": "s", "field": "f", **rule}])).rules[0].plan
        assert plan is not None
        tests.add(plan.test)
    assert tests == set(rule_inline._TESTS) | rule_inline.AGE_TESTS


@pytest.mark.parametrize(("rule", "inline", "other"), SPECIALISATIONS)
@pytest.mark.parametrize("dotted", [False, True])
def test_each_specialisation_matches_the_interpreter_inline_and_through_its_closure(
    rule: dict[str, Any], inline: list[Any], other: list[Any], dotted: bool
) -> None:
    field = "n.f" if dotted else "f"
    validation = validation_of([{"key": "s", "field": field, **rule}])
    assert compile_validation(validation).rules[0].plan is not None
    for value, admitted in [*((v, True) for v in inline), *((v, False) for v in other)]:
        data = {"n": {"f": value}} if dotted else {"f": value}
        # A text whose instant overflows moving to UTC raises inline: the closure decides.
        expect_inline = admitted and not (isinstance(value, str) and value.startswith("0001"))
        for now in (NOW, dt.datetime(2026, 3, 4, 12), NOW.astimezone(PLUS_5)):
            for sensors in ({"s": data}, {"s": Sensor("s", data, NOW, 1)}):
                assert_like_reference(validation, sensors, now)
                (found,) = kept(evaluate_rules(validation, sensors, now))
                assert (type(found) is not tuple) is expect_inline, (value, found)


def test_rules_on_a_sensor_alone_are_decided_inline_by_the_sensor_being_there() -> None:
    validation = validation_of(
        [
            {"key": "s", "check": "exists"},
            {"key": "s", "check": "gte", "field": "n", "value": 1},
            {"key": "t", "check": "gte", "value": 1},  # needs a field: always fails
            {"key": "t", "check": "age_lt", "value": "x"},  # not a duration: always fails
            {"key": "s", "check": "age_lt", "value": "1h"},  # the write time: a closure
        ],
        "ANY",
    )
    plans = [rule.plan for rule in compile_validation(validation).rules]
    assert [None if plan is None else plan.test for plan in plans] == [
        "sensor",
        "gte",
        "sensor",
        "sensor",
        None,
    ]
    for sensors in (
        {},
        {"s": {"n": 2}},
        {"s": None, "t": {}},
        {"s": Sensor("s", {"n": 0}, NOW - dt.timedelta(hours=2), 1), "t": {}},
    ):
        assert_like_reference(validation, sensors, NOW)


def test_rules_without_a_plan_run_their_closures_inside_the_gate_function() -> None:
    validation = validation_of(
        [
            {"key": "s", "check": "equals", "field": "f", "value": [1, 2]},
            {"key": "s", "check": "in", "field": "f", "value": [1, "a"]},
            {"key": "s", "check": "gte", "field": "f", "value": "many"},
            {"key": "s", "check": "age_lt", "field": "f", "value": "soon"},
            {"key": "s", "check": "equals", "field": "f", "value": "x"},
        ]
    )
    plans = [rule.plan for rule in compile_validation(validation).rules]
    assert [plan is None for plan in plans] == [True, True, True, True, False]
    for value in ([1, 2], 1, "a", "x", None):
        assert_like_reference(validation, {"s": {"f": value}}, NOW)


def test_sensors_that_are_not_a_dict_go_through_the_closures() -> None:
    validation = validation_of(THE_GATE)
    for sensors in (
        MappingProxyType(the_sensors()),
        defaultdict(dict, the_sensors()),
        {**the_sensors(), "rows": MappingProxyType({"count": 5000, "errors": 0})},
        {**the_sensors(), "rows": defaultdict(int, {"count": 5000, "errors": 0})},
    ):
        evaluation, _ = assert_like_reference(validation, sensors, NOW)
        assert evaluation.passed


class _Collides(str):
    """A key whose hash equals a field name's and whose comparison raises."""

    def __hash__(self) -> int:
        return hash("count")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing me")


def test_anything_raising_inline_makes_the_whole_gate_use_the_closures() -> None:
    validation = validation_of(THE_GATE)
    sensors = the_sensors()
    sensors["rows"] = {_Collides("x"): 1, "errors": 0}
    evaluation, _ = assert_like_reference(validation, sensors, NOW)
    assert evaluation.results[1].reason == "could not evaluate rule (RuntimeError)"
    assert all(type(found) is tuple for found in kept(evaluation))
    # A ``now`` the age rule cannot use fails that rule, not the call.
    odd_now = cast(dt.datetime, "noon")
    evaluation = evaluate_rules(validation, the_sensors(), odd_now)
    expected = reference.evaluate_rules(validation, the_sensors(), odd_now)
    assert [(r.passed, r.reason) for r in evaluation.results] == [
        (r.passed, r.reason) for r in expected.results
    ]
    assert not evaluation.passed


def test_a_value_found_inline_is_kept_though_the_callers_data_changes_later() -> None:
    validation = validation_of(THE_GATE)
    sensors = the_sensors()
    evaluation = evaluate_rules(validation, sensors, NOW)
    sensors["rows"]["count"] = 3
    sensors["fresh"]["updatedAt"] = "x"
    sensors["region"]["name"] = ["eu"]
    del sensors["stats"]["a"]
    assert evaluation.passed
    assert [r.actual for r in evaluation.results] == [
        "ready",
        5000,
        0,
        "2026-03-04T11:30:00Z",
        1,
        "eu",
    ]
    assert all(r.passed for r in evaluation.results)


def test_an_inline_age_rule_parses_each_new_timestamp_text() -> None:
    # The gate keeps the last text it parsed per rule, shared by every gate using the rule.
    rule = {"key": "s", "check": "age_lt", "field": "t", "value": "2h"}
    first, second = validation_of([rule]), validation_of([rule, {"key": "s", "check": "exists"}])
    assert compile_validation(first).rules[0] is compile_validation(second).rules[0]
    texts = ["2026-03-04T11:00:00Z", "2026-03-04T08:00:00Z", "x", "2026-03-04T11:00:00Z"]
    for text in texts:
        for validation in (first, second):
            evaluation, _ = assert_like_reference(validation, {"s": {"t": text}}, NOW)
            assert evaluation.results[0].passed is (text == "2026-03-04T11:00:00Z")


def test_gates_of_one_shape_share_compiled_code_but_not_their_values() -> None:
    def gate(threshold: int, name: str) -> Validation:
        return validation_of(
            [
                {"key": "rows", "check": "gte", "field": "count", "value": threshold},
                {"key": "region", "check": "equals", "field": "name", "value": name},
            ]
        )

    low, high = gate(10, "eu"), gate(10_000, "us")
    low_gate, high_gate = compile_validation(low), compile_validation(high)
    assert low_gate.evaluate.__code__ is high_gate.evaluate.__code__
    sensors = {"rows": {"count": 500}, "region": {"name": "eu"}}
    assert evaluate_rules(low, sensors, NOW).passed
    high_results = evaluate_rules(high, sensors, NOW)
    assert not high_results.passed
    assert [r.reason for r in high_results.results] == [
        "count is 500, needs >= 10000",
        'name is "eu", expected "us"',
    ]
    # A different shape (another test on the second rule) is its own code.
    other = validation_of(
        [
            {"key": "rows", "check": "gte", "field": "count", "value": 10},
            {"key": "region", "check": "in", "field": "name", "value": ["eu"]},
        ]
    )
    assert compile_validation(other).evaluate.__code__ is not low_gate.evaluate.__code__


def test_gates_of_the_same_rules_share_one_function_while_one_of_them_lives() -> None:
    gc.collect()
    before = cache_sizes()["gate_functions"]
    first, second = validation_of(THE_GATE), validation_of(THE_GATE)
    assert compile_validation(first) is not compile_validation(second)
    assert compile_validation(first).evaluate is compile_validation(second).evaluate
    any_mode = validation_of(THE_GATE, "ANY")
    assert compile_validation(any_mode).evaluate is not compile_validation(first).evaluate
    assert cache_sizes()["gate_functions"] == before + 2
    for validation in (first, second):
        assert_like_reference(validation, the_sensors(), NOW)
    del first
    gc.collect()
    assert cache_sizes()["gate_functions"] == before + 2  # the second gate still uses it
    del second, any_mode, validation
    gc.collect()
    assert cache_sizes()["gate_functions"] == before


def test_gates_still_work_once_their_shape_left_the_compiled_code_cache() -> None:
    validation = validation_of(THE_GATE)
    compile_validation(validation)
    _factory.cache_clear()
    assert_like_reference(validation, the_sensors(), NOW)  # its function kept its code
    again = validation_of([*THE_GATE, {"key": "rows", "check": "exists"}])
    assert_like_reference(again, the_sensors(), NOW)  # compiled anew
    assert _factory.cache_info().currsize == 1


HOSTILE = ['"', "'", "\\", "\n", "'); import os; ('", "{x}", '"""', "k0", "#"]


def test_no_rule_value_is_ever_part_of_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [
        {"key": text, "check": check, "field": field, "value": value}
        for text in HOSTILE
        for check, field, value in (
            ("equals", text, text),
            ("in", f"{text}.{text}", [text]),
            ("gte", text, 1),
        )
    ]
    validation = validation_of(rules, "ANY")
    shapes: list[Any] = []

    def spying(shape: Any) -> Any:
        shapes.append(shape)
        return _factory(shape)

    monkeypatch.setattr(rule_inline, "_factory", spying)
    compiled = CompiledGate([compile_rule_shared(rule) for rule in validation.rules], "ANY")
    (shape,) = shapes
    source, _ = _source(shape)
    for text in ("'); import os; ('", "{x}", '"""'):
        assert text not in source
    sensors = {text: {text: text, f"{text}.{text}": text} for text in HOSTILE}
    evaluation = compiled.evaluate(sensors, NOW)
    expected = reference.evaluate_rule_list(validation.rules, "ANY", sensors, NOW)
    assert evaluation.passed and expected.passed
    for result, wanted in zip(evaluation.results, expected.results, strict=True):
        assert_same_result(result, wanted)
    assert all(r.passed for r in evaluation.results[::3])


def test_a_gate_function_keeps_a_trigger_first_in_both_modes() -> None:
    for mode in ("ALL", "ANY"):
        pipeline = Pipeline.model_validate(
            {
                "pipeline": {"id": "p"},
                "schedule": {
                    "trigger": {"key": "go", "check": "equals", "field": "s", "value": "ok"}
                },
                "validation": {
                    "trigger": mode,
                    "rules": [
                        {"key": "rows", "check": "gte", "field": "count", "value": 10},
                        {"key": "go", "check": "exists", "field": "s"},
                    ],
                },
            }
        )
        trigger, rules = lifecycle.gate_validation(pipeline)
        assert trigger is not None
        for sensors in (
            {},
            {"go": {"s": "ok"}},
            {"go": {"s": "no"}, "rows": {"count": 11}},
            {"go": {"s": "ok"}, "rows": {"count": 11}},
            {"go": {"s": "ok"}, "rows": {"count": 1}},
        ):
            compiled = lifecycle.evaluate_gate(pipeline, sensors, NOW)
            first = reference.evaluate_rule(trigger, sensors, NOW)
            expected = reference.evaluate_rules(rules, sensors, NOW)
            assert compiled.passed is (first.passed and expected.passed)
            for result, wanted in zip(compiled.results, [first, *expected.results], strict=True):
                assert_same_result(result, wanted)


def test_empty_and_large_gates() -> None:
    assert evaluate_rules(validation_of([]), {}, NOW).passed is True
    assert evaluate_rules(validation_of([], "ANY"), {}, NOW).passed is False
    many = [{**THE_GATE[i % 6], "key": f"{THE_GATE[i % 6]['key']}{i % 7}"} for i in range(300)]
    sensors = {f"{key}{i}": data for key, data in the_sensors().items() for i in range(7)}
    evaluation, _ = assert_like_reference(validation_of(many), sensors, NOW)
    assert evaluation.passed
    del sensors["rows3"]
    evaluation, _ = assert_like_reference(validation_of(many, "ANY"), sensors, NOW)
    assert evaluation.passed and evaluation.failed
    assert all(r.key == "rows3" for r in evaluation.failed)


def test_an_inline_evaluation_pickles_and_copies_as_an_eager_one() -> None:
    validation = validation_of(THE_GATE)
    expected = reference.evaluate_rules(validation, the_sensors(), NOW)
    eager = Evaluation(
        passed=True,
        results=[
            RuleResult(r.key, r.check, r.field, r.passed, r.reason, r.actual)
            for r in expected.results
        ],
        mode=MatchMode.ALL,
    )
    evaluation = evaluate_rules(validation, the_sensors(), NOW)
    assert "results" not in vars(evaluation)
    assert pickle.loads(pickle.dumps(evaluate_rules(validation, the_sensors(), NOW))) == eager
    assert copy.deepcopy(evaluate_rules(validation, the_sensors(), NOW)) == eager
    assert copy.copy(evaluate_rules(validation, the_sensors(), NOW)) == eager
    assert evaluation == eager
    assert pickle.loads(pickle.dumps(eager)) == eager


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(RULES, max_size=8),
    mode=st.sampled_from(["ALL", "ANY", "x"]),
    sensors=SENSORS,
    now=NOWS,
)
def test_gate_functions_give_the_interpreters_evaluations(
    rules: list[Rule], mode: str, sensors: dict[str, Any], now: dt.datetime
) -> None:
    validation = Validation.model_construct(trigger=cast(Any, mode), rules=rules)
    assert_like_reference(validation, sensors, now)
    assert_like_reference(validation, sensors, now)  # nothing left over from the first


def test_every_check_and_pool_value_through_gate_functions_matches_the_interpreter() -> None:
    # The exhaustive cross of test_rules_compiled, through gates: one gate per rule value,
    # holding every check on a plain and a dotted field of one sensor, over every actual.
    checked = 0
    for j, value in enumerate(RULE_VALUE_POOL):
        rules = [
            Rule.model_construct(key="s", check=check, field=field, value=value)
            for check in ALL_CHECKS
            for field in ("f", "n.f")
        ]
        mode = ("ALL", "ANY")[j % 2]
        validation = Validation.model_construct(trigger=cast(Any, mode), rules=rules)
        for i, actual in enumerate(ACTUALS):
            data = {"f": actual, "n": {"f": actual}}
            now = [NOW, dt.datetime(2026, 3, 4, 12)][(i + j) % 2]
            sensors = {"s": Sensor("s", data, NOW, 1) if (i + j) % 3 else data}
            assert_like_reference(validation, sensors, now)
            checked += len(rules)
    assert checked > 50_000


class _Text(str):
    pass


class _Number(float):
    pass


BERLIN = ZoneInfo("Europe/Berlin")
# Values where Python's own rules differ from the checks' (True == 1, -0.0 == 0, NaN, ints
# beyond floats, subclasses of the exact types a test is specialised for), and instants where
# the local clock jumps or repeats.
EDGE_VALUES: list[Any] = [
    *(True, False, 1, 0, -0.0, 1.0, float("nan"), float("inf"), 10**400, 2**53 + 1),
    *(float(2**53), "1", "true", "", "ready", _Text("ready"), _Number(1.0), None),
    *("2026-03-29T01:30:00Z", "2026-03-29T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),
    *("2026-03-29T00:59:59.999999+00:00", "2026-03-29T01:00:00", "bogus", "2026-02-30"),
]
EDGE_NOWS = [
    dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),  # just after the spring jump
    dt.datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN),  # the repeated hour, twice
    dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN),
    dt.datetime(2026, 3, 29, 1, 30),  # naive: UTC
]


def test_edge_values_and_local_clocks_give_the_interpreters_evaluations() -> None:
    rule_values: list[Any] = [*EDGE_VALUES, ["ready", "1"], [_Text("ready")], "1h", "2h"]
    checks = ["equals", "neq", "in", "gt", "gte", "lt", "lte", "exists", "age_lt", "age_gt"]
    for j, value in enumerate(rule_values):
        rules = [{"key": "s", "check": check, "field": "f", "value": value} for check in checks]
        validation = validation_of(rules, ("ALL", "ANY")[j % 2])
        for actual in EDGE_VALUES:
            for now in EDGE_NOWS:
                assert_like_reference(validation, {"s": {"f": actual}}, now)
