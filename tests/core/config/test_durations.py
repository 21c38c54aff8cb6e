"""Go duration grammar (plus the ``d`` unit) and Go's ``Duration.String`` format."""

from datetime import timedelta

import pytest

from interlock_core.config import format_duration, parse_duration

PARSE_CASES = [
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1.5h", timedelta(hours=1, minutes=30)),
    ("90s", timedelta(seconds=90)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    ("-1d", timedelta(days=-1)),
    ("+5m", timedelta(minutes=5)),
    ("0", timedelta(0)),
    ("-0", timedelta(0)),
    ("0s", timedelta(0)),
    ("300ms", timedelta(milliseconds=300)),
    ("1µs", timedelta(microseconds=1)),
    ("1μs", timedelta(microseconds=1)),  # Greek mu, which Go also accepts
    ("1us", timedelta(microseconds=1)),
    ("1500ns", timedelta(microseconds=2)),  # rounded to timedelta's resolution
    (".5h", timedelta(minutes=30)),
    ("1h1m1s1ms", timedelta(hours=1, minutes=1, seconds=1, milliseconds=1)),
    ("2h45m", timedelta(hours=2, minutes=45)),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["1x", "", " 1h", "1h ", "h", "1", "1.5", "1h30", "1H", "--1h", "1h-30m", ".h", "1 h"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid duration {text!r}"):
        parse_duration(text)


def test_parse_duration_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="invalid duration 5"):
        parse_duration(5)  # type: ignore[arg-type]


FORMAT_CASES = [
    (timedelta(hours=1, minutes=30), "1h30m0s"),
    (timedelta(hours=2), "2h0m0s"),
    (timedelta(days=1), "24h0m0s"),
    (timedelta(days=-1), "-24h0m0s"),
    (timedelta(seconds=90), "1m30s"),
    (timedelta(seconds=1.5), "1.5s"),
    (timedelta(0), "0s"),
    (timedelta(milliseconds=300), "300ms"),
    (timedelta(microseconds=1), "1µs"),
    (timedelta(microseconds=1500), "1.5ms"),
    (timedelta(minutes=5), "5m0s"),
]


@pytest.mark.parametrize(("value", "expected"), FORMAT_CASES)
def test_format_duration(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize("text", ["1h30m", "90s", "-1d", "300ms", "1µs", "2h45m10.5s"])
def test_format_round_trips(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
