"""What rules do with sensor values (DESIGN.md §3): find a field, compare type-aware, read
numbers and timestamps, and show a value in a reason.

Pure helpers shared by the rule compiler (``rule_compiler``) and the result types
(``rule_results``). None of them raises on sensor content except where documented
(``Unusable``: the value cannot be checked, the message is the rule's reason).
"""

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from interlock_core.config.durations import format_duration, parse_duration
from interlock_core.config.models import MatchMode
from interlock_core.sensors import parse_number

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
"""How far in the future a timestamp may be (clock skew) before age checks reject it."""

EPOCH_MILLISECONDS_FROM = 1e12
"""Epoch numbers at or above this (in absolute value) are milliseconds, below it seconds."""

MISSING: Any = object()
"""Stands for "no such sensor or field" (None is a value a producer may write)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_NESTING = 64
_MAX_SHOWN = 60
# ISO dates are told apart from epoch strings by shape, so "20260304" is a date, not 1970.
_ISO_LIKE = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}(?:[T ][0-9:.,+\-Zz]*)?")


class Unusable(Exception):
    """A value cannot be checked; the message is the rule's reason."""


# --- field lookup -------------------------------------------------------------------------


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``: an exact key first, else a dotted path into nested maps.

    An exact key wins at every level, so ``{"a.b": 1, "a": {"b": 2}}`` gives 1 for ``a.b``.
    Returns ``MISSING`` when there is no such field.
    """
    if path in data:
        return data[path]
    dot = path.find(".")
    while dot != -1:
        head = data.get(path[:dot], MISSING)
        if isinstance(head, Mapping):
            found = lookup(head, path[dot + 1 :])
            if found is not MISSING:
                return found
        dot = path.find(".", dot + 1)
    return MISSING


# --- equality -----------------------------------------------------------------------------


def equal(left: Any, right: Any, depth: int = 0) -> bool:
    """Type-aware equality (DESIGN.md §3) used by ``equals``, ``neq`` and ``in``.

    Raises:
        Unusable: the values are nested too deeply to compare.
    """
    if depth > _MAX_NESTING:
        # Deciding "not equal" here would make ``neq`` pass on data it never compared.
        raise Unusable("value is nested too deeply to compare")
    left, right = plain(left), plain(right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        left_bool, right_bool = as_bool(left), as_bool(right)
        return left_bool is not None and left_bool == right_bool
    if is_number(left) or is_number(right):
        left_number, right_number = parse_number(left), parse_number(right)
        return left_number is not None and right_number is not None and left_number == right_number
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            equal(a, b, depth + 1) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            equal(left[k], right[k], depth + 1) for k in left
        )
    return False


def plain(value: Any) -> Any:
    """``value`` as a producer would write it: dates (YAML reads an unquoted 2026-03-04 as
    one) as ISO text, everything else unchanged."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def as_bool(value: Any) -> bool | None:
    """A bool, or the text ``"true"``/``"false"`` in any case, as a bool; else None."""
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


def is_number(value: Any) -> bool:
    """True for ints and floats, not bools."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite(value: int | float) -> bool:
    """True for ints and finite floats."""
    return isinstance(value, int) or math.isfinite(value)


# --- ages ---------------------------------------------------------------------------------


def threshold(value: Any) -> dt.timedelta:
    """The duration of an age rule.

    Raises:
        Unusable: ``value`` is not a duration.
    """
    if isinstance(value, dt.timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError:
        raise Unusable(f"rule value {show(value)} is not a duration such as '2h'") from None


def shown_duration(value: dt.timedelta) -> str:
    """An age for a reason: whole seconds once it is a second or more."""
    # Clocks carry microseconds; "3h0m0.482113s" helps nobody reading an alert.
    if value >= dt.timedelta(seconds=1):
        value = dt.timedelta(seconds=int(value.total_seconds()))
    return format_duration(value)


def as_instant(value: Any) -> dt.datetime | None:
    """A UTC instant from an ISO-8601 string or epoch seconds/milliseconds; None if not one."""
    if isinstance(value, dt.datetime):
        return utc(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    if isinstance(value, str):
        if _ISO_LIKE.fullmatch(value):
            try:
                return utc(dt.datetime.fromisoformat(value))
            except ValueError:
                return None
        number = parse_number(value)
    elif is_number(value):
        number = value
    else:
        return None
    if number is None or not finite(number):
        return None
    try:
        if abs(number) >= EPOCH_MILLISECONDS_FROM:
            return _EPOCH + dt.timedelta(milliseconds=number)
        return _EPOCH + dt.timedelta(seconds=number)
    except (OverflowError, ValueError):
        return None


def utc(instant: dt.datetime) -> dt.datetime:
    """``instant`` in UTC; naive means UTC already."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC)


# --- text ---------------------------------------------------------------------------------


def match_mode(mode: Any) -> MatchMode:
    """ANY for ``MatchMode.ANY`` or the text "any" in any case; ALL (the stricter) otherwise."""
    text = mode.value if isinstance(mode, MatchMode) else mode
    if isinstance(text, str) and text.strip().upper() == MatchMode.ANY.value:
        return MatchMode.ANY
    return MatchMode.ALL


def as_text(value: Any) -> str:
    """``value`` if it is text, else its ``show``."""
    return value if isinstance(value, str) else show(value)


def quote(name: str) -> str:
    """A key or field name in double quotes (names are short; they are not truncated)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def show(value: Any, depth: int = 0) -> str:
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
        return quote(value if len(value) <= 40 else value[:40] + "…")
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


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped."""
    # Reasons end up in JSON, logs and alerts; a lone surrogate from sensor text must not
    # make those encoders fail.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
