"""When a compiled gate writes its own function (interlock_core/rule_compiler.py,
``EVALUATIONS_BEFORE_WRITING``): not when it is made, unless a live gate of the same rules has
one; after enough evaluations through its rules' closures, which give the interpreter's
results all along (tests/core/rules_reference.py)."""

import datetime as dt
import gc
import threading
import weakref
from typing import Any

import pytest

from interlock_core import rule_compiler
from interlock_core.config.models import MatchMode
from interlock_core.rule_compiler import (
    CompiledGate,
    cache_sizes,
    compile_rule_shared,
    compile_validation,
)
from interlock_core.rule_inline import _factory
from interlock_core.rules import evaluate_rules
from tests.core.test_rules_inline import THE_GATE, assert_like_reference, the_sensors, validation_of

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
TESTS = [
    {"check": "equals", "field": "status", "value": "ready"},
    {"check": "gte", "field": "count", "value": 1000},
    {"check": "age_lt", "field": "updatedAt", "value": "2h"},
    {"check": "in", "field": "name", "value": ["eu", "us"]},
]


def written(gate: Any) -> bool:
    return bool(getattr(gate.evaluate, "__code__", None)) and (
        gate.evaluate.__code__.co_filename == "<interlock gate>"
    )


@pytest.fixture
def after_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_compiler, "EVALUATIONS_BEFORE_WRITING", 3)


def test_loading_gates_of_many_shapes_compiles_none_of_them() -> None:
    # Each gate its own shape (which test each rule uses, in which order): written at once,
    # 10 000 such configs took 6 s to load, 0.05 s through the closures.
    compiled_before = _factory.cache_info().misses
    validations = [
        validation_of(
            [
                {"key": f"s{i}-{j}", **TESTS[(i >> (2 * j)) % 4]}
                for j in range(2 + i // 64)  # 2..6 rules: 4**2 + ... + 4**6 shapes
            ]
        )
        for i in range(300)
    ]
    gates = [compile_validation(validation) for validation in validations]
    assert not any(written(gate) for gate in gates)
    for validation in validations[:20]:
        assert_like_reference(validation, the_sensors(), NOW)
    assert _factory.cache_info().misses == compiled_before


def test_a_gate_writes_its_function_once_evaluated_often_enough(after_three: None) -> None:
    validation = validation_of(THE_GATE, "ANY")
    gate = compile_validation(validation)
    sensors = [the_sensors(), {}, {**the_sensors(), "rows": {"count": 3, "errors": "x"}}]
    for evaluation in range(2):
        assert_like_reference(validation, sensors[evaluation], NOW)
        assert not written(gate)
    assert_like_reference(validation, sensors[2], NOW)  # the third: written, and used
    assert written(gate)
    function = gate.evaluate
    for data in sensors:
        assert_like_reference(validation, data, NOW)
    assert gate.evaluate is function
    # A gate of the same rules made while that function lives uses it at once.
    again = validation_of(THE_GATE, "ANY")
    assert compile_validation(again).evaluate is function


def test_an_evaluate_kept_from_before_the_gate_wrote_its_function_still_answers(
    after_three: None,
) -> None:
    validation = validation_of(THE_GATE)
    gate = compile_validation(validation)
    early = gate.evaluate
    for _ in range(3):
        early(the_sensors(), NOW)
    assert written(gate) and gate.evaluate is not early
    evaluation = early({}, NOW)
    assert not evaluation.passed
    assert evaluation.results == evaluate_rules(validation, {}, NOW).results


def test_a_gate_gone_before_its_function_was_written_holds_nothing(after_three: None) -> None:
    gc.collect()
    functions_before = cache_sizes()["gate_functions"]
    rules = [compile_rule_shared(rule) for rule in validation_of(THE_GATE).rules]
    gate = CompiledGate(rules, MatchMode.ALL)
    early = gate.evaluate
    gone = weakref.ref(gate)
    del gate
    assert gone() is None  # no cycle through its ``evaluate``: freed without a collection
    for _ in range(4):  # with no gate to write it into, it is written and used all the same
        assert early(the_sensors(), NOW).passed
    assert cache_sizes()["gate_functions"] == functions_before  # and not kept for no gate


def test_threads_counting_down_together_write_one_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rule_compiler, "EVALUATIONS_BEFORE_WRITING", 40)
    validation = validation_of(THE_GATE)
    gate = compile_validation(validation)
    functions_before = cache_sizes()["gate_functions"]
    start = threading.Barrier(4)
    wrong: list[Any] = []

    def evaluate() -> None:
        start.wait(timeout=10)
        for _ in range(30):
            evaluation = gate.evaluate(the_sensors(), NOW)
            if not evaluation.passed or len(evaluation.results) != len(THE_GATE):
                wrong.append(evaluation)

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not wrong
    assert written(gate)
    assert cache_sizes()["gate_functions"] == functions_before + 1
    assert_like_reference(validation, the_sensors(), NOW)
