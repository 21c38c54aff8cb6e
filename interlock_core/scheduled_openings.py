"""Which scheduled pipelines have a tick due: the controller's every-pass check, kept flat.

``interlock run`` must open a cron (or inclusion-date) run when its tick passes, not once a
minute, so it checks every pass. Checking every pipeline every 0.25 s costs a pass per
pipeline; instead this index keeps each scheduled pipeline's next tick instant in a heap, and
a pass only looks at the top: the pipelines whose tick has passed are checked (the run
opened), then wait for their following tick.

What invalidates an entry: a new config hash (the pipeline is checked at once, as a new
config may have a tick in the look-back or switch dry-run off) and a removed pipeline (its
entry is dropped). A check that fails is retried on the next pass. The minute watchdog still
checks every pipeline over the whole catch-up window, so a tick missed while the controller
was down is found there.
"""

import datetime as dt
import heapq
from collections.abc import Callable

from interlock_core import schedule
from interlock_core.config.stored import ActiveConfig
from interlock_core.engine import Interlock

# How far ahead the next tick is looked for; a pipeline without a tick by then is looked at
# again at that horizon (cheap, and it bounds the work of a rare tick).
HORIZONS = (dt.timedelta(days=1), dt.timedelta(days=8), dt.timedelta(days=366))

Check = Callable[[ActiveConfig, dt.datetime], None]


def next_tick_after(active: ActiveConfig, now: dt.datetime) -> dt.datetime:
    """The first tick strictly after ``now``, or the last horizon when there is none."""
    for horizon in HORIZONS:
        try:
            ticks = schedule.schedule_ticks(active.pipeline, now, now + horizon, limit=1_000_000)
        except ValueError:
            return now + horizon
        if ticks:
            return ticks[0]
    return now + HORIZONS[-1]


class ScheduledOpenings:
    """The next tick instant of every scheduled pipeline, soonest first.

    Args:
        engine: whose configs and store are read.
    """

    def __init__(self, engine: Interlock) -> None:
        self.engine = engine
        self._hashes: dict[str, str] = {}
        self._heap: list[tuple[dt.datetime, str, str]] = []

    def due(self, now: dt.datetime, hashes: dict[str, str]) -> list[ActiveConfig]:
        """The configs to check at ``now``: changed ones and those whose tick has passed.

        Args:
            now: the pass's instant.
            hashes: the current hash of every pipeline (``Store.config_hashes``).
        """
        changed = [pid for pid, h in hashes.items() if self._hashes.get(pid) != h]
        for pipeline_id in [pid for pid in self._hashes if pid not in hashes]:
            del self._hashes[pipeline_id]  # its heap entry is dropped when it surfaces
        due: dict[str, ActiveConfig] = {}
        for pipeline_id in changed:
            self._hashes[pipeline_id] = hashes[pipeline_id]
            active = self.engine.config(pipeline_id, hashes[pipeline_id])
            if active is not None and _scheduled(active):
                due[pipeline_id] = active
        while self._heap and self._heap[0][0] <= now:
            _, pipeline_id, config_hash = heapq.heappop(self._heap)
            if self._hashes.get(pipeline_id) != config_hash or pipeline_id in due:
                continue  # a stale entry: changed or removed since it was pushed
            active = self.engine.config(pipeline_id, config_hash)
            if active is not None:
                due[pipeline_id] = active
        return list(due.values())

    def seed(self, hashes: dict[str, str], checked_at: dt.datetime) -> None:
        """Take in pipelines not indexed yet that a full check (the watchdog) covered at
        ``checked_at``: they wait for their first tick after it instead of being checked
        again at once. Pipelines indexed already keep their entries."""
        for pipeline_id, config_hash in hashes.items():
            if pipeline_id in self._hashes:
                continue
            active = self.engine.config(pipeline_id, config_hash)
            self._hashes[pipeline_id] = config_hash
            if active is not None and _scheduled(active):
                self.checked(active, checked_at, ok=True)

    def checked(self, active: ActiveConfig, now: dt.datetime, *, ok: bool) -> None:
        """Record a check of ``active`` at ``now``: wait for its next tick, or retry next
        pass when the check failed."""
        retry_at = now if not ok else next_tick_after(active, now)
        heapq.heappush(self._heap, (retry_at, active.pipeline.id, active.hash))

    def next_instant(self) -> dt.datetime | None:
        """When the soonest scheduled tick falls (None: no scheduled pipeline)."""
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)


def _scheduled(active: ActiveConfig) -> bool:
    return bool(active.pipeline.schedule.cron or active.pipeline.schedule.include)
