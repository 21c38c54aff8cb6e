"""How time reaches the engine: a real clock in production, a settable one in tests."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current instant (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """Return the current instant."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current UTC instant."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests, scenarios and the demo."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current instant."""
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (timezone-aware)."""
        if instant.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant."""
        with self._lock:
            self._now = self._now + delta
            return self._now
