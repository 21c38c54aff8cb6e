"""Named exclusion calendars: ``calendars/<name>.yaml`` = ``{name, days: [...], dates: [...]}``."""

from enum import StrEnum

from pydantic import Field

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


class Calendar(ConfigModel):
    """A named set of excluded weekdays and dates."""

    name: Name
    description: str = ""
    days: list[Weekday] = Field(default_factory=list)
    dates: list[Date] = Field(default_factory=list)
