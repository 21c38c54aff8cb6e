"""The local engine: the store a URL names, with every job runner wired in (built lazily).

Apart from :mod:`interlock_core.runtime` (the controller loop, which re-exports these): the
short commands (``interlock emit``, ``evaluate``, ``status``) build an engine but never run the
loop, so they skip its imports (issue 13).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from interlock_core.clock import Clock, SystemClock
from interlock_core.engine import Interlock
from interlock_core.storage import open_store

if TYPE_CHECKING:
    from interlock_core.alerts.base import AlertSink
    from interlock_core.jobs.base import JobRunner
    from interlock_core.jobs.policy import JobPolicy
    from interlock_core.storage.base import Store

DEFAULT_STORE = "sqlite:///./interlock.db"


def settings_path(pipelines_dir: Path) -> Path | None:
    """The ``interlock.yaml`` of a pipelines directory, when there is one."""
    from interlock_core.alerts.routing import alert_config_path

    path = alert_config_path(pipelines_dir)
    return path if path.exists() else None


def state_dir_for(store_url: str, store: "Store | None" = None) -> Path:
    """Where command jobs keep their state: beside the SQLite file in a folder of that store
    (shared by every local controller of it), in the user's state home for shared stores
    (PostgreSQL…), or a private temporary folder for ``memory://``.
    See :mod:`interlock_core.jobs.state_dir`."""
    # Imported here: it pulls in tempfile and shutil, which only a submitting command needs.
    from interlock_core.jobs.state_dir import state_dir_for as job_state_dir

    return job_state_dir(store_url, store)


def build_engine(
    store_url: str = DEFAULT_STORE,
    *,
    alerts: "AlertSink | None" = None,
    clock: Clock | None = None,
    runners: "dict[str, JobRunner] | None" = None,
    pipelines_dir: str | Path | None = None,
    policy: "JobPolicy | None" = None,
) -> Interlock:
    """An engine on ``store_url`` with every job runner wired in.

    Args:
        store_url: ``sqlite:///path.db`` (default ``./interlock.db``) or ``memory://``.
        alerts: where published events go besides the event log.
        clock: the clock (system clock by default).
        runners: job runners to use instead of the defaults (tests).
        pipelines_dir: the pipelines directory whose ``interlock.yaml`` holds the operator's
            limits on jobs (``jobs``: env allow-list, job types, private networks).
        policy: those limits given directly (wins over ``pipelines_dir``).
    """
    from interlock_core.jobs.policy import load_job_policy
    from interlock_core.jobs.registry import default_runners

    if runners is None and policy is None:
        policy = load_job_policy(
            settings_path(Path(pipelines_dir)) if pipelines_dir is not None else None
        )
    store = open_store(store_url)
    if runners is None:
        # Created by the command runner on its first submit, not by every read-only command.
        runners = default_runners(lambda: state_dir_for(store_url, store), policy=policy)
    return Interlock(store, runners, clock or SystemClock(), alerts)
