"""Periods: the data a run is for (``YYYY-MM-DD`` daily, ``YYYY-MM-DDTHH`` hourly UTC)."""

import datetime as dt
import re
from dataclasses import dataclass

from interlock_core.config.models import Granularity

_PERIOD = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}))?$")


@dataclass(frozen=True, order=True)
class Period:
    """A parsed period: a date and, for hourly periods, the UTC hour."""

    date: dt.date
    hour: int | None = None

    @property
    def granularity(self) -> Granularity:
        """Daily or hourly."""
        return Granularity.DAILY if self.hour is None else Granularity.HOURLY

    def __str__(self) -> str:
        if self.hour is None:
            return self.date.isoformat()
        return f"{self.date.isoformat()}T{self.hour:02d}"

    @property
    def compact(self) -> str:
        """``YYYYMMDD`` or ``YYYYMMDDTHH`` (the other suffix form producers use)."""
        base = self.date.strftime("%Y%m%d")
        return base if self.hour is None else f"{base}T{self.hour:02d}"

    @property
    def start_utc(self) -> dt.datetime:
        """For hourly periods, the UTC instant the hour starts (daily periods: midnight UTC)."""
        return dt.datetime.combine(self.date, dt.time(self.hour or 0), tzinfo=dt.UTC)


def parse_period(text: str) -> Period:
    """Parse ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY-MM-DDTHH`` or ``YYYYMMDDTHH``.

    Raises:
        ValueError: naming the text, when it is not a valid period.
    """
    match = _PERIOD.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid period {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH")
    year, month, day, hour = match.groups()
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError as exc:
        raise ValueError(f"invalid period {text!r}: {exc}") from exc
    if hour is not None and not 0 <= int(hour) <= 23:
        raise ValueError(f"invalid period {text!r}: hour must be 00-23")
    return Period(date, int(hour) if hour is not None else None)


def normalize_period(text: str) -> str:
    """The canonical form of a period string (``20260304T07`` → ``2026-03-04T07``)."""
    return str(parse_period(text))


def daily_period(date: dt.date) -> str:
    """The daily period of ``date``."""
    return date.isoformat()


def hourly_period(instant: dt.datetime) -> str:
    """The hourly period containing ``instant`` (its UTC hour)."""
    utc = instant.astimezone(dt.UTC)
    return f"{utc.date().isoformat()}T{utc.hour:02d}"
