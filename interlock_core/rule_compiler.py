"""Compiled gates: rules turned once into plain Python checks (DESIGN.md §3).

``compile_rule`` does, once per rule, everything that depends only on the rule: which check
it is, its threshold or duration, its field path, how its value compares, and the constant
parts of its reasons. What is left for each evaluation is the sensor lookup and the
comparison; reasons are rendered when first read (``rule_results``).

Results are the same as a rule-by-rule interpretation would give, reason for reason — the
differential property test (tests/core/test_rules_compiled.py) checks that against the
interpreter this module replaced.

**Cache.** Compiled rules and gates are cached by the identity of the object they were
compiled from (a ``Rule``, a ``Validation``, a ``Pipeline``), held weakly: an entry lives as
long as that object and is dropped when it is collected. Config models are frozen, so a
changed config is always a new object and compiles anew; the engine keeps one parsed
``Pipeline`` per (pipeline id, config hash) (``config.stored.ConfigCache``), so a gate
compiles once per config hash per process. Objects that cannot be weakly referenced are
compiled on every call, never cached. A rule's ``value`` list mutated in place after its
first evaluation is not seen (models are frozen; nothing in the project does this).
"""

import datetime as dt
import operator
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from interlock_core.config.durations import format_duration
from interlock_core.config.models import Check, MatchMode
from interlock_core.rule_results import (
    Evaluation,
    ReasonParts,
    RuleResult,
    rendered_result,
    unrendered_result,
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

RuleCheck = Callable[[Mapping[str, Any], dt.datetime], RuleResult]
"""A compiled rule: ``check(sensors, now) -> RuleResult``; never raises on sensor content."""

_ZERO = dt.timedelta(0)
_UTC = dt.UTC
_ORDER = {
    Check.GT: (operator.gt, ">"),
    Check.GTE: (operator.ge, ">="),
    Check.LT: (operator.lt, "<"),
    Check.LTE: (operator.le, "<="),
}


def _text(value: str) -> str:
    return value


class CompiledGate:
    """Rules compiled once, combined by a match mode, optionally behind a trigger rule.

    Attributes:
        checks: the compiled rules, in rule order.
        mode: ALL (every rule passes; no rules pass) or ANY (at least one does).
        trigger: a compiled rule that must pass as well, reported first; or None.
    """

    __slots__ = ("checks", "mode", "trigger")

    def __init__(
        self, checks: Iterable[RuleCheck], mode: MatchMode, trigger: RuleCheck | None = None
    ) -> None:
        self.checks = tuple(checks)
        self.mode = mode
        self.trigger = trigger

    def evaluate(self, sensors: Mapping[str, Any], now: dt.datetime) -> Evaluation:
        """Evaluate every rule (no short circuit) at ``now`` and combine them.

        Args:
            sensors: sensor key -> data dict, or key -> ``Sensor``.
            now: the instant every rule is evaluated at (naive means UTC).
        """
        results = [check(sensors, now) for check in self.checks]
        if self.mode is MatchMode.ANY:
            passed = any(result.passed for result in results)
        else:
            passed = all(result.passed for result in results)
        if self.trigger is not None:
            first = self.trigger(sensors, now)
            return Evaluation(first.passed and passed, [first, *results], self.mode)
        return Evaluation(passed, results, self.mode)


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


class _Names:
    """What every result of one rule carries, and the ways to make one."""

    __slots__ = ("check", "field", "key")

    def __init__(self, key: str, check: str, field: str | None) -> None:
        self.key, self.check, self.field = key, check, field

    def fail(self, reason: str, actual: Any = None) -> RuleResult:
        """A failed result with a reason already written (and printable)."""
        return rendered_result(self.key, self.check, self.field, False, actual, reason)

    def result(self, passed: bool, actual: Any, reason: ReasonParts) -> RuleResult:
        """A result whose reason is written when first read."""
        return unrendered_result(self.key, self.check, self.field, passed, actual, reason)


FieldCheck = Callable[[Any, dt.datetime], RuleResult]


def compile_rule_uncached(rule: Any) -> RuleCheck:
    """Compile one rule (a ``Rule``, a ``TriggerCondition``, or anything with ``key``,
    ``check``, ``field`` and ``value`` attributes). Use ``compile_rule`` for the cached form.
    """
    key = as_text(getattr(rule, "key", ""))
    raw_field = getattr(rule, "field", None)
    field = as_text(raw_field) if raw_field else None
    raw_check = getattr(rule, "check", "")
    check_name = as_text(raw_check.value if isinstance(raw_check, Check) else raw_check)
    value = getattr(rule, "value", None)
    names = _Names(key, check_name, field)
    try:
        check = Check(check_name)
    except ValueError:
        # Decided without looking at any sensor: the same result every time.
        unknown = names.fail(printable(f"unknown check {show(check_name)}"))
        return lambda sensors, now: unknown
    not_found = printable(f"sensor {quote(key)} not found")
    if field is None:
        return _guarded(names, not_found, _compile_sensor_check(check, names, value))
    on_field = _compile_field_check(check, names, field, value)
    find = compile_lookup(field)
    not_an_object = printable(f"sensor {quote(key)} data is not an object")
    field_not_found = printable(f"field {quote(field)} not found in sensor {quote(key)}")
    fail = names.fail

    def field_check(data: Any, written_at: Any, now: dt.datetime) -> RuleResult:
        if type(data) is not dict and not isinstance(data, Mapping):
            return fail(not_an_object)
        actual = find(data)
        if actual is MISSING:
            return fail(field_not_found)
        return on_field(actual, now)

    return _guarded(names, not_found, field_check)


def _guarded(
    names: _Names, not_found: str, body: Callable[[Any, Any, dt.datetime], RuleResult]
) -> RuleCheck:
    """The sensor lookup every rule starts with, and the fail-closed net around the check."""
    key, fail = names.key, names.fail

    def check(sensors: Mapping[str, Any], now: dt.datetime) -> RuleResult:
        try:
            entry = sensors.get(key, MISSING)
            if entry is MISSING or entry is None:
                return fail(not_found)
            if isinstance(entry, Sensor):
                return body(entry.data, entry.written_at, now)
            return body(entry, None, now)
        except Unusable as exc:
            return fail(printable(str(exc)))
        except Exception as exc:
            # Last line of defence: a bug or an exotic value must close the gate, not crash
            # the caller that is deciding whether a job may run.
            return fail(f"could not evaluate rule ({type(exc).__name__})")

    return check


def _always(outcome: RuleResult) -> Callable[..., RuleResult]:
    return lambda *_: outcome


def _compile_sensor_check(
    check: Check, names: _Names, value: Any
) -> Callable[[Any, Any, dt.datetime], RuleResult]:
    """A rule without a field: the age of the sensor's write time, or that it exists."""
    key = names.key
    if check is Check.EXISTS:
        exists = rendered_result(
            key, names.check, None, True, None, printable(f"sensor {quote(key)} exists")
        )
        return _always(exists)
    if check not in (Check.AGE_LT, Check.AGE_GT):
        return _always(names.fail(printable(f"check {check.value!r} needs a field")))
    limit = _compile_threshold(value)
    if isinstance(limit, str):
        return _always(names.fail(limit))
    no_write_time = printable(
        f"sensor {quote(key)} has no write time to measure its age (give a field)"
    )
    compare = _compile_age(check, f"sensor {quote(key)}", limit, names)
    fail = names.fail

    def write_age(data: Any, written_at: Any, now: dt.datetime) -> RuleResult:
        if not isinstance(written_at, dt.datetime):
            return fail(no_write_time)
        return compare(utc(written_at), now, written_at)

    return write_age


def _compile_field_check(check: Check, names: _Names, field: str, value: Any) -> FieldCheck:
    """The check of a field value that was found."""
    is_prefix = f"{field} is "
    result = names.result
    if check is Check.EXISTS:
        null = printable(f"field {quote(field)} is null in sensor {quote(names.key)}")
        fail = names.fail

        def exists(actual: Any, now: dt.datetime) -> RuleResult:
            if actual is None:
                return fail(null)
            return result(True, actual, (show, is_prefix, actual, ""))

        return exists
    if check in (Check.EQUALS, Check.NEQ):
        equals = compile_equal_to(value)
        shown = show(value)
        if check is Check.EQUALS:
            on_equal, on_unequal = "", f", expected {shown}"
        else:
            on_equal, on_unequal = f", expected not {shown}", f" (not {shown})"
        wanted = check is Check.EQUALS

        def compare(actual: Any, now: dt.datetime) -> RuleResult:
            if equals(actual):
                return result(wanted, actual, (show, is_prefix, actual, on_equal))
            return result(not wanted, actual, (show, is_prefix, actual, on_unequal))

        return compare
    if check is Check.IN:
        return _compile_in(value, is_prefix, names)
    if check in _ORDER:
        return _compile_order(check, value, is_prefix, names)
    limit = _compile_threshold(value)
    if isinstance(limit, str):
        return _always(names.fail(limit))
    compare_age = _compile_age(check, field, limit, names)

    def field_age(actual: Any, now: dt.datetime) -> RuleResult:
        instant = as_instant(actual)
        if instant is None:
            return result(False, actual, (show, is_prefix, actual, ", not a timestamp"))
        return compare_age(instant, now, actual)

    return field_age


def _compile_in(value: Any, is_prefix: str, names: _Names) -> FieldCheck:
    fail, result = names.fail, names.result
    if not isinstance(value, list | tuple):
        not_a_list = printable(f"rule value {show(value)} is not a list")
        return lambda actual, now: fail(not_a_list, actual)
    members = [compile_equal_to(member) for member in value]
    # Text equals text exactly (a text member matches only text or a date written as it):
    # a set answers for a text value when every member is text.
    texts = frozenset(value) if all(type(member) is str for member in value) else None
    shown = show(value)
    matched, missed = f" (in {shown})", f", expected one of {shown}"

    def within(actual: Any, now: dt.datetime) -> RuleResult:
        if texts is not None and type(actual) is str:
            found = actual in texts
        else:
            found = any(equals(actual) for equals in members)
        if found:
            return result(True, actual, (show, is_prefix, actual, matched))
        return result(False, actual, (show, is_prefix, actual, missed))

    return within


def _compile_order(check: Check, value: Any, is_prefix: str, names: _Names) -> FieldCheck:
    fail, result = names.fail, names.result
    bound = parse_number(value)
    if bound is None:
        not_a_number = printable(f"rule value {show(value)} is not a number")
        return lambda actual, now: fail(not_a_number, actual)
    if not finite(bound):
        not_finite = printable(f"rule value {show(value)} is not a finite number")
        return lambda actual, now: fail(not_finite, actual)
    holds, symbol = _ORDER[check]
    shown = show(bound)
    matched, missed = f" ({symbol} {shown})", f", needs {symbol} {shown}"

    def order(actual: Any, now: dt.datetime) -> RuleResult:
        kind = type(actual)
        if kind is int:
            number: Any = actual
        elif kind is float:
            number = actual
            if not finite(number):
                return result(False, actual, (show, is_prefix, actual, ", not a finite number"))
        else:
            number = parse_number(actual)
            if number is None:
                return result(False, actual, (show, is_prefix, actual, ", not a number"))
            if not finite(number):
                return result(False, actual, (show, is_prefix, actual, ", not a finite number"))
        if holds(number, bound):
            return result(True, actual, (show, is_prefix, actual, matched))
        return result(False, actual, (show, is_prefix, actual, missed))

    return order


def _compile_threshold(value: Any) -> dt.timedelta | str:
    """An age rule's duration, or (for a value that is not one) the reason it always fails."""
    try:
        return threshold(value)
    except Unusable as exc:
        return printable(str(exc))
    except Exception as exc:
        return f"could not evaluate rule ({type(exc).__name__})"


def _compile_age(
    check: Check, label: str, limit: dt.timedelta, names: _Names
) -> Callable[[dt.datetime, dt.datetime, Any], RuleResult]:
    """Compare the age of an instant (already UTC) at ``now`` with ``limit``."""
    result = names.result
    younger = check is Check.AGE_LT
    symbol = "<" if younger else ">"
    shown_limit = format_duration(limit)
    is_prefix = f"{label} is "
    matched, missed = f" old ({symbol} {shown_limit})", f" old, needs {symbol} {shown_limit}"
    ahead_prefix = f"timestamp is in the future ({label} is "
    minus_tolerance = -FUTURE_TOLERANCE

    def compare(instant: dt.datetime, now: dt.datetime, actual: Any) -> RuleResult:
        age = (now if now.tzinfo is _UTC else utc(now)) - instant
        if age < minus_tolerance:
            return result(False, actual, (shown_duration, ahead_prefix, -age, " ahead)"))
        # Within the tolerance a timestamp is "just now": clock skew, not a negative age.
        if age < _ZERO:
            age = _ZERO
        passed = age < limit if younger else age > limit
        return result(
            passed, actual, (shown_duration, is_prefix, age, matched if passed else missed)
        )

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

_RULES: IdentityCache[Any, RuleCheck] = IdentityCache(compile_rule_uncached)


def compile_rule(rule: Any) -> RuleCheck:
    """The compiled form of ``rule``, compiled once per rule object (see module doc)."""
    return _RULES.get(rule)


def compile_rules(rules: Iterable[Any], mode: MatchMode | str) -> CompiledGate:
    """Rules combined by ``mode`` (``ALL``/``ANY`` or the same names as text, any case; any
    other mode is ALL, the stricter). Each rule is compiled once per rule object."""
    return CompiledGate([compile_rule(rule) for rule in rules], match_mode(mode))


def _compile_validation(validation: Any) -> CompiledGate:
    return compile_rules(validation.rules, validation.trigger)


_VALIDATIONS: IdentityCache[Any, CompiledGate] = IdentityCache(_compile_validation)


def compile_validation(validation: Any) -> CompiledGate:
    """A pipeline's ``validation`` (rules and match mode) compiled once per object."""
    return _VALIDATIONS.get(validation)


def cache_sizes() -> dict[str, int]:
    """How many rules and validations are compiled and alive (for tests and diagnostics)."""
    return {"rules": len(_RULES), "validations": len(_VALIDATIONS)}
