"""Interlock periods and Dagster partition keys (pure; no Dagster import).

Dagster's daily partitions use ``YYYY-MM-DD`` (an Interlock period as is); its hourly
partitions use ``YYYY-MM-DD-HH:MM``, which Interlock writes ``YYYY-MM-DDTHH``.
"""

import re

from interlock_core import periods

_DAGSTER_HOURLY = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d{2}):00")


def partition_key_candidates(period: str) -> list[str]:
    """The partition keys a partitioned target may use for ``period``, most likely first."""
    parsed = periods.parse_period(period)
    if parsed.hour is None:
        return [str(parsed), parsed.compact]
    day = parsed.date.isoformat()
    return [f"{day}-{parsed.hour:02d}:00", str(parsed), f"{day}T{parsed.hour:02d}:00"]


def period_of_partition_key(partition_key: str) -> str | None:
    """The period a partition key names, or None when it names none (``"us-east"``)."""
    match = _DAGSTER_HOURLY.fullmatch(partition_key)
    if match is not None:
        partition_key = f"{match.group(1)}T{match.group(2)}"
    try:
        return periods.normalize_period(partition_key)
    except ValueError:
        return None
