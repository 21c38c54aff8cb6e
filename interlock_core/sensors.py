"""Sensors: the small JSON documents producers write, and their validation at the edge."""

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_SENSOR_BYTES = 64 * 1024
# Deeper documents are refused at the edge: reading one back (json, rules, the stores) would
# recurse past Python's limit and fail every controller pass that touches its pipeline.
MAX_SENSOR_DEPTH = 64
NAME_PATTERN = re.compile(r"[A-Za-z0-9._:#-]{1,200}")


class SensorError(ValueError):
    """A sensor write was refused; the message says which part is wrong."""


@dataclass(frozen=True)
class Sensor:
    """One sensor document as stored.

    Attributes:
        key: the sensor key as written (may carry a ``#<period>`` suffix).
        data: the JSON object the producer wrote.
        written_at: when the store accepted the write (timezone-aware UTC).
        version: per-pipeline monotonically increasing write counter.
    """

    key: str
    data: dict[str, Any] = field(default_factory=dict)
    written_at: datetime | None = None
    version: int = 0


def validate_name(kind: str, value: object) -> str:
    """Check a pipeline id or sensor key against ``[A-Za-z0-9._:#-]{1,200}``.

    Raises:
        SensorError: naming ``kind`` and the offending value.
    """
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise SensorError(
            f"invalid {kind} {value!r}: use 1-200 characters from letters, digits and . _ : # -"
        )
    return value


def _check_shape(key: str, data: dict[str, Any]) -> None:
    """Depth and text checks, iteratively: a deep document must not overflow our own stack."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_SENSOR_DEPTH:
                raise SensorError(
                    f"sensor {key!r}: data is nested more than {MAX_SENSOR_DEPTH} levels deep"
                )
            if isinstance(value, dict):
                for name, item in value.items():
                    _check_text(key, name)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(key, value)


def _check_text(key: str, text: object) -> None:
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # A lone surrogate is not Unicode text: stores and JSON readers choke on it later.
            raise SensorError(
                f"sensor {key!r}: data holds a string that is not valid Unicode "
                f"(lone surrogate at position {exc.start})"
            ) from None


def validate_sensor_data(key: str, data: object) -> dict[str, Any]:
    """Check that sensor data is a JSON object of at most 64 KiB, nested at most 64 levels,
    with finite numbers and valid Unicode text.

    Returns:
        The data, unchanged.

    Raises:
        SensorError: the data is not an object, not JSON-serialisable, too deep or too large.
    """
    if not isinstance(data, dict):
        raise SensorError(f"sensor {key!r}: data must be a JSON object, got {type(data).__name__}")
    _check_shape(key, data)
    try:
        encoded = json.dumps(data, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise SensorError(f"sensor {key!r}: data is not valid JSON ({exc})") from exc
    size = len(encoded.encode("utf-8"))
    if size > MAX_SENSOR_BYTES:
        raise SensorError(
            f"sensor {key!r}: data is {size} bytes, more than the limit of {MAX_SENSOR_BYTES}"
        )
    return data


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_number(value: object) -> int | float | None:
    """An int or float from a number or a numeric string; None for anything else.

    Strings follow Go's ``ParseFloat`` closely enough: no surrounding whitespace, no
    underscores; exponents (``"1e3"``) are fine. Integer strings stay exact ints. Bools are
    not numbers. The result may be infinite or NaN for float inputs; callers check finiteness.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str) or _NUMBER.fullmatch(value) is None:
        return None
    if _INTEGER.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # longer than Python's int-from-text digit limit
            pass
    return float(value)


def is_finite_number(value: object) -> bool:
    """True for ints and finite floats (bools are not numbers here)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)
