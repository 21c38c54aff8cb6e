"""Advancing every due run, fairly and without a cap (the controller's main work).

Runs are taken oldest due first from the store's due index, in batches, until none is due:
a backlog of ten thousand runs is worked off in one pass instead of waiting 4 000 at a time
for later passes. A run advanced in this call that is due again at once (a step that leaves
it due) is not taken twice: it waits for the next call, so a call always ends, and one
run can never starve the others.
"""

from collections.abc import Callable

from interlock_core import isolation
from interlock_core.engine import Interlock

BATCH = 100


def advance_every_due(
    engine: Interlock, *, stop: Callable[[], bool] = lambda: False, batch: int = BATCH
) -> int:
    """Advance every run due now, oldest due first; returns how many were advanced.

    Args:
        engine: the engine whose store holds the runs.
        stop: asked between runs; True ends the call early (a stop request).
        batch: runs read from the due index per query.
    """
    taken: set[tuple[str, str]] = set()
    count = 0
    limit = batch
    while not stop():
        due = engine.store.due_runs(engine.clock.now(), limit)
        fresh = [run for run in due if (run.pipeline_id, run.period) not in taken]
        if not fresh:
            if len(due) < limit:
                break  # nothing due but runs this call advanced already
            limit *= 2  # a page of those: read past them
            continue
        for run in fresh:
            if stop():
                break
            taken.add((run.pipeline_id, run.period))
            count += isolation.advance_isolated(engine, run)
        # Runs taken already that are still due sit at the front of the index: read past them.
        limit = batch + len(due) - len(fresh)
    return count
