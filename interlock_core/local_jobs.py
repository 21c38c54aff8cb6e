"""Jobs whose end is known on this machine: recorded within a pass, not at the next poll.

A ``command`` job's wrapper writes its outcome to a local state file the moment the child
exits, so the local runtime need not wait ``jobCheckIntervalSeconds`` (a remote service's poll
interval) to notice: every pass it reads those files — no network, no store write — and makes
the runs whose job has finished due now, for the ordinary poll step to record. Remote job
types keep their poll interval.

A runner opts in with ``exits_locally = True``: its ``status`` is a cheap local read.
"""

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from interlock_core.jobs.base import JobHandle, JobState
from interlock_core.runs import NextAction, Run, RunStatus

if TYPE_CHECKING:
    from interlock_core.engine import Interlock

log = logging.getLogger("interlock.local_jobs")

# Running jobs checked per pass (oldest polls first are not needed: each check is a file read).
MAX_CHECKED = 500


def wake_finished_local_jobs(engine: "Interlock", now: datetime) -> int:
    """Make RUNNING runs whose local job has ended due now; returns how many were woken."""
    woken = 0
    for run in engine.store.list_runs(None, [RunStatus.RUNNING], MAX_CHECKED):
        if run.next_action != NextAction.POLL or run.due_at is None or run.due_at <= now:
            continue
        try:
            woken += _wake_if_finished(engine, run, now)
        except Exception as exc:  # one run's trouble never stops the others; its poll reports it
            log.debug("local status of %s %s: %s", run.pipeline_id, run.period, exc)
    return woken


def _wake_if_finished(engine: "Interlock", run: Run, now: datetime) -> int:
    active = engine.config(run.pipeline_id, run.config_hash or None)
    job = active.pipeline.job if active is not None else None
    runner = engine.runners.get(job.type.value) if job and job.type else None
    if runner is None or not getattr(runner, "exits_locally", False):
        return 0
    status = runner.status(JobHandle(run.job_run_id or "", dict(run.job_metadata)))
    if status.state == JobState.RUNNING:
        return 0
    return 1 if engine.store.update_run(run.evolve(due_at=now), run.version) is not None else 0
