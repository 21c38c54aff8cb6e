"""One specialised Python function per compiled gate (DESIGN.md §3).

A compiled gate (``rule_compiler.CompiledGate``) can check its rules through one closure per
rule, each giving an ``Outcome`` tuple. That costs two calls and a tuple per rule, more than
the checks themselves. This module writes, for a gate evaluated often enough to repay it
(``rule_compiler.EVALUATIONS_BEFORE_WRITING``), a single function that does every
rule's sensor lookup and check inline, for the values sensors nearly always hold: a plain
dict of data and a field of the exact type the rule's check is specialised for (text for
``equals "ready"`` and ``in [...]``, an int or finite float for ``gte 1000``, a timestamp text
for ``age_lt "2h"``). It keeps only the value each rule found; the rule's ``Outcome`` (and
from it the result and reason) is made from that value when someone first reads
``Evaluation.results`` (``rule_results``). Such values are immutable scalars, so the outcome
made later is the one the rule would have made then. Any other value (a missing sensor or
field, a list, a map, a date, a ``Mapping`` that is not a dict) goes through the rule's own
closure, as before; so does the whole gate when ``sensors`` is not a dict or anything inline
raises (the closures never raise and are the reference: same results, reasons, edge cases).

**No user text in code.** The function's source is built only from fixed templates and
generated names (``k0``, ``v3``); every key, field, threshold and outcome is a constant
object the function holds (one tuple, unpacked into locals per call). The source therefore
depends only on the gate's *shape* (which test each rule uses, which rules share a sensor,
the match mode, a trigger), and its compiled code is cached per shape (least recently used,
at most ``_SHAPES_KEPT`` shapes; a pure function of its key, so nothing ever invalidates
it): 10 000 configs of the same shape compile it once and each binds its own constants.
(Gates of the very same compiled rules share one function: ``rule_compiler``.)

Costs on a 2-core Xeon (bench/bench_rules.py, ``gate_function_us``): compiling a new shape
about 0.5 ms for 6 rules, 3 ms for 50; binding a gate of a known shape about 7 µs for 6
rules, 23 µs for 50. A gate of 6 rules of its own holds about 1 KB more than the closures
alone (tracemalloc), nothing more when its function is shared.
"""

import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from interlock_core.config.models import MatchMode
from interlock_core.rule_results import Evaluation, Judge, Outcome, RuleNames, evaluation_of
from interlock_core.rule_values import FUTURE_TOLERANCE, MISSING, as_instant, utc
from interlock_core.sensors import Sensor

OutcomeOf = Callable[[Mapping[str, Any], dt.datetime], Outcome]
"""A compiled rule's check: ``(sensors, now) -> Outcome``; never raises on sensor content."""

GateFunction = Callable[[Mapping[str, Any], dt.datetime], Evaluation]
"""``(sensors, now) -> Evaluation``: what ``CompiledGate.evaluate`` is."""

# Which values a test handles inline (``a`` is the value found), and its verdict on them. A
# verdict must equal ``judge(a, now)[0]`` for every value its guard admits.
_GUARDS = {
    "text": "type(a) is str",
    "number": "((t := type(a)) is int or t is float)",
    "finite": "((t := type(a)) is int or (t is float and isfinite(a)))",
    "bool": "type(a) is bool",
    "scalar": "type(a) in SCALARS",
    "scalar_or_null": "type(a) in SCALARS_OR_NULL",
}
_TESTS = {
    "eq_text": ("text", "a == v{i}"),
    "ne_text": ("text", "not (a == v{i})"),
    "eq_number": ("number", "a == v{i}"),
    "ne_number": ("number", "not (a == v{i})"),
    "eq_bool": ("bool", "a is v{i}"),
    "ne_bool": ("bool", "a is not v{i}"),
    "eq_null": ("scalar_or_null", "a is None"),
    "ne_null": ("scalar_or_null", "a is not None"),
    "in_text": ("text", "a in v{i}"),
    "gt": ("finite", "a > v{i}"),
    "gte": ("finite", "a >= v{i}"),
    "lt": ("finite", "a < v{i}"),
    "lte": ("finite", "a <= v{i}"),
    "exists": ("scalar", "True"),
}
AGE_TESTS = frozenset({"age_lt", "age_gt"})
SENSOR_TEST = "sensor"
"""A rule without a field whose outcome depends only on whether its sensor is there."""

_SCALARS = frozenset({str, int, float, bool})
_SHAPES_KEPT = 256


class InlinePlan(NamedTuple):
    """How a gate function checks one rule inline (made by ``rule_compiler``).

    Attributes:
        test: a key of ``_TESTS``, ``"age_lt"``/``"age_gt"``, or ``SENSOR_TEST``.
        key: the sensor key.
        field: the field (plain or dotted); None for ``SENSOR_TEST``.
        find: the compiled dotted lookup of ``field``, or None for a plain field.
        value: the test's constant: the compared value; ``(limit, last)`` for an age test
            (``last`` a one-item list holding the last ``(text, instant)`` parsed); for
            ``SENSOR_TEST`` the ``(found, not_found)`` outcomes.
        judge: the rule's check of a value found, run on the kept value when the results
            are read (None for ``SENSOR_TEST``, which keeps its outcome).
    """

    test: str
    key: str
    field: str | None
    find: Callable[[Mapping[str, Any]], Any] | None
    value: Any
    judge: Judge | None


def age_plan(
    test: str, key: str, field: str, find: Any, limit: dt.timedelta, judge: Judge
) -> InlinePlan:
    """The plan of an ``age_lt``/``age_gt`` field rule with a usable duration."""
    last: list[tuple[str | None, dt.datetime | None]] = [(None, None)]
    return InlinePlan(test, key, field, find, (limit, last), judge)


# --- writing the function -----------------------------------------------------------------


class _Shape(NamedTuple):
    """What the source of a gate function depends on (never a user value)."""

    tests: tuple[tuple[str | None, int, bool], ...]  # (test or None, key number, dotted)
    any_mode: bool
    trigger: bool


def gate_function(
    plans: Sequence[InlinePlan | None],
    checks: tuple[OutcomeOf, ...],
    names: tuple[RuleNames, ...],
    mode: MatchMode,
    trigger: bool,
) -> GateFunction:
    """The gate's function: every rule inline where it has a plan, else its closure.

    Args:
        plans: one per rule in gate order (the trigger first, when there is one).
        checks: each rule's closure, ``(sensors, now) -> Outcome``, in the same order.
        names: each rule's ``(key, check, field)``, in the same order.
        mode: ALL or ANY, combining the rules after the trigger.
        trigger: whether the first rule is a trigger that must pass as well.
    """
    key_numbers: dict[str, int] = {}
    tests: list[tuple[str | None, int, bool]] = []
    for plan in plans:
        if plan is None:
            tests.append((None, 0, False))
        else:
            number = key_numbers.setdefault(plan.key, len(key_numbers))
            tests.append((plan.test, number, plan.find is not None))
    make, recipe = _factory(_Shape(tuple(tests), mode is MatchMode.ANY, trigger))
    judges = tuple(None if plan is None else plan.judge for plan in plans)
    constants: list[Any] = [checks, (names, judges)]
    # By position, in the factory's order: by keyword, binding the constants of a gate of
    # 50 rules costs more than compiling its shape.
    for i, part in recipe:
        plan = plans[i]
        if plan is None:
            raise AssertionError(f"rule {i} has no plan")
        if part == "key":
            constants.append(plan.key)
        elif part == "field":
            constants.append(plan.field)
        elif part == "find":
            constants.append(plan.find)
        elif part == "value":
            constants.append(plan.value[0] if plan.test in AGE_TESTS else plan.value)
        else:  # "last"
            constants.append(plan.value[1])
    return make(*constants)


def evaluate_through(
    checks: tuple[OutcomeOf, ...],
    names: tuple[RuleNames, ...],
    mode: MatchMode,
    trigger: bool,
    sensors: Mapping[str, Any],
    now: dt.datetime,
) -> Evaluation:
    """A gate evaluated rule by rule through each rule's closure (the trigger first): what
    a gate function does for sensors it does not handle inline, and the reference for what
    it does inline."""
    outcomes = [check(sensors, now) for check in checks]
    rules = outcomes[1:] if trigger else outcomes
    if mode is MatchMode.ANY:
        passed = False
        for outcome in rules:
            if outcome[0]:
                passed = True
                break
    else:
        passed = True
        for outcome in rules:
            if not outcome[0]:
                passed = False
                break
    if trigger:
        passed = outcomes[0][0] and passed
    return evaluation_of(passed, names, outcomes, mode)


# Names every gate function reads as globals of its code (one namespace per shape).
_HELPERS: dict[str, Any] = {
    "evaluate_through": evaluate_through,
    "Sensor": Sensor,
    "MISSING": MISSING,
    "SCALARS": _SCALARS,
    "SCALARS_OR_NULL": _SCALARS | {type(None)},
    "isfinite": math.isfinite,
    "as_instant": as_instant,
    "utc": utc,
    "UTC": dt.UTC,
    "ZERO": dt.timedelta(0),
    "MINUS_TOLERANCE": -FUTURE_TOLERANCE,
    "new": object.__new__,
    "set_state": object.__setattr__,
    "Evaluation": Evaluation,
}


Recipe = tuple[tuple[int, str], ...]
"""The factory's parameters after ``CHECKS`` and ``SPEC``: ``(rule number, part)`` each,
the part one of ``key``, ``value``, ``field``, ``find``, ``last`` (see ``gate_function``)."""


@functools.lru_cache(maxsize=_SHAPES_KEPT)
def _factory(shape: _Shape) -> tuple[Callable[..., GateFunction], Recipe]:
    """Compile the source of ``shape`` once: a factory taking the constants by position,
    and which constant each of its parameters after the fixed ones is."""
    source, recipe = _source(shape)
    mode = MatchMode.ANY if shape.any_mode else MatchMode.ALL
    namespace: dict[str, Any] = {"__builtins__": __builtins__, "MODE": mode, **_HELPERS}
    exec(compile(source, "<interlock gate>", "exec"), namespace)  # noqa: S102 - fixed templates
    factory: Callable[..., GateFunction] = namespace["make"]
    return factory, recipe


def _source(shape: _Shape) -> tuple[str, Recipe]:
    """The factory's source, ``make(CHECKS, SPEC, *CONSTANTS)`` returning
    ``gate(sensors, now)``, and its recipe (what each of ``CONSTANTS`` is). Only generated
    names and fixed templates: no value of any rule."""
    params: list[str] = []
    recipe: list[tuple[int, str]] = []

    def bind(name: str, rule: int, part: str) -> None:
        params.append(name)
        recipe.append((rule, part))

    tests = shape.tests
    field_keys = {number for test, number, _ in tests if test not in (None, SENSOR_TEST)}
    loaded: set[int] = set()
    body: list[str] = []
    if any(test in AGE_TESTS for test, _, _ in tests):
        body.append("nowu = now if now.tzinfo is UTC else utc(now)")
    if any(test is not None for test, _, _ in tests):
        body.append("get = sensors.get")
    for i, (test, number, dotted) in enumerate(tests):
        generic_lines = [f"s{i} = CHECKS[{i}](sensors, now)", f"p{i} = s{i}[0]"]
        if test is None:
            body += generic_lines
            continue
        if number not in loaded:
            # Each sensor is looked up once, at the first rule on it: its data, when that is
            # a plain dict, else None (its rules then call their closures).
            loaded.add(number)
            bind(f"k{number}", i, "key")
            if number in field_keys:
                body += [
                    f"e = get(k{number})",
                    f"d{number} = e.data if type(e) is Sensor else e",
                    f"if type(d{number}) is not dict:",
                    f"    d{number} = None",
                ]
        bind(f"v{i}", i, "value")
        if test == SENSOR_TEST:
            # v is (found, not_found): the outcome depends only on the sensor being there.
            body += [
                f"s{i} = v{i}[0] if get(k{number}) is not None else v{i}[1]",
                f"p{i} = s{i}[0]",
            ]
            continue
        if dotted:
            bind(f"fd{i}", i, "find")
            found = f"fd{i}(d{number})"
        else:
            bind(f"f{i}", i, "field")
            found = f"d{number}.get(f{i}, MISSING)"
        body.append(f"a = {found} if d{number} is not None else MISSING")
        if test in AGE_TESTS:
            bind(f"last{i}", i, "last")
            verdict = [
                f"seen = last{i}[0]",
                "if seen[0] == a:",
                "    instant = seen[1]",
                "else:",
                "    instant = as_instant(a)",
                f"    last{i}[0] = (a, instant)",
                "if instant is None:",
                f"    p{i} = False",
                "else:",
                "    age = nowu - instant",
                "    if age < MINUS_TOLERANCE:",
                f"        p{i} = False",
                "    else:",
                "        if age < ZERO:",
                "            age = ZERO",
                f"        p{i} = age {'>' if test == 'age_gt' else '<'} v{i}",
            ]
            guard = _GUARDS["text"]
        else:
            guard_name, expression = _TESTS[test]
            guard, verdict = _GUARDS[guard_name], [f"p{i} = {expression.format(i=i)}"]
        body += [
            f"if {guard}:",
            f"    s{i} = a",
            *("    " + line for line in verdict),
            "else:",
            *("    " + line for line in generic_lines),
        ]
    rules = [f"p{i}" for i in range(1 if shape.trigger else 0, len(tests))]
    joined = (" or " if shape.any_mode else " and ").join(rules) or (
        "False" if shape.any_mode else "True"
    )
    body.append(f"passed = True if {f'p0 and ({joined})' if shape.trigger else joined} else False")
    slots = "".join(f"s{i}, " for i in range(len(tests)))
    through = f"evaluate_through(CHECKS, SPEC[0], MODE, {shape.trigger}, sensors, now)"
    lines = [
        "def make(CHECKS, SPEC, *CONSTANTS):",
        "    def gate(sensors, now):",
        # One tuple per gate, unpacked per call: a cell per constant costs more memory (a
        # gate per config, 10 000 configs) than the unpacking costs time.
        *([f"        {', '.join(params)}, = CONSTANTS"] if params else []),
        "        if type(sensors) is not dict:",
        f"            return {through}",
        "        try:",
        *("            " + line for line in body),
        "        except Exception:",
        f"            return {through}",
        "        evaluation = new(Evaluation)",
        "        set_state(evaluation, '__dict__', "
        f"{{'passed': passed, 'mode': MODE, '_outcomes': (SPEC, now, ({slots}))}})",
        "        return evaluation",
        "    return gate",
    ]
    return "\n".join(lines) + "\n", tuple(recipe)
