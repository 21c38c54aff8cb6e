"""Advancing every due run, fairly and without a cap (the controller's main work).

Runs are taken oldest due first from the store's due index, in batches, until none is due:
a backlog of ten thousand runs is worked off in one pass instead of waiting 4 000 at a time
for later passes. A run advanced in this call that is due again at once (a step that leaves
it due) is not taken twice: it waits for the next call, so a call always ends, and one
run can never starve the others.

Grouped writes
--------------
Each batch is one *group*. Every WAITING run due for evaluation has its gate evaluated and
its decision made first; then all of those decisions are written in ONE transaction
(:meth:`Store.update_runs_with_events`, each run still its own compare-and-set: a run whose
version moved meanwhile is skipped, never overwritten). Runs that moved to SUBMITTING are
then submitted one by one, and the records of their submits (RUNNING, a retry, a failure)
are written in one more transaction. On SQLite that is two commits (fsyncs) per group instead
of two per run. What a crash leaves at each point, and how the next pass handles it:

1. While deciding: nothing is written and no job started; the runs stay due and are decided
   again.
2. After the group write, before a submit: the runs are SUBMITTING with this controller's
   lease and their attempt token, and no job started. Once the lease expires the lease resume
   (``lifecycle.decide_expired_lease``) submits again with the same token.
3. After submits, before the group write of their records: jobs started but their runs still
   read SUBMITTING. The lease resume submits again with the same token, and the target adopts
   the job it already has instead of starting another.

A healthy controller never lets a claim's lease run out while it works through the group:
once half a lease is spent (deciding or submitting), it writes the records of the runs
submitted so far and renews the leases of the rest (one commit each; a compare-and-set that
wins proves nobody resumed the run meanwhile), so other controllers resume only the runs of
a controller that died or of a single submit that hung past its lease.

Cases 2 and 3 are safe only for runners whose target deduplicates on the token
(``dedups_on_token``). For any other runner (and for job-less pipelines) a resume cannot tell
whether the job started and makes the run UNCERTAIN (an operator resolves it); so those runs
keep the one-run path (``Interlock.advance``): one commit per step with the submit between
them, so the window in which a crash leaves a run UNCERTAIN stays one submit long and covers
one run, not a group.

Decisions of a grouped run that do not submit (the gate fails and the run waits, the window
closes, a dry run, a removed pipeline) have no side effect outside the store: grouping them
only changes how many fsyncs a pass takes. A failing group write (a run the store refuses)
is retried run by run, so one bad run still cannot stop the others. Polls, cancels and
submit retries are advanced one run at a time, as before.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from interlock_core import isolation, lifecycle
from interlock_core.engine import MAX_STEPS_PER_ADVANCE, Interlock
from interlock_core.lifecycle import Transition
from interlock_core.runs import NextAction, Run, RunStatus
from interlock_core.storage.base import RunUpdate

if TYPE_CHECKING:
    from interlock_core.config.stored import ActiveConfig

log = logging.getLogger("interlock.advancing")

BATCH = 100

T = TypeVar("T")


def advance_every_due(
    engine: Interlock, *, stop: Callable[[], bool] = lambda: False, batch: int = BATCH
) -> int:
    """Advance every run due now, oldest due first; returns how many were advanced.

    Args:
        engine: the engine whose store holds the runs.
        stop: asked between runs; True ends the call early (a stop request).
        batch: runs read from the due index per query (and written per group).
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
        taken.update((run.pipeline_id, run.period) for run in fresh)
        count += advance_group(engine, fresh, stop=stop)
        # Runs taken already that are still due sit at the front of the index: read past them.
        limit = batch + len(due) - len(fresh)
    return count


def advance_group(
    engine: Interlock, runs: Iterable[Run], *, stop: Callable[[], bool] = lambda: False
) -> int:
    """Advance ``runs`` (as the due index returned them, oldest due first) with grouped
    writes (see the module docstring); returns how many were advanced without failing.

    Args:
        engine: the engine whose store holds the runs.
        runs: due runs; each is taken once.
        stop: asked before each run is decided and each job submitted; True ends the group
            early. Runs claimed but not yet submitted then have their lease released (no job
            started), so the next pass submits them without waiting for the lease to expire.
    """
    engine.hold_secrets(True)
    try:
        return _Group(engine, stop).advance(runs)
    finally:
        engine.hold_secrets(False)


@dataclass(frozen=True)
class _Decision:
    """One run's decided step, not yet written."""

    due: Run  # as the due index returned it: what is pushed back if the run fails
    before: Run  # what the write compares against
    transition: Transition
    active: "ActiveConfig"
    now: datetime


def _evaluates(run: Run, now: datetime) -> bool:
    return (
        run.status == RunStatus.WAITING
        and run.next_action == NextAction.EVALUATE
        and run.due_at is not None
        and run.due_at <= now
    )


def _half_spent(lease_end: datetime, active: "ActiveConfig", now: datetime) -> bool:
    """Whether less than half of a claimed run's submit lease is left."""
    return lease_end - now < lifecycle.submit_lease(active.pipeline) / 2


def _claims(transition: Transition) -> bool:
    return transition.run is not None and transition.run.status == RunStatus.SUBMITTING


class _Group:
    """The work on one group of due runs; counts the runs whose advance failed."""

    def __init__(self, engine: Interlock, stop: Callable[[], bool]) -> None:
        self.engine = engine
        self.stop = stop
        self.failed = 0

    def advance(self, runs: Iterable[Run]) -> int:
        engine = self.engine
        seen = 0
        decided: list[_Decision] = []
        for run in runs:
            if self.stop():
                break
            seen += 1
            now = engine.clock.now()
            if not (_evaluates(run, now) and self._groups(run)):
                # Polls, cancels, submit retries, and runs whose target cannot deduplicate on
                # the token: one at a time, one commit per step, as ``advance`` does.
                self.failed += not isolation.advance_isolated(engine, run)
                continue
            _, decision = self._isolated(run, partial(self._decide, run, now))
            if decision is None:
                continue
            if _claims(decision.transition) and not engine._dedups(decision.active):
                # Its current config changed to a runner that cannot deduplicate: a resume
                # could not tell whether this job started, so one commit per step.
                self._isolated(run, partial(self._advance_alone, decision))
                continue
            decided.append(decision)
        written = self._write(decided)
        claimed = [(d, run) for d, run in written if run.status == RunStatus.SUBMITTING]
        follow = [run for d, run in written if run.status != RunStatus.SUBMITTING]
        submitted: list[_Decision] = []
        position = 0
        while position < len(claimed):
            decision, run = claimed[position]
            if self.stop():
                self._release([run for _, run in claimed[position:]])
                break
            lease_end = run.lease_expires_at
            now = engine.clock.now()
            if lease_end is not None and _half_spent(lease_end, decision.active, now):
                # The group's decisions or submits have taken half a lease (or all of it):
                # write the records of those submitted and renew the leases of the rest, or a
                # healthy controller would let other controllers resubmit its runs (their
                # records would still read SUBMITTING once the leases ran out). A lease that
                # ran out is renewed too: a compare-and-set that wins proves no controller
                # resumed the run meanwhile (a resume writes it first).
                follow.extend(run for _, run in self._write(submitted))
                submitted = []
                claimed[position:] = self._renew(claimed[position:], now)
                continue
            position += 1
            _, result = self._isolated(
                decision.due,
                partial(engine._submit_transition, run, decision.active),
            )
            if result is not None:
                transition, now = result
                submitted.append(_Decision(decision.due, run, transition, decision.active, now))
        follow.extend(run for _, run in self._write(submitted))
        for run in follow:  # a step that left the run due now: go on, as ``advance`` does
            self._isolated(run, partial(engine._advance_from, run, MAX_STEPS_PER_ADVANCE - 1))
        return seen - self.failed

    def _groups(self, run: Run) -> bool:
        """Whether the run's job target deduplicates on the token (its writes may be grouped).

        Asked of the config the attempt follows now; a config changed since is checked again
        once the run is decided."""
        try:
            return self.engine._dedups(self.engine._config_for(run))
        except Exception:  # an unknown pipeline and the like: ``advance`` records it
            return False

    def _decide(self, run: Run, now: datetime) -> _Decision:
        before, transition, active = self.engine._decide_waiting(
            run, self.engine._config_for(run), now
        )
        return _Decision(run, before, transition, active, now)

    def _advance_alone(self, decision: _Decision) -> None:
        """Today's path for one run: the claim committed alone, the submit, its record."""
        engine = self.engine
        stored = engine._commit(decision.before, decision.transition, decision.now)
        if stored is not None and stored.status == RunStatus.SUBMITTING:
            stored = engine._submit(stored, decision.active)
        engine._advance_from(stored, MAX_STEPS_PER_ADVANCE - 1)

    def _write(self, decisions: list[_Decision]) -> list[tuple[_Decision, Run]]:
        """Write the decisions, grouped; returns the runs written (lost compare-and-sets and
        failed runs left out: a lost run belongs to whoever moved it)."""
        engine = self.engine
        written: list[tuple[_Decision, Run]] = []
        writes = []
        for decision in decisions:
            if decision.transition.run is None:  # nothing to write: its events only
                self._isolated(
                    decision.due,
                    partial(engine._commit, decision.before, decision.transition, decision.now),
                )
                continue
            _, write = self._isolated(
                decision.due,
                partial(engine._prepare_write, decision.before, decision.transition, decision.now),
            )
            if write is not None:
                writes.append((decision, write))
        if not writes:
            return written
        stored_all: list[Run | None] | None
        try:
            stored_all = engine.store.update_runs_with_events(
                [
                    RunUpdate(write.run, write.before.version, tuple(write.events.with_run))
                    for _, write in writes
                ]
            )
        except Exception:
            # One run the store refuses must not stop the others: each is written alone.
            log.warning("a grouped write of %d runs failed; writing them one by one", len(writes))
            stored_all = None
        for index, (decision, write) in enumerate(writes):
            if stored_all is None:
                _, stored = self._isolated(
                    decision.due,
                    partial(
                        engine.store.update_run_with_events,
                        write.run,
                        write.before.version,
                        write.events.with_run,
                    ),
                )
            else:
                stored = stored_all[index]
            if stored is None:
                continue
            done, _ = self._isolated(
                decision.due,
                partial(engine._after_write, stored, write, decision.now),
            )
            if done:
                written.append((decision, stored))
        return written

    def _renew(
        self, claims: list[tuple[_Decision, Run]], now: datetime
    ) -> list[tuple[_Decision, Run]]:
        """Give claimed runs not yet submitted a fresh lease (one grouped write, each its own
        compare-and-set); returns those renewed. A run lost meanwhile belongs to whoever moved
        it; when the write fails the runs keep their old leases and are left to the lease
        resume (not submitted here: their leases may run out during the submits)."""
        updates = []
        for decision, run in claims:
            lease = lifecycle.submit_lease(decision.active.pipeline)
            updates.append(
                RunUpdate(
                    run.evolve(lease_expires_at=now + lease, due_at=now + lease, updated_at=now),
                    run.version,
                )
            )
        try:
            stored = self.engine.store.update_runs_with_events(updates)
        except Exception:
            log.exception("could not renew the leases of %d claimed runs", len(claims))
            return []
        return [(d, run) for (d, _), run in zip(claims, stored, strict=True) if run is not None]

    def _release(self, runs: list[Run]) -> None:
        """Give up the lease of claimed runs whose job was not submitted (a stop request):
        nothing started, so the next pass may submit them at once (with their token)."""
        now = self.engine.clock.now()
        updates = [
            RunUpdate(
                run.evolve(lease_owner=None, lease_expires_at=None, due_at=now, updated_at=now),
                run.version,
            )
            for run in runs
        ]
        try:
            self.engine.store.update_runs_with_events(updates)
        except Exception:  # they keep the lease: resumed once it expires, as after a crash
            log.exception("could not release %d claimed runs", len(runs))

    def _isolated(self, run: Run, work: Callable[[], T]) -> tuple[bool, T | None]:
        """``work`` for ``run``, isolated: a failure is recorded, counted and pushed back."""
        done, result = isolation.isolated(
            self.engine, run.pipeline_id, "advance", work, period=run.period, attempt=run.attempt
        )
        if not done:
            self.failed += 1
            isolation.push_back(self.engine, run)
        return done, result
