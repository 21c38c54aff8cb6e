"""Go-syntax durations (``90s``, ``1h30m``, ``-1d``) with an extra ``d`` (24 h) unit."""

import re
from datetime import timedelta

_UNIT_MICROSECONDS: dict[str, float] = {
    "ns": 0.001,
    "us": 1.0,
    "µs": 1.0,
    "μs": 1.0,
    "ms": 1_000.0,
    "s": 1_000_000.0,
    "m": 60_000_000.0,
    "h": 3_600_000_000.0,
    "d": 86_400_000_000.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string, extended with a ``d`` unit.

    Args:
        text: e.g. ``"90s"``, ``"1h30m"``, ``"2h"``, ``"1d"``, ``"-1d"``, ``"0"``.

    Returns:
        The duration as a ``timedelta`` (sub-microsecond parts are rounded).

    Raises:
        ValueError: the text is not a duration; the message names the text.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string such as '1h30m'")
    s = text.strip()
    if s != text or not s:
        raise ValueError(f"invalid duration {text!r}: expected a string such as '1h30m'")
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    pos = 0
    total_us = 0.0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: use numbers with units ns, us, ms, s, m, h, d "
                "(e.g. '90s', '1h30m', '1d')"
            )
        total_us += float(match.group(1)) * _UNIT_MICROSECONDS[match.group(2)]
        pos = match.end()
    return timedelta(microseconds=sign * round(total_us))


def format_duration(value: timedelta) -> str:
    """Format a duration the way Go's ``time.Duration.String`` does (``2h0m0s``, ``1m30s``).

    Whole days are written as hours, like Go; sub-second values use ``ms``/``us``.
    """
    total_us = round(value.total_seconds() * 1_000_000)
    if total_us == 0:
        return "0s"
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    if total_us < 1_000_000:
        if total_us < 1_000:
            return f"{sign}{total_us}µs"
        return f"{sign}{_trim(total_us / 1_000)}ms"
    hours, rest = divmod(total_us, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = _trim(rest / 1_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(number: float) -> str:
    text = f"{number:.6f}".rstrip("0").rstrip(".")
    return text or "0"
