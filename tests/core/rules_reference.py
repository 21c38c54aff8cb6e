"""The rule interpreter as it was before rules were compiled (interlock_core/rules.py at
08ccf75), kept verbatim as the reference the compiled rules are checked against
(tests/core/test_rules_compiled.py). Not used by the product; do not "fix" it — a change in
behaviour belongs in the product and in the rules tests, with this file left as it was.

Original docstring: the rule engine (DESIGN.md §3): declarative checks over sensor data,
combined by a match mode. Everything here is pure: callers pass ``now`` and the sensors.
Producers write whatever they like into sensors, so nothing a sensor contains may make
evaluation raise; a value that cannot be checked fails its rule with a reason instead (the
gate fails closed).
"""

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interlock_core.config.durations import format_duration, parse_duration
from interlock_core.config.models import Check, MatchMode, Rule, Validation
from interlock_core.sensors import Sensor, parse_number

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
"""How far in the future a timestamp may be (clock skew) before age checks reject it."""

EPOCH_MILLISECONDS_FROM = 1e12
"""Epoch numbers at or above this (in absolute value) are milliseconds, below it seconds."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_NESTING = 64
_MAX_SHOWN = 60
# ISO dates are told apart from epoch strings by shape, so "20260304" is a date, not 1970.
_ISO_LIKE = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}(?:[T ][0-9:.,+\-Zz]*)?")


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule.

    Attributes:
        key: the sensor key the rule reads.
        check: the check name (``"gte"``, ``"age_lt"``, ...).
        field: the field the rule reads, or None.
        passed: whether the rule holds.
        reason: a short sentence saying why, for passing rules too.
        actual: the value the rule looked at (the field value, or the write time for age
            checks without a field); None when there was nothing to look at.
    """

    key: str
    check: str
    field: str | None
    passed: bool
    reason: str
    actual: Any = None

    def to_document(self) -> dict[str, Any]:
        """This result as a JSON-safe dict, the one shape every adapter shows.

        ``actual`` is made JSON-safe: datetimes become ISO strings, non-finite floats None,
        and anything JSON cannot hold its ``str``.
        """
        return {
            "key": self.key,
            "check": self.check,
            "field": self.field,
            "passed": self.passed,
            "reason": self.reason,
            "actual": json_safe(self.actual),
        }


def json_safe(value: Any) -> Any:
    """``value`` with datetimes (at any depth) as ISO strings, NaN/inf as None, and other
    values JSON cannot hold as their ``str``: what metadata, XCom and ``--json`` can carry."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of a set of rules combined by a match mode.

    Attributes:
        passed: whether the gate is open.
        results: one result per rule, in rule order.
        mode: how the results were combined.
    """

    passed: bool
    results: list[RuleResult]
    mode: MatchMode = MatchMode.ALL

    @property
    def failed(self) -> list[RuleResult]:
        """The results of the rules that did not pass, in rule order."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """One line for logs and alerts.

        Example: ``2 of 3 rules pass; failing: row-count (count is 12, needs >= 1000)``.
        """
        total = len(self.results)
        if total == 0:
            if self.mode == MatchMode.ANY:
                return "no rules: ANY needs at least one (fails)"
            return "no rules to check (passes)"
        passing = total - len(self.failed)
        text = f"{passing} of {total} rules pass" if total != 1 else f"{passing} of 1 rule passes"
        if self.mode == MatchMode.ANY:
            text = f"ANY: {text}"
        if self.failed:
            text += "; failing: " + "; ".join(f"{r.key} ({r.reason})" for r in self.failed)
        return text


def evaluate_rules(
    validation: Validation, sensors: Mapping[str, Any], now: dt.datetime
) -> Evaluation:
    """Evaluate a pipeline's gate.

    Args:
        validation: the rules and their match mode.
        sensors: sensor key -> data dict, or key -> ``Sensor`` (data plus write time, which
            ``age_lt``/``age_gt`` rules without a field need).
        now: the instant every rule is evaluated at.

    Returns:
        Every rule's result, in rule order, and whether the match mode is satisfied.
    """
    return evaluate_rule_list(validation.rules, validation.trigger, sensors, now)


def evaluate_rule_list(
    rules: Iterable[Rule],
    mode: MatchMode | str,
    sensors: Mapping[str, Any],
    now: dt.datetime,
) -> Evaluation:
    """Evaluate rules and combine them: ALL (every rule passes) or ANY (at least one does).

    Every rule is evaluated, even once the outcome is known, so the results say everything
    that is wrong. ALL with no rules passes; ANY with no rules fails. A mode other than ALL
    or ANY is treated as ALL, the stricter of the two.

    Args:
        rules: the rules, e.g. ``postRun.rules`` or ``[schedule.trigger]``.
        mode: ``MatchMode.ALL``/``MatchMode.ANY`` or the same names as text, any case.
        sensors: as for ``evaluate_rules``.
        now: the instant every rule is evaluated at.

    Returns:
        The combined evaluation.
    """
    match_mode = _match_mode(mode)
    results = [evaluate_rule(rule, sensors, now) for rule in rules]
    if match_mode == MatchMode.ANY:
        passed = any(result.passed for result in results)
    else:
        passed = all(result.passed for result in results)
    return Evaluation(passed=passed, results=results, mode=match_mode)


def evaluate_rule(rule: Rule, sensors: Mapping[str, Any], now: dt.datetime) -> RuleResult:
    """Evaluate one rule.

    Never raises because of sensor content: a value the check cannot use fails the rule
    with a reason.

    Args:
        rule: the rule (a ``TriggerCondition`` works too).
        sensors: as for ``evaluate_rules``.
        now: the instant to measure ages against (naive means UTC).

    Returns:
        The rule's result.
    """
    key = _as_text(getattr(rule, "key", ""))
    raw_field = getattr(rule, "field", None)
    field = _as_text(raw_field) if raw_field else None
    raw_check = getattr(rule, "check", "")
    check_name = _as_text(raw_check.value if isinstance(raw_check, Check) else raw_check)
    try:
        passed, reason, actual = _evaluate(rule, key, field, check_name, sensors, now)
    except _Unusable as exc:
        passed, reason, actual = False, str(exc), None
    except Exception as exc:
        # Last line of defence: a bug or an exotic value must close the gate, not crash
        # the caller that is deciding whether a job may run.
        passed, reason, actual = False, f"could not evaluate rule ({type(exc).__name__})", None
    return RuleResult(
        key=key,
        check=check_name,
        field=field,
        passed=passed,
        reason=_printable(reason),
        actual=actual,
    )


class _Unusable(Exception):
    """A value cannot be checked; the message is the rule's reason."""


_MISSING = object()


def _evaluate(
    rule: Rule,
    key: str,
    field: str | None,
    check_name: str,
    sensors: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[bool, str, Any]:
    try:
        check = Check(check_name)
    except ValueError:
        return False, f"unknown check {_show(check_name)}", None
    entry = sensors.get(key, _MISSING)
    if entry is _MISSING or entry is None:
        return False, f"sensor {_quote(key)} not found", None
    if isinstance(entry, Sensor):
        data: Any = entry.data
        written_at = entry.written_at
    else:
        data, written_at = entry, None
    value = getattr(rule, "value", None)

    if check in (Check.AGE_LT, Check.AGE_GT) and field is None:
        return _check_write_age(check, key, written_at, value, now)
    if check == Check.EXISTS and field is None:
        return True, f"sensor {_quote(key)} exists", None

    if field is None:
        return False, f"check {check.value!r} needs a field", None
    if not isinstance(data, Mapping):
        return False, f"sensor {_quote(key)} data is not an object", None
    actual = _lookup(data, field)
    if actual is _MISSING:
        return False, f"field {_quote(field)} not found in sensor {_quote(key)}", None

    if check == Check.EXISTS:
        if actual is None:
            return False, f"field {_quote(field)} is null in sensor {_quote(key)}", None
        return True, f"{field} is {_show(actual)}", actual
    if check == Check.EQUALS:
        if _equal(actual, value):
            return True, f"{field} is {_show(actual)}", actual
        return False, f"{field} is {_show(actual)}, expected {_show(value)}", actual
    if check == Check.NEQ:
        if _equal(actual, value):
            return False, f"{field} is {_show(actual)}, expected not {_show(value)}", actual
        return True, f"{field} is {_show(actual)} (not {_show(value)})", actual
    if check == Check.IN:
        if not isinstance(value, list | tuple):
            return False, f"rule value {_show(value)} is not a list", actual
        if any(_equal(actual, member) for member in value):
            return True, f"{field} is {_show(actual)} (in {_show(value)})", actual
        return False, f"{field} is {_show(actual)}, expected one of {_show(value)}", actual
    if check in (Check.GT, Check.GTE, Check.LT, Check.LTE):
        return _check_order(check, field, actual, value)
    return _check_field_age(check, field, actual, value, now)


# --- field lookup -------------------------------------------------------------------------


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``: an exact key first, else a dotted path into nested maps.

    An exact key wins at every level, so ``{"a.b": 1, "a": {"b": 2}}`` gives 1 for ``a.b``.
    """
    if path in data:
        return data[path]
    dot = path.find(".")
    while dot != -1:
        head = data.get(path[:dot], _MISSING)
        if isinstance(head, Mapping):
            found = _lookup(head, path[dot + 1 :])
            if found is not _MISSING:
                return found
        dot = path.find(".", dot + 1)
    return _MISSING


# --- equality -----------------------------------------------------------------------------


def _equal(left: Any, right: Any, depth: int = 0) -> bool:
    """Type-aware equality (DESIGN.md §3) used by ``equals``, ``neq`` and ``in``."""
    if depth > _MAX_NESTING:
        # Deciding "not equal" here would make ``neq`` pass on data it never compared.
        raise _Unusable("value is nested too deeply to compare")
    left, right = _plain(left), _plain(right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        left_bool, right_bool = _as_bool(left), _as_bool(right)
        return left_bool is not None and left_bool == right_bool
    if _is_number(left) or _is_number(right):
        left_number, right_number = parse_number(left), parse_number(right)
        return left_number is not None and right_number is not None and left_number == right_number
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _equal(a, b, depth + 1) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            _equal(left[k], right[k], depth + 1) for k in left
        )
    return False


def _plain(value: Any) -> Any:
    # YAML turns an unquoted 2026-03-04 into a date; producers write it as text.
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


# --- numbers ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)


_ORDER_SYMBOL = {Check.GT: ">", Check.GTE: ">=", Check.LT: "<", Check.LTE: "<="}


def _check_order(check: Check, field: str, actual: Any, value: Any) -> tuple[bool, str, Any]:
    threshold = parse_number(value)
    if threshold is None:
        return False, f"rule value {_show(value)} is not a number", actual
    if not _finite(threshold):
        return False, f"rule value {_show(value)} is not a finite number", actual
    number = parse_number(actual)
    if number is None:
        return False, f"{field} is {_show(actual)}, not a number", actual
    if not _finite(number):
        return False, f"{field} is {_show(actual)}, not a finite number", actual
    symbol = _ORDER_SYMBOL[check]
    if check == Check.GT:
        passed = number > threshold
    elif check == Check.GTE:
        passed = number >= threshold
    elif check == Check.LT:
        passed = number < threshold
    else:
        passed = number <= threshold
    if passed:
        return True, f"{field} is {_show(actual)} ({symbol} {_show(threshold)})", actual
    return False, f"{field} is {_show(actual)}, needs {symbol} {_show(threshold)}", actual


# --- ages ---------------------------------------------------------------------------------


def _check_field_age(
    check: Check, field: str, actual: Any, value: Any, now: dt.datetime
) -> tuple[bool, str, Any]:
    threshold = _threshold(value)
    instant = _as_instant(actual)
    if instant is None:
        return False, f"{field} is {_show(actual)}, not a timestamp", actual
    return _compare_age(check, field, instant, threshold, now, actual)


def _check_write_age(
    check: Check, key: str, written_at: Any, value: Any, now: dt.datetime
) -> tuple[bool, str, Any]:
    threshold = _threshold(value)
    if not isinstance(written_at, dt.datetime):
        return (
            False,
            f"sensor {_quote(key)} has no write time to measure its age (give a field)",
            None,
        )
    return _compare_age(
        check, f"sensor {_quote(key)}", _utc(written_at), threshold, now, written_at
    )


def _threshold(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError:
        raise _Unusable(f"rule value {_show(value)} is not a duration such as '2h'") from None


def _compare_age(
    check: Check,
    label: str,
    instant: dt.datetime,
    threshold: dt.timedelta,
    now: dt.datetime,
    actual: Any,
) -> tuple[bool, str, Any]:
    age = _utc(now) - instant
    if age < -FUTURE_TOLERANCE:
        ahead = _shown_duration(-age)
        return False, f"timestamp is in the future ({label} is {ahead} ahead)", actual
    # Within the tolerance a timestamp is "just now": clock skew, not a negative age.
    age = max(age, dt.timedelta(0))
    shown, limit = _shown_duration(age), format_duration(threshold)
    symbol = "<" if check == Check.AGE_LT else ">"
    passed = age < threshold if check == Check.AGE_LT else age > threshold
    if passed:
        return True, f"{label} is {shown} old ({symbol} {limit})", actual
    return False, f"{label} is {shown} old, needs {symbol} {limit}", actual


def _shown_duration(value: dt.timedelta) -> str:
    # Clocks carry microseconds; "3h0m0.482113s" helps nobody reading an alert.
    if value >= dt.timedelta(seconds=1):
        value = dt.timedelta(seconds=int(value.total_seconds()))
    return format_duration(value)


def _as_instant(value: Any) -> dt.datetime | None:
    """A UTC instant from an ISO-8601 string or epoch seconds/milliseconds; None if not one."""
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    if isinstance(value, str):
        if _ISO_LIKE.fullmatch(value):
            try:
                return _utc(dt.datetime.fromisoformat(value))
            except ValueError:
                return None
        number = parse_number(value)
    elif _is_number(value):
        number = value
    else:
        return None
    if number is None or not _finite(number):
        return None
    try:
        if abs(number) >= EPOCH_MILLISECONDS_FROM:
            return _EPOCH + dt.timedelta(milliseconds=number)
        return _EPOCH + dt.timedelta(seconds=number)
    except (OverflowError, ValueError):
        return None


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC)


# --- text ---------------------------------------------------------------------------------


def _match_mode(mode: Any) -> MatchMode:
    text = mode.value if isinstance(mode, MatchMode) else mode
    if isinstance(text, str) and text.strip().upper() == MatchMode.ANY.value:
        return MatchMode.ANY
    return MatchMode.ALL


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else _show(value)


def _quote(name: str) -> str:
    """A key or field name in double quotes (names are short; they are not truncated)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show(value: Any, depth: int = 0) -> str:
    """A short, JSON-like rendering of a value for reasons (never raises, never long)."""
    text = _render(value, depth)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return text


def _render(value: Any, depth: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Python refuses to turn ints of more than 4300 digits into text.
        if value.bit_length() > 200:
            digits = int(value.bit_length() * math.log10(2)) + 1
            sign = "-" if value < 0 else ""
            return f"{sign}<{digits}-digit integer>"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _quote(value if len(value) <= 40 else value[:40] + "…")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, Mapping | Sequence) and not isinstance(value, bytes | bytearray):
        return _render_container(value, depth)
    return f"<{type(value).__name__}>"


def _render_container(value: Mapping[Any, Any] | Sequence[Any], depth: int) -> str:
    is_map = isinstance(value, Mapping)
    opening, closing = ("{", "}") if is_map else ("[", "]")
    if depth >= 3:
        return f"{opening}…{closing}" if value else f"{opening}{closing}"
    parts: list[str] = []
    length = 0
    items: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    for item in items:
        if length > _MAX_SHOWN:
            parts.append("…")
            break
        if is_map:
            item_key, item_value = item
            part = f"{_render(str(item_key), depth + 1)}: {_render(item_value, depth + 1)}"
        else:
            part = _render(item, depth + 1)
        parts.append(part)
        length += len(part) + 2
    return opening + ", ".join(parts) + closing


def _printable(text: str) -> str:
    # Reasons end up in JSON, logs and alerts; a lone surrogate from sensor text must not
    # make those encoders fail.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
