"""Named exclusion calendars: ``calendars/<name>.yaml`` = ``{name, days: [...], dates: [...]}``."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from interlock_core.config.models import ConfigModel, Date, Name


class Weekday(StrEnum):
    """Day names as written in calendar files (lower case)."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def index(self) -> int:  # type: ignore[override]  # shadows str.index on purpose
        """``date.weekday()`` of this day (Monday is 0)."""
        return list(Weekday).index(self)


def _lower(value: Any) -> Any:
    # Day names are matched case-insensitively ("Saturday" is "saturday").
    return value.strip().lower() if isinstance(value, str) else value


class Calendar(ConfigModel):
    """A named set of excluded weekdays and dates."""

    name: Name
    description: str = ""
    days: list[Annotated[Weekday, BeforeValidator(_lower)]] = Field(default_factory=list)
    dates: list[Date] = Field(default_factory=list)
