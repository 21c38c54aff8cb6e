"""Periods: the data a run is for (``YYYY-MM-DD`` daily, ``YYYY-MM-DDTHH`` hourly UTC)."""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from interlock_core.config.models import Granularity
from interlock_core.sensors import Sensor, SensorError

_PERIOD = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}))?|([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2}))?"
)


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
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid period {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH")
    groups = match.groups()
    year, month, day, hour = groups[:4] if groups[0] is not None else groups[4:]
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


# --- sensors and periods (DESIGN.md §4) ---------------------------------------------------

# Only the four documented forms; parse_period also tolerates mixed ones like 2026-0304.
_SUFFIX_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2})?|[0-9]{8}(?:T[0-9]{2})?")
_DATE_FIELD_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}")
_HOUR_FIELD_FORM = re.compile(r"[0-9]{2}")

_SensorT = TypeVar("_SensorT", Sensor, dict[str, Any])


def split_period_suffix(key: str) -> tuple[str, Period | None]:
    """Split ``name#P`` into ``("name", Period)``.

    Only the last ``#`` segment counts, and only when it is a period in one of the forms
    ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY-MM-DDTHH``, ``YYYYMMDDTHH``.

    Args:
        key: a sensor key, e.g. ``ready#20260304T07``.

    Returns:
        ``(name, period)``, or ``(key, None)`` when the key carries no period suffix.
    """
    name, sep, suffix = key.rpartition("#")
    if sep and name:
        period = _strict_period(suffix)
        if period is not None:
            return name, period
    return key, None


def trigger_key_matches(trigger_key: str, sensor_key: str) -> bool:
    """Whether a sensor key is the trigger condition's key: exactly, or with a period suffix.

    ``upstream-complete`` matches ``upstream-complete`` and ``upstream-complete#2026-03-04``,
    not ``upstream-complete-test`` (Go's prefix match did).

    Args:
        trigger_key: ``schedule.trigger.key``.
        sensor_key: the key of a sensor that was written.
    """
    if sensor_key == trigger_key:
        return True
    name, period = split_period_suffix(sensor_key)
    return period is not None and name == trigger_key


def sensors_for_period(sensors: Mapping[str, _SensorT], period: str) -> dict[str, _SensorT]:
    """The sensors as seen when evaluating ``period``.

    - ``name#P`` (either form of P) is seen as ``name`` and wins over an unsuffixed ``name``;
      it also stays visible under its own key.
    - For an hourly P, ``name#<its date>`` (a day-dated sensor) counts for every hour of that
      date, as a ``date`` field alone does; the hour's own ``name#P`` wins over it.
    - Keys suffixed with any other period (including the hours of a daily P) are left out.
    - An unsuffixed sensor counts as the latest value unless its data carries a ``date``
      (``YYYY-MM-DD``/``YYYYMMDD``) naming another date, or, for an hourly P, an ``hour``
      (``"00"``..``"23"``, UTC) naming another hour. Malformed ``date``/``hour`` values are
      ignored, as in Go.

    Args:
        sensors: key -> ``Sensor`` (or key -> data dict).
        period: the period being evaluated, in any of the four forms.

    Returns:
        A new dict; the sensor objects are the originals (their ``key`` shows where they
        came from).

    Raises:
        ValueError: ``period`` is not a period.
    """
    target = parse_period(period)
    view: dict[str, _SensorT] = {}
    aliases: dict[str, _SensorT] = {}
    day_aliases: dict[str, _SensorT] = {}
    for key, sensor in sensors.items():
        name, suffix = split_period_suffix(key)
        if suffix is None:
            if _data_fits(_data_of(sensor), target):
                view[key] = sensor
            continue
        if suffix == target:
            tier = aliases
        elif target.hour is not None and suffix.hour is None and suffix.date == target.date:
            tier = day_aliases  # a day-dated sensor counts for every hour of its date
        else:
            continue
        view[key] = sensor
        current = tier.get(name)
        if current is None or _is_newer(sensor, current):
            tier[name] = sensor
    # Merged last so an alias wins over an unsuffixed key whatever the iteration order, and
    # the period's own hour wins over its day.
    for name, sensor in day_aliases.items():
        if name not in view or _period_fields(_data_of(view[name]))[1] is None:
            view[name] = sensor
    view.update(aliases)
    return view


def period_at(now: dt.datetime, granularity: Granularity | str, timezone: dt.tzinfo | str) -> str:
    """The daily or hourly period containing ``now``.

    Args:
        now: the instant (naive means UTC).
        granularity: daily -> the local date in ``timezone``; hourly -> the UTC hour.
        timezone: a ``ZoneInfo`` (any tzinfo) or an IANA name; used for daily periods only.
    """
    instant = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
    if Granularity(granularity) == Granularity.HOURLY:
        return hourly_period(instant)
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    return daily_period(instant.astimezone(zone).date())


def period_of_sensor(
    key: str,
    data: Any,
    granularity: Granularity | str,
    now: dt.datetime,
    timezone: dt.tzinfo | str,
) -> str:
    """The period a trigger sensor names (DESIGN.md §4 "Period of a run").

    In order: the key's period suffix; else the data's ``date`` and ``hour`` fields (a valid
    ``hour`` makes the period hourly; an ``hour`` without a valid ``date`` means the latest
    such UTC hour at or before ``now``); else the period containing ``now`` for
    ``granularity``. Non-string or malformed ``date``/``hour`` values are ignored, as in Go.

    Args:
        key: the sensor key (may carry a period suffix).
        data: the sensor data (anything; only a mapping's ``date``/``hour`` are read).
        granularity: the pipeline's granularity, for the fallback only.
        now: the current instant (naive means UTC).
        timezone: the schedule's zone (``ZoneInfo`` or IANA name), for the daily fallback.

    Returns:
        The canonical period string (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``).
    """
    return named_period(key, data, now) or period_at(now, granularity, timezone)


def named_period(key: str, data: Any, now: dt.datetime) -> str | None:
    """The period a sensor names itself — its key suffix, else its ``date``/``hour`` fields —
    or None when it names none (the caller decides what an undated sensor means).

    Args:
        key: the sensor key (may carry a period suffix).
        data: the sensor data.
        now: for an ``hour`` without a ``date``: the latest such UTC hour at or before it.
    """
    _, suffix = split_period_suffix(key)
    if suffix is not None:
        return str(suffix)
    date, hour = _period_fields(data)
    if hour is not None:
        if date is None:
            date = _latest_date_with_hour(now, hour)
        return str(Period(date, hour))
    if date is not None:
        return str(Period(date))
    return None


def period_copy_key(
    key: str, data: Any, now: dt.datetime, granularity: Granularity | None = None
) -> str | None:
    """The key under which a write is also kept for the period its data names (DESIGN §4
    "Each period keeps its own data"): ``name#P`` for an unsuffixed key whose ``date``/``hour``
    fields name P; None when the key already carries a period or the data names none.

    Args:
        key: the sensor key being written.
        data: the data being written.
        now: for an ``hour`` without a ``date`` (see :func:`named_period`).
        granularity: the pipeline's, when known: a daily pipeline keeps a write that names
            an hour under its date (``name#YYYY-MM-DD``), the key its daily period reads.
    """
    if split_period_suffix(key)[1] is not None:
        return None
    named = named_period(key, data, now)
    if named is None:
        return None
    if granularity == Granularity.DAILY:
        named = daily_period(parse_period(named).date)
    return f"{key}#{named}"


def check_sensor_write(key: str, data: Any) -> None:
    """Refuse a write whose key suffix and ``date``/``hour`` fields name different periods.

    ``ready#2026-03-04`` with ``{"date": "2026-03-05"}`` is refused. An ``hour`` is compared
    only when the key names an hour. Missing or malformed fields are not a disagreement.

    Args:
        key: the sensor key being written.
        data: the data being written.

    Raises:
        SensorError: naming the key, the period and the disagreeing field.
    """
    _, suffix = split_period_suffix(key)
    if suffix is None:
        return
    date, hour = _period_fields(data)
    if date is not None and date != suffix.date:
        raise SensorError(
            f"sensor {key!r}: the key names period {suffix} but data.date is "
            f"{data['date']!r}; write the data for one period"
        )
    if suffix.hour is not None and hour is not None and hour != suffix.hour:
        raise SensorError(
            f"sensor {key!r}: the key names period {suffix} but data.hour is "
            f"{data['hour']!r}; write the data for one period"
        )


def shift_period(period: str, days: int = 0, hours: int = 0) -> str:
    """Move a period by whole days and/or hours.

    Args:
        period: a period in any of the four forms.
        days: days to add (negative moves back).
        hours: hours to add; for a daily period a multiple of 24.

    Returns:
        The canonical form of the moved period.

    Raises:
        ValueError: ``period`` is not a period, or a daily period is moved by hours that do
            not add up to whole days.
    """
    parsed = parse_period(period)
    if parsed.hour is None:
        if hours % 24:
            raise ValueError(f"cannot move daily period {period!r} by {hours} hours")
        return daily_period(parsed.date + dt.timedelta(days=days + hours // 24))
    return hourly_period(parsed.start_utc + dt.timedelta(days=days, hours=hours))


def _strict_period(text: str) -> Period | None:
    if _SUFFIX_FORM.fullmatch(text) is None:
        return None
    try:
        return parse_period(text)
    except ValueError:
        return None


def _period_fields(data: Any) -> tuple[dt.date | None, int | None]:
    """The valid ``date`` and ``hour`` fields of sensor data (None where absent or invalid).

    Strings as Go wrote them (``"2026-03-04"``/``"20260304"``, ``"00"``..``"23"``), and also
    integers (``20260304``, ``0``..``23``), which Go ignored: a command line turns ``hour=10``
    into a number, and silently reading that as a daily period would open the wrong run.
    """
    if not isinstance(data, Mapping):
        return None, None
    date = None
    raw_date = data.get("date")
    # `interlock emit ... date=20260304 hour=10` stores numbers (JSON scalars): read them too.
    if isinstance(raw_date, int) and not isinstance(raw_date, bool):
        raw_date = str(raw_date)
    if isinstance(raw_date, str) and _DATE_FIELD_FORM.fullmatch(raw_date):
        digits = raw_date.replace("-", "")
        try:
            date = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            date = None
    hour = None
    raw_hour = data.get("hour")
    if isinstance(raw_hour, int) and not isinstance(raw_hour, bool) and 0 <= raw_hour <= 23:
        raw_hour = f"{raw_hour:02d}"
    if isinstance(raw_hour, str) and _HOUR_FIELD_FORM.fullmatch(raw_hour):
        hour = int(raw_hour) if int(raw_hour) <= 23 else None
    return date, hour


def _data_fits(data: Any, target: Period) -> bool:
    date, hour = _period_fields(data)
    if date is not None and date != target.date:
        return False
    return not (target.hour is not None and hour is not None and hour != target.hour)


def _data_of(sensor: Sensor | dict[str, Any]) -> Any:
    return sensor.data if isinstance(sensor, Sensor) else sensor


def _is_newer(candidate: Sensor | dict[str, Any], current: Sensor | dict[str, Any]) -> bool:
    # Both forms of one period (#2026-03-04 and #20260304) present: the later write wins.
    if isinstance(candidate, Sensor) and isinstance(current, Sensor):
        if candidate.version != current.version:
            return candidate.version > current.version
        if candidate.written_at is not None and current.written_at is not None:
            try:
                return candidate.written_at > current.written_at
            except TypeError:  # one naive, one aware: no meaningful order
                return False
    return False


def _latest_date_with_hour(now: dt.datetime, hour: int) -> dt.date:
    utc = now.astimezone(dt.UTC) if now.tzinfo is not None else now
    # At 00:10 UTC an "hour": "23" sensor is about the hour that just ended, not one 23 h ahead.
    return utc.date() if hour <= utc.hour else utc.date() - dt.timedelta(days=1)
