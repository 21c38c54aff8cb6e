"""Compiled gates: rules turned once into plain Python checks (DESIGN.md §3).

``compile_rule`` does, once per rule, everything that depends only on the rule: which check
it is, its threshold or duration, its field path, how its value compares, and the constant
parts of its reasons. What is left for each evaluation is the sensor lookup and the
comparison, which give an ``Outcome`` tuple per rule; a gate makes its ``RuleResult`` objects
from those only when someone reads ``Evaluation.results``, and each reason only when someone
reads it (``rule_results``). Results made later are the ones that would have been made then:
outcomes hold the values the rule looked at, and ``now`` is already applied. A gate evaluated
often (``EVALUATIONS_BEFORE_WRITING``) runs as one function written for it (``rule_inline``)
that checks the common cases inline and calls a rule's closure for the rest; until then, and
with ``CompiledGate(..., inline=False)``, it runs the closures alone.

Results are the same as a rule-by-rule interpretation would give, reason for reason — the
differential property test (tests/core/test_rules_compiled.py) checks that against the
interpreter this module replaced.

**Cache.** Compiled rules and gates are cached by the identity of the object they were
compiled from (a ``Rule``, a ``Validation``, a ``Pipeline``), held weakly: an entry lives as
long as that object and is dropped when it is collected. Config models are frozen, so a
changed config is always a new object and compiles anew; the engine keeps one parsed
``Pipeline`` per (pipeline id, config hash) (``config.stored.ConfigCache``), so a gate
compiles once per config hash per process. Objects that cannot be weakly referenced are
compiled on every call, never cached. Equal rules (same key, check, field, and a value of the
same plain types and content) share one compiled rule, held weakly too, so 10 000 configs
repeating the same three rules hold three compiled rules. A rule's ``value`` list mutated in
place after its first evaluation is not seen (models are frozen; nothing here does this).
Gates of the very same compiled rules, mode and trigger share one gate function, held weakly
(``_GATE_FUNCTIONS``): it depends on nothing else, and goes when no gate uses it.
"""

import datetime as dt
import functools
import operator
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from interlock_core.config.durations import format_duration
from interlock_core.config.models import Check, MatchMode
from interlock_core.rule_inline import (
    AGE_TESTS,
    SENSOR_TEST,
    GateFunction,
    InlinePlan,
    OutcomeOf,
    age_plan,
    evaluate_through,
    gate_function,
)
from interlock_core.rule_results import (
    Evaluation,
    Judge,
    Outcome,
    RuleNames,
    RuleResult,
    no_text,
    result_of,
)
from interlock_core.rule_values import (
    FUTURE_TOLERANCE,
    MISSING,
    Unusable,
    as_bool,
    as_instant,
    as_text,
    equal,
    finite,
    is_number,
    lookup,
    match_mode,
    plain,
    printable,
    quote,
    show,
    shown_duration,
    threshold,
    utc,
)
from interlock_core.sensors import Sensor, parse_number

_ZERO = dt.timedelta(0)
_UTC = dt.UTC
_ORDER = {
    Check.GT: (operator.gt, ">"),
    Check.GTE: (operator.ge, ">="),
    Check.LT: (operator.lt, "<"),
    Check.LTE: (operator.le, "<="),
}


class CompiledRule:
    """One rule compiled: call it with ``(sensors, now)`` for its ``RuleResult``.

    Attributes:
        names: ``(key, check, field)`` as the results report them.
        check: ``(sensors, now) -> Outcome``, what a gate calls.
        plan: how a gate's own function checks this rule inline (``rule_inline``), or None
            where it calls ``check``.
    """

    __slots__ = ("__weakref__", "check", "names", "plan")

    def __init__(self, names: RuleNames, check: OutcomeOf, plan: InlinePlan | None = None) -> None:
        self.names = names
        self.check = check
        self.plan = plan

    def __call__(self, sensors: Mapping[str, Any], now: dt.datetime) -> RuleResult:
        return result_of(self.names, self.check(sensors, now))


RuleCheck = CompiledRule
"""A compiled rule (``compile_rule``); calling it gives a ``RuleResult``."""


class CompiledGate:
    """Rules compiled once, combined by a match mode, optionally behind a trigger rule.

    ``evaluate(sensors, now) -> Evaluation`` evaluates every rule (no short circuit) at
    ``now`` (naive means UTC) and combines them; ``sensors`` maps sensor keys to data dicts
    or ``Sensor`` objects.

    Attributes:
        rules: the compiled rules, in rule order.
        mode: ALL (every rule passes; no rules pass) or ANY (at least one does).
        trigger: a compiled rule that must pass as well, reported first; or None.
        evaluate: the gate as one function: written for this gate with every rule checked
            inline (``rule_inline``) unless ``inline=False``, else through the rules'
            closures. Both give the same evaluations. A gate whose rules no live gate has a
            function for yet runs through the closures for its first
            ``EVALUATIONS_BEFORE_WRITING`` evaluations, then writes it.
    """

    __slots__ = ("__weakref__", "evaluate", "mode", "rules", "trigger")

    evaluate: GateFunction

    def __init__(
        self,
        rules: Iterable[CompiledRule],
        mode: MatchMode,
        trigger: CompiledRule | None = None,
        *,
        inline: bool = True,
    ) -> None:
        self.rules = tuple(rules)
        self.mode = match_mode(mode)
        self.trigger = trigger
        everything = self.rules if trigger is None else (trigger, *self.rules)
        names = tuple(rule.names for rule in everything)
        checks = tuple(rule.check for rule in everything)
        trigger_first = trigger is not None
        through = functools.partial(evaluate_through, checks, names, self.mode, trigger_first)
        self.evaluate = through
        if inline and any(rule.plan is not None for rule in everything):
            key = (everything, self.mode, trigger_first)
            shared = _GATE_FUNCTIONS.get(key)
            if shared is None and EVALUATIONS_BEFORE_WRITING <= 0:
                shared = _shared_gate_function(key, names, checks)
            if shared is not None:
                self.evaluate = shared
            else:
                self.evaluate = _warming_up(weakref.ref(self), key, names, checks, through)


# Gates of the same compiled rules (equal rules share one compiled rule: 10 000 configs of
# the same rules have the same ones) share one gate function, kept while a gate uses it. The
# function depends on nothing else than the rules, the mode and the trigger in its key.
_GATE_FUNCTIONS: "weakref.WeakValueDictionary[Any, GateFunction]" = weakref.WeakValueDictionary()
_gate_functions_lock = threading.Lock()


EVALUATIONS_BEFORE_WRITING = 100
"""How many evaluations a gate runs through its rules' closures before its own function is
written. Writing one of a shape not compiled yet costs CPython's ``compile``, about 0.5 ms
for 6 rules (``rule_inline``): the savings of some 300 evaluations. Written at once, 10 000
configs of as many shapes took 6 s to load (0.05 s through the closures), though most gates
are evaluated a few times. This way only a gate evaluated often pays it, once: a gate of a
new shape evaluated N times costs at most about three times the cheaper of the two ways (the
worst just after it writes), and a gate of a known shape loses about 160 µs. 0 writes it when
the gate is made."""


def _warming_up(
    gate: "weakref.ref[CompiledGate]",
    key: tuple[tuple[CompiledRule, ...], MatchMode, bool],
    names: tuple[RuleNames, ...],
    checks: tuple[OutcomeOf, ...],
    through: GateFunction,
) -> GateFunction:
    """A gate's ``evaluate`` until it is evaluated often enough to write its own function:
    the closures' evaluation, then the written function, put in the gate's place."""
    left = EVALUATIONS_BEFORE_WRITING

    def warming_up(sensors: Mapping[str, Any], now: dt.datetime) -> Evaluation:
        nonlocal left
        left -= 1
        # Not ``== 0``: two threads may count down past zero together; both then write (or
        # find) the same function.
        if left > 0:
            return through(sensors, now)
        function = _shared_gate_function(key, names, checks)
        owner = gate()  # held weakly: a gate and its ``evaluate`` are no cycle
        if owner is not None:
            owner.evaluate = function
        return function(sensors, now)

    return warming_up


def _shared_gate_function(
    key: tuple[tuple[CompiledRule, ...], MatchMode, bool],
    names: tuple[RuleNames, ...],
    checks: tuple[OutcomeOf, ...],
) -> GateFunction:
    """The function of the gate ``key`` names: a live gate's of the same rules, or written."""
    function = _GATE_FUNCTIONS.get(key)
    if function is None:
        rules, mode, trigger = key
        function = gate_function([rule.plan for rule in rules], checks, names, mode, trigger)
        with _gate_functions_lock:
            function = _GATE_FUNCTIONS.setdefault(key, function)
    return function


# --- the identity cache -------------------------------------------------------------------

Owner = TypeVar("Owner")
Compiled = TypeVar("Compiled")


class IdentityCache(Generic[Owner, Compiled]):
    """What was compiled from an object, kept while that object lives (see module doc)."""

    def __init__(self, build: Callable[[Owner], Compiled]) -> None:
        self._build = build
        self._entries: dict[int, tuple[weakref.ref[Any], Compiled]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: Owner) -> Compiled:
        """The compiled form of ``owner``, compiling it on first use."""
        key = id(owner)
        entry = self._entries.get(key)
        # The identity check guards against a dead object's id reused before its entry went.
        if entry is not None and entry[0]() is owner:
            return entry[1]
        compiled = self._build(owner)
        try:
            ref = weakref.ref(owner, lambda dead: self._forget(key, dead))
        except TypeError:
            return compiled
        with self._lock:
            self._entries[key] = (ref, compiled)
        return compiled

    def _forget(self, key: int, dead: "weakref.ref[Any]") -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is dead:
                del self._entries[key]


# --- compiling one rule -------------------------------------------------------------------
#
# A compiled rule is one closure (the sensor and field lookup) calling one "judge" closure
# (the check), each giving an ``Outcome`` tuple. Outcomes that do not depend on the
# sensor's content are made once and returned every time.


def _failed(reason: str, actual: Any = None) -> Outcome:
    """A failing outcome whose reason is already written."""
    return (False, actual, no_text, printable(reason), None, "")


def _unexpected(exc: Exception) -> Outcome:
    # Last line of defence: a bug or an exotic value must close the gate, not crash the
    # caller that is deciding whether a job may run.
    return (False, None, no_text, f"could not evaluate rule ({type(exc).__name__})", None, "")


def compile_rule_uncached(rule: Any) -> CompiledRule:
    """Compile one rule (a ``Rule``, a ``TriggerCondition``, or anything with ``key``,
    ``check``, ``field`` and ``value`` attributes). Use ``compile_rule`` for the cached form.
    """
    key = as_text(getattr(rule, "key", ""))
    raw_field = getattr(rule, "field", None)
    field = as_text(raw_field) if raw_field else None
    raw_check = getattr(rule, "check", "")
    check_name = as_text(raw_check.value if isinstance(raw_check, Check) else raw_check)
    value = getattr(rule, "value", None)
    names: RuleNames = (key, check_name, field)
    try:
        check = Check(check_name)
    except ValueError:
        # Decided without looking at any sensor: the same outcome every time.
        unknown = _failed(f"unknown check {show(check_name)}")
        return CompiledRule(names, lambda sensors, now: unknown)
    if field is None:
        return CompiledRule(names, *_compile_sensor_rule(check, key, value))
    return CompiledRule(names, *_compile_field_rule(check, key, field, value))


def _sensor_not_found(key: str) -> str:
    return f"sensor {quote(key)} not found"


def _not_an_object(key: str) -> str:
    return f"sensor {quote(key)} data is not an object"


def _field_not_found(names: RuleNames) -> str:
    return f"field {quote(names[2] or '')} not found in sensor {quote(names[0])}"


# Values an outcome may render later (on first read of its reason): nothing can change them.
_SCALARS = frozenset({str, int, float, bool, type(None), dt.datetime, dt.date, dt.timedelta})


def _written(text: str) -> str:
    """The ``render`` of an outcome whose value was rendered already."""
    return text


def _compile_field_rule(
    check: Check, key: str, field: str, value: Any
) -> tuple[OutcomeOf, InlinePlan | None]:
    """Find the sensor, then the field, then judge the value found."""
    judge, inline = _compile_judge(check, key, field, value)
    # A plain field is one dict.get; other mappings are asked as ``lookup`` asks them.
    find = None if "." not in field else compile_lookup(field)
    plan = None
    if inline is not None:
        test, constant = inline
        if test in AGE_TESTS:
            plan = age_plan(test, key, field, find, constant, judge)
        else:
            plan = InlinePlan(test, key, field, find, constant, judge)
    # Failures worded when read (a gate may hold thousands of rules: no text per rule).
    not_found: Outcome = (False, None, _sensor_not_found, "", key, "")
    not_an_object: Outcome = (False, None, _not_an_object, "", key, "")
    field_not_found: Outcome = (False, None, _field_not_found, "", (key, check.value, field), "")

    def field_rule(sensors: Mapping[str, Any], now: dt.datetime) -> Outcome:
        try:
            entry = sensors.get(key, MISSING)
            if entry is MISSING or entry is None:
                return not_found
            data = entry.data if isinstance(entry, Sensor) else entry
            if type(data) is dict:
                actual = data.get(field, MISSING) if find is None else find(data)
            elif isinstance(data, Mapping):
                actual = lookup(data, field) if find is None else find(data)
            else:
                return not_an_object
            if actual is MISSING:
                return field_not_found
            outcome = judge(actual, now)
            if type(outcome[4]) in _SCALARS:
                return outcome
            # A list or map is the caller's and may change after this call: its reason is
            # written now, as the interpreter did, not from the changed value when read.
            passed, found, render, prefix, shown, suffix = outcome
            return (passed, found, _written, prefix, render(shown), suffix)
        except Unusable as exc:
            return _failed(str(exc))
        except Exception as exc:
            return _unexpected(exc)

    return field_rule, plan


def _compile_sensor_rule(check: Check, key: str, value: Any) -> tuple[OutcomeOf, InlinePlan | None]:
    """A rule without a field: that the sensor exists, or the age of its write time."""
    not_found: Outcome = (False, None, _sensor_not_found, "", key, "")
    if check in (Check.AGE_LT, Check.AGE_GT):
        limit = _compile_threshold(value)
        if isinstance(limit, dt.timedelta):
            return _compile_write_age(check, key, limit, not_found), None
        known = _failed(limit)
    elif check is Check.EXISTS:
        known = (True, None, no_text, printable(f"sensor {quote(key)} exists"), None, "")
    else:
        known = _failed(f"check {check.value!r} needs a field")

    def sensor_rule(sensors: Mapping[str, Any], now: dt.datetime) -> Outcome:
        try:
            entry = sensors.get(key, MISSING)
        except Exception as exc:
            return _unexpected(exc)
        return not_found if entry is MISSING or entry is None else known

    return sensor_rule, InlinePlan(SENSOR_TEST, key, None, None, (known, not_found), None)


def _compile_write_age(
    check: Check, key: str, limit: dt.timedelta, not_found: Outcome
) -> OutcomeOf:
    no_write_time = _failed(
        f"sensor {quote(key)} has no write time to measure its age (give a field)"
    )
    compare = _compile_age(check, f"sensor {quote(key)}", limit)

    def write_age(sensors: Mapping[str, Any], now: dt.datetime) -> Outcome:
        try:
            entry = sensors.get(key, MISSING)
            if entry is MISSING or entry is None:
                return not_found
            written_at = entry.written_at if isinstance(entry, Sensor) else None
            if not isinstance(written_at, dt.datetime):
                return no_write_time
            return compare(utc(written_at), now, written_at)
        except Exception as exc:
            return _unexpected(exc)

    return write_age


Inline = tuple[str, Any] | None
"""What a gate function checks inline for a judge (``rule_inline``): ``(test, constant)``,
the test giving the judge's verdict on every value its guard admits; None for none."""

# The rule values whose equality judges compare by one expression (``compile_equal_to``):
# exact plain types only, so no subclass's ``==`` can differ between the two.
_EQUALITY_KINDS = {str: "text", int: "number", float: "number", bool: "bool", type(None): "null"}


def _compile_judge(check: Check, key: str, field: str, value: Any) -> tuple[Judge, Inline]:
    """The check of a field value that was found, and what a gate checks of it inline."""
    is_prefix = f"{field} is "
    if check is Check.EXISTS:
        null = _failed(f"field {quote(field)} is null in sensor {quote(key)}")

        def exists(actual: Any, now: dt.datetime) -> Outcome:
            if actual is None:
                return null
            return (True, actual, show, is_prefix, actual, "")

        return exists, ("exists", None)
    if check in (Check.EQUALS, Check.NEQ):
        right = plain(value)
        kind = _EQUALITY_KINDS.get(type(right))
        equals = compile_equal_to(value)
        shown = show(value)
        if check is Check.EQUALS:
            on_equal, on_unequal = "", f", expected {shown}"
        else:
            on_equal, on_unequal = f", expected not {shown}", f" (not {shown})"
        wanted = check is Check.EQUALS

        def compare(actual: Any, now: dt.datetime) -> Outcome:
            if equals(actual):
                return (wanted, actual, show, is_prefix, actual, on_equal)
            return (not wanted, actual, show, is_prefix, actual, on_unequal)

        return compare, None if kind is None else (f"{'eq' if wanted else 'ne'}_{kind}", right)
    if check is Check.IN:
        return _compile_in(value, is_prefix)
    if check in _ORDER:
        return _compile_order(check, value, is_prefix)
    limit = _compile_threshold(value)
    if isinstance(limit, str):
        unusable = _failed(limit)
        return (lambda actual, now: unusable), None
    compare_age = _compile_age(check, field, limit)
    # Sensors are re-read every pass while a run waits: the timestamp text seen last and
    # its instant are kept (as_instant is a pure function of the text).
    last: tuple[str | None, dt.datetime | None] = (None, None)

    def field_age(actual: Any, now: dt.datetime) -> Outcome:
        nonlocal last
        if type(actual) is str:
            text, instant = last
            if text != actual:
                instant = as_instant(actual)
                last = (actual, instant)
        else:
            instant = as_instant(actual)
        if instant is None:
            return (False, actual, show, is_prefix, actual, ", not a timestamp")
        return compare_age(instant, now, actual)

    return field_age, (check.value, limit)


def _compile_in(value: Any, is_prefix: str) -> tuple[Judge, Inline]:
    if not isinstance(value, list | tuple):
        not_a_list = printable(f"rule value {show(value)} is not a list")
        return (lambda actual, now: (False, actual, no_text, not_a_list, None, "")), None
    members = [compile_equal_to(member) for member in value]
    # Text equals text exactly (a text member matches only text or a date written as it):
    # a set answers for a text value when every member is text.
    texts = frozenset(value) if all(type(member) is str for member in value) else None
    shown = show(value)
    matched, missed = f" (in {shown})", f", expected one of {shown}"

    def within(actual: Any, now: dt.datetime) -> Outcome:
        if texts is not None and type(actual) is str:
            found = actual in texts
        else:
            found = any(equals(actual) for equals in members)
        if found:
            return (True, actual, show, is_prefix, actual, matched)
        return (False, actual, show, is_prefix, actual, missed)

    return within, None if texts is None else ("in_text", texts)


def _compile_order(check: Check, value: Any, is_prefix: str) -> tuple[Judge, Inline]:
    bound = parse_number(value)
    if bound is None or not finite(bound):
        kind = "a number" if bound is None else "a finite number"
        unusable = printable(f"rule value {show(value)} is not {kind}")
        return (lambda actual, now: (False, actual, no_text, unusable, None, "")), None
    holds, symbol = _ORDER[check]
    shown = show(bound)
    matched, missed = f" ({symbol} {shown})", f", needs {symbol} {shown}"

    def order(actual: Any, now: dt.datetime) -> Outcome:
        kind = type(actual)
        if kind is int or (kind is float and finite(actual)):
            passed = holds(actual, bound)  # a plain int or float: a bool
        else:
            number = parse_number(actual)
            if number is None:
                return (False, actual, show, is_prefix, actual, ", not a number")
            if not finite(number):
                return (False, actual, show, is_prefix, actual, ", not a finite number")
            passed = bool(holds(number, bound))
        return (passed, actual, show, is_prefix, actual, matched if passed else missed)

    # Inline only for an exact int or float bound (``parse_number`` passes subclasses on).
    return order, (check.value, bound) if type(bound) in (int, float) else None


def _compile_threshold(value: Any) -> dt.timedelta | str:
    """An age rule's duration, or (for a value that is not one) the reason it always fails."""
    try:
        return threshold(value)
    except Unusable as exc:
        return printable(str(exc))
    except Exception as exc:
        return f"could not evaluate rule ({type(exc).__name__})"


def _compile_age(
    check: Check, label: str, limit: dt.timedelta
) -> Callable[[dt.datetime, dt.datetime, Any], Outcome]:
    """Compare the age of an instant (already UTC) at ``now`` with ``limit``."""
    younger = check is Check.AGE_LT
    symbol = "<" if younger else ">"
    shown_limit = format_duration(limit)
    is_prefix = f"{label} is "
    matched, missed = f" old ({symbol} {shown_limit})", f" old, needs {symbol} {shown_limit}"
    ahead_prefix = f"timestamp is in the future ({label} is "
    minus_tolerance = -FUTURE_TOLERANCE

    def compare(instant: dt.datetime, now: dt.datetime, actual: Any) -> Outcome:
        age = (now if now.tzinfo is _UTC else utc(now)) - instant
        if age < minus_tolerance:
            return (False, actual, shown_duration, ahead_prefix, -age, " ahead)")
        # Within the tolerance a timestamp is "just now": clock skew, not a negative age.
        if age < _ZERO:
            age = _ZERO
        passed = age < limit if younger else age > limit
        return (passed, actual, shown_duration, is_prefix, age, matched if passed else missed)

    return compare


# --- paths and equality -------------------------------------------------------------------


_MAX_COMPILED_DOTS = 8


def compile_lookup(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """``lookup(data, path)`` with the path's dotted splits worked out once: the exact key
    first, then each split in order, recursively. Returns ``MISSING`` for no such field."""
    if path.count(".") > _MAX_COMPILED_DOTS:
        # Each suffix keeps a list of its splits (quadratic); such paths are not worth it.
        return lambda data: lookup(data, path)
    nodes: dict[str, Callable[[Mapping[str, Any]], Any]] = {}
    suffixes = [path] + [path[dot + 1 :] for dot in range(len(path)) if path[dot] == "."]
    for suffix in reversed(suffixes):  # shortest first: a split's rest is compiled before
        splits = [
            (suffix[:dot], nodes[suffix[dot + 1 :]])
            for dot in range(len(suffix))
            if suffix[dot] == "."
        ]
        nodes[suffix] = _lookup_node(suffix, splits)
    return nodes[path]


def _lookup_node(
    path: str, splits: list[tuple[str, Callable[[Mapping[str, Any]], Any]]]
) -> Callable[[Mapping[str, Any]], Any]:
    if not splits:

        def flat(data: Mapping[str, Any]) -> Any:
            if type(data) is dict:
                return data.get(path, MISSING)
            # Any other mapping is asked as the interpreter asked it: ``in``, then ``[]``.
            return lookup(data, path)

        return flat

    def dotted(data: Mapping[str, Any]) -> Any:
        if type(data) is dict:
            found = data.get(path, MISSING)
            if found is not MISSING:
                return found
        elif path in data:
            return data[path]
        for head, rest in splits:
            inner = data.get(head, MISSING)
            if type(inner) is dict or isinstance(inner, Mapping):
                found = rest(inner)
                if found is not MISSING:
                    return found
        return MISSING

    return dotted


def compile_equal_to(value: Any) -> Callable[[Any], bool]:
    """``lambda actual: equal(actual, value)``, with what depends only on ``value`` decided
    once for the scalar values rules compare with (text, numbers, bools, null)."""
    right = plain(value)
    if right is None:
        return lambda actual: actual is None
    if isinstance(right, bool):
        # Only a bool or "true"/"false" in any case (not a date, whose text is neither).
        return lambda actual: as_bool(actual) is right
    if is_number(right):
        return lambda actual: _number_equals(actual, right)
    if isinstance(right, str):
        right_bool, right_number = as_bool(right), parse_number(right)

        def text_equals(actual: Any) -> bool:
            if isinstance(actual, str):
                return actual == right
            if actual is None:
                return False
            if isinstance(actual, bool):
                return right_bool is not None and actual == right_bool
            if is_number(actual):
                return right_number is not None and actual == right_number
            if isinstance(actual, dt.date):
                return actual.isoformat() == right
            return False

        return text_equals
    return lambda actual: equal(actual, value)


def _number_equals(actual: Any, right: int | float) -> bool:
    kind = type(actual)
    if kind is int or kind is float:
        return bool(actual == right)
    # None, bools, lists, maps and dates read as no number here, as in ``equal``.
    number = parse_number(plain(actual))
    return number is not None and bool(number == right)


# --- cached entry points ------------------------------------------------------------------

# Many configs repeat the same rules (the same upstream sensor, the same checks): equal rules
# share one compiled rule, kept while some gate or rule object still uses it.
_SHARED: "weakref.WeakValueDictionary[Any, CompiledRule]" = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


class _NotPlain(Exception):
    """A rule value whose equality does not pin its behaviour: compiled on its own."""


def _frozen(value: Any, depth: int = 0) -> Any:
    """``value`` as a hashable key that equals another's only where the two values behave
    the same in every check and reason (types kept: 1, 1.0, True and -0.0 all differ)."""
    kind = type(value)
    if kind in (str, int, bool, type(None), dt.timedelta):
        return (kind, value)
    if kind in (float, dt.date, dt.datetime):
        # repr: -0.0 shows as "-0.0"; a datetime's repr names its tzinfo.
        return (kind, repr(value))
    if depth < 32 and kind in (list, tuple):
        return (kind, tuple(_frozen(item, depth + 1) for item in value))
    if depth < 32 and kind is dict:
        return (
            kind,
            tuple((_frozen(k, depth + 1), _frozen(v, depth + 1)) for k, v in value.items()),
        )
    raise _NotPlain


def compile_rule_shared(rule: Any) -> CompiledRule:
    """``compile_rule_uncached``, shared between equal rules (same key, check, field and a
    value of the same plain types and content); other rules compile on their own."""
    key = as_text(getattr(rule, "key", ""))
    raw_field = getattr(rule, "field", None)
    raw_check = getattr(rule, "check", "")
    try:
        content = (
            key,
            as_text(raw_check.value if isinstance(raw_check, Check) else raw_check),
            as_text(raw_field) if raw_field else None,
            _frozen(getattr(rule, "value", None)),
        )
    except _NotPlain:
        return compile_rule_uncached(rule)
    compiled = _SHARED.get(content)
    if compiled is None:
        compiled = compile_rule_uncached(rule)
        with _shared_lock:
            compiled = _SHARED.setdefault(content, compiled)
    return compiled


_RULES: IdentityCache[Any, CompiledRule] = IdentityCache(compile_rule_shared)


def compile_rule(rule: Any) -> CompiledRule:
    """The compiled form of ``rule``, compiled once per rule object (see module doc)."""
    return _RULES.get(rule)


def compile_rules(rules: Iterable[Any], mode: MatchMode | str) -> CompiledGate:
    """Rules combined by ``mode`` (``ALL``/``ANY`` or the same names as text, any case; any
    other mode is ALL, the stricter). Each rule is compiled once per rule object."""
    # Not written as one function: such gates are made anew on every call.
    return CompiledGate([compile_rule(rule) for rule in rules], match_mode(mode), inline=False)


def _compile_validation(validation: Any) -> CompiledGate:
    # Not through the per-rule cache: the validation's entry covers its rules.
    rules = [compile_rule_shared(rule) for rule in validation.rules]
    return CompiledGate(rules, match_mode(validation.trigger))


_VALIDATIONS: IdentityCache[Any, CompiledGate] = IdentityCache(_compile_validation)


def compile_validation(validation: Any) -> CompiledGate:
    """A pipeline's ``validation`` (rules and match mode) compiled once per object."""
    return _VALIDATIONS.get(validation)


validation_gate = _VALIDATIONS.get
"""``compile_validation`` without the extra call (``evaluate_rules`` runs every pass)."""


def cache_sizes() -> dict[str, int]:
    """How many rules and validations are compiled and alive (for tests and diagnostics)."""
    return {
        "rules": len(_RULES),
        "validations": len(_VALIDATIONS),
        "shared": len(_SHARED),
        "gate_functions": len(_GATE_FUNCTIONS),
    }
