"""The ``command`` job: a local program run as a detached, supervised child process.

``submit`` starts the wrapper (``python -I .../command_wrapper.py <state_dir>/<token>.json``) in a
new session and returns at once; the wrapper runs the argv (never through a shell), enforces the
timeout and records the exit status in the state file. Everything about the job lives in three
files named after the idempotency token, so any controller process can poll or cancel it:

- ``<token>.json`` the state file (spec, then pids, then the outcome), replaced atomically;
- ``<token>.log`` the job's stdout and stderr, plus the wrapper's notes;
- ``<token>.lock`` held (``flock``) by the wrapper while it lives.

All three are created readable by their owner only (the log holds the job's output).

The environment is an allow-list: the child sees ``PATH``, ``HOME``, ``LANG``, ``LC_ALL``,
``TZ`` and ``TMPDIR`` when the controller has them (not credentials; programs need them to start),
the names listed in the config's ``env``, the fixed ``environment`` values, and
``INTERLOCK_PIPELINE``, ``INTERLOCK_PERIOD``, ``INTERLOCK_ATTEMPT``, ``INTERLOCK_TOKEN``. The
wrapper itself is started with only the baseline and allow-listed names (the rest comes from the
state file), so the job cannot read the controller's secrets from its parent's
``/proc/<pid>/environ`` either.
"""

import contextlib
import fcntl
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from interlock_core.config.jobs import CommandJob
from interlock_core.jobs.base import (
    FailureCategory,
    JobError,
    JobHandle,
    JobState,
    JobStatus,
    RunContext,
    expect_config,
    run_variables,
)
from interlock_core.jobs.command_wrapper import (
    BASELINE_ENV,
    DEFAULT_MAX_LOG_BYTES,
    group_alive,
    now_iso,
    open_private,
    read_json,
    write_json_atomic,
)
from interlock_core.jobs.netguard import not_started
from interlock_core.jobs.state_dir import UnsafeStateDir, check_private_dir

logger = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Exit codes that mean "this command cannot run at all": retrying the same config cannot help.
PERMANENT_EXIT_CODES = frozenset({126, 127})
# The wrapper runs as a script in isolated mode (-I: no script directory, PYTHON* variables or
# user site on sys.path) rather than ``-m interlock_core...``: importing the package would load
# the whole engine for every job start, and the wrapper needs only the standard library.
_WRAPPER = str(Path(__file__).resolve().with_name("command_wrapper.py"))


def command_argv(job: CommandJob) -> list[str]:
    """The argv of a command job: the list as given, or the string split like a shell would
    split words (quotes respected) — but never interpreted by one."""
    if isinstance(job.command, str):
        try:
            argv = shlex.split(job.command)
        except ValueError as exc:
            raise JobError(f"cannot split command: {exc}", FailureCategory.PERMANENT) from exc
    else:
        argv = list(job.command)
    if not argv:
        raise JobError("command is empty", FailureCategory.PERMANENT)
    return argv


def wrapper_environment(job: CommandJob, parent: dict[str, str]) -> dict[str, str]:
    """The wrapper's environment: the baseline names and the job's ``env`` allow-list, taken
    from ``parent`` (the controller's). Nothing else: the job can read its parent's
    environment, and the controller's may hold credentials."""
    names = [*BASELINE_ENV, *job.env]
    return {name: parent[name] for name in names if name in parent}


def status_from_record(record: dict[str, Any]) -> JobStatus:
    """Map a finished state record to a JobStatus (see the module's failure table)."""
    exit_code = record.get("exit_code")
    log_hint = f"; log: {record.get('log_file')}" if record.get("log_file") else ""
    if record.get("cancelled"):
        return JobStatus(JobState.FAILED, FailureCategory.TRANSIENT, "cancelled" + log_hint)
    if record.get("timed_out"):
        return JobStatus(
            JobState.FAILED,
            FailureCategory.TIMEOUT,
            f"timed out after {record.get('spec', {}).get('timeout')} s; the process group was "
            f"killed{log_hint}",
        )
    if exit_code == 0:
        return JobStatus(JobState.SUCCEEDED, message="exit code 0")
    error = record.get("error")
    detail = f": {error}" if error else ""
    if isinstance(exit_code, int) and exit_code < 0:
        return JobStatus(
            JobState.FAILED,
            FailureCategory.TRANSIENT,
            f"killed by signal {-exit_code}{detail}{log_hint}",
        )
    category = (
        FailureCategory.PERMANENT
        if exit_code in PERMANENT_EXIT_CODES
        else FailureCategory.TRANSIENT
    )
    return JobStatus(JobState.FAILED, category, f"exit code {exit_code}{detail}{log_hint}")


def _check_token(token: str) -> None:
    if not _TOKEN.match(token):
        raise JobError(f"token {token!r} is not usable in a file name", FailureCategory.PERMANENT)


def _job_group(record: dict[str, Any] | None) -> int | None:
    """The job's process group: recorded, or — when the supervisor died between starting the
    job and recording it — found by the job's ``INTERLOCK_TOKEN`` (Linux ``/proc``), so a job
    that runs is never reported failed (a retry would run beside it)."""
    if not record:
        return None
    pgid = record.get("pgid")
    if isinstance(pgid, int):
        return pgid
    token = record.get("token")
    if record.get("phase") == "finished" or not isinstance(token, str):
        return None
    return find_job_group(token)


def find_job_group(token: str) -> int | None:
    """The process group of a live process whose environment holds ``INTERLOCK_TOKEN=token``
    and leads its own group (the job's first process), or None."""
    wanted = f"INTERLOCK_TOKEN={token}".encode()
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if wanted not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == entry:
            return int(entry)
    return None


def supervisor_alive(lock_file: Path) -> bool:
    """True while some process (the wrapper, or a runner mid-submit) holds the job's lock."""
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class CommandRunner:
    """Runs ``command`` jobs as detached, supervised processes recorded under ``state_dir``.

    Args:
        state_dir: where state, log and lock files live; every controller that may poll these
            jobs must use the same directory. A callable is asked for it on first use (it
            may create and check the folder, see :mod:`interlock_core.jobs.state_dir`).
        kill_grace: seconds between SIGTERM and SIGKILL when a job times out or is cancelled.
        cancel_wait: extra seconds ``cancel`` waits for the wrapper to record the cancel.
        python: the interpreter that runs the wrapper (default: this one).
        environ: the environment jobs may draw from (default ``os.environ``; the runtime
            passes the operator's policy view, see :mod:`interlock_core.jobs.policy`).
        max_log_bytes: the cap of each job's log; the oldest output beyond it is dropped.
    """

    job_type = "command"
    dedups_on_token = True  # a repeat adopts the job of the same token
    exits_locally = True  # status is a local file read: the runtime checks it every pass

    def __init__(
        self,
        state_dir: Path | Callable[[], Path],
        *,
        kill_grace: float = 5.0,
        cancel_wait: float = 5.0,
        python: str = sys.executable,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> None:
        self._state_dir_source = state_dir
        self._state_dir: Path | None = None
        self.kill_grace = kill_grace
        self.cancel_wait = cancel_wait
        self._python = python
        self._environ = environ
        self.max_log_bytes = max_log_bytes
        self._sleep = sleep
        # Wrappers this process started: polled so they do not linger as zombies.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def state_dir(self) -> Path:
        """The state folder (resolved on first use), private to this user."""
        if self._state_dir is None:
            source = self._state_dir_source
            folder = source() if callable(source) else Path(source)
            # Absolute, because the wrapper runs in another working directory.
            folder = folder.absolute()
            if not folder.exists():
                os.makedirs(folder.parent, mode=0o700, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o700)
            check_private_dir(folder)
            self._state_dir = folder
        return self._state_dir

    def _parent_environment(self, config: CommandJob) -> dict[str, str]:
        """What the job may take from the controller's environment (the operator's policy
        hides Interlock's own variables and anything not allow-listed)."""
        if self._environ is None:
            return dict(os.environ)
        refusal = getattr(self._environ, "refusal", None)
        if callable(refusal):
            for name in config.env:
                reason = refusal(name)
                if reason is not None:
                    raise JobError(str(reason), FailureCategory.PERMANENT, may_have_started=False)
        allowed = dict(self._environ)
        # PATH, HOME, LANG, ... are not credentials: a jobs.env allow-list that does not name
        # them must not leave every command without a PATH (only /bin:/usr/bin) or HOME.
        parent = getattr(self._environ, "parent", os.environ)
        for name in BASELINE_ENV:
            if name not in allowed and name in parent:
                allowed[name] = parent[name]
        return allowed

    def _describe_state_dir(self) -> str:
        source = self._state_dir or self._state_dir_source
        return str(source) if not callable(source) else "of the store"

    def paths(self, token: str) -> tuple[Path, Path, Path]:
        """``(state_file, log_file, lock_file)`` for ``token``."""
        _check_token(token)
        base = self.state_dir / token
        return base.with_suffix(".json"), base.with_suffix(".log"), base.with_suffix(".lock")

    def submit(self, job: BaseModel, run: RunContext, token: str) -> JobHandle:
        """Start the job detached and return at once; an existing job for ``token`` is adopted.

        Raises:
            JobError: PERMANENT for an unusable command or token, TRANSIENT when the state
                directory cannot be written or the wrapper process could not be started; in
                all these cases with ``may_have_started`` False (no job runs).
        """
        with not_started():
            config = expect_config(job, CommandJob)
            argv = command_argv(config)
            _check_token(token)
            parent_env = self._parent_environment(config)
        try:
            # Owner only: other users have no business in job logs and states, and whoever
            # can write a spec there runs commands as us (checked by ``state_dir``).
            state_file, log_file, lock_file = self.paths(token)
            lock_fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        except UnsafeStateDir as exc:
            raise JobError(
                f"refusing the command state directory: {exc}",
                FailureCategory.PERMANENT,
                may_have_started=False,
            ) from exc
        except OSError as exc:
            raise JobError(
                f"cannot use the command state directory {self._describe_state_dir()}: {exc}",
                FailureCategory.TRANSIENT,
                may_have_started=False,
            ) from exc
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Another controller is submitting this token, or its wrapper runs: adopt.
                return self._handle(token, adopted=True)
            if state_file.exists():
                return self._handle(token, adopted=True)
            spec = {
                "argv": argv,
                "env_names": list(config.env),
                "environment": dict(config.environment),
                "cwd": config.cwd or os.getcwd(),
                "timeout": config.timeout,
                "kill_grace": self.kill_grace,
                "max_log_bytes": self.max_log_bytes,
                "interlock": run_variables(run, token),
            }
            try:
                write_json_atomic(
                    state_file,
                    {
                        "phase": "submitted",
                        "token": token,
                        "submitted_at": now_iso(),
                        "log_file": str(log_file),
                        "spec": spec,
                    },
                )
                with open_private(log_file) as log:
                    wrapper = subprocess.Popen(
                        [
                            self._python,
                            "-I",
                            _WRAPPER,
                            str(state_file),
                            "--lock-fd",
                            str(lock_fd),
                        ],
                        cwd=self.state_dir,
                        env=wrapper_environment(config, parent_env),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # detached: outlives this controller
                        pass_fds=(lock_fd,),
                    )
            except OSError as exc:
                # Popen reports a failed exec before it returns: no wrapper, so no job.
                state_file.unlink(missing_ok=True)
                raise JobError(
                    f"cannot start the command supervisor: {exc}",
                    FailureCategory.TRANSIENT,
                    may_have_started=False,
                ) from exc
            self._children[wrapper.pid] = wrapper
            return self._handle(token, adopted=False, wrapper_pid=wrapper.pid)
        finally:
            # The wrapper keeps the lock through its inherited descriptor.
            os.close(lock_fd)

    def _handle(self, token: str, *, adopted: bool, wrapper_pid: int | None = None) -> JobHandle:
        state_file, log_file, lock_file = self.paths(token)
        record = self._read(state_file) or {}
        return JobHandle(
            run_id=token,
            metadata={
                "state_file": str(state_file),
                "log_file": str(log_file),
                "lock_file": str(lock_file),
                "wrapper_pid": wrapper_pid or record.get("wrapper_pid"),
                "pid": record.get("pid"),
                "adopted": adopted,
                # Job state is local to this machine: a controller elsewhere (sharing a
                # PostgreSQL store) must not read "no state file" as "never started".
                "host": socket.gethostname(),
            },
        )

    @staticmethod
    def _read(state_file: Path) -> dict[str, Any] | None:
        try:
            return read_json(state_file)
        except (OSError, ValueError) as exc:
            raise JobError(
                f"cannot read the job's state file {state_file}: {exc}", FailureCategory.TRANSIENT
            ) from exc

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]

    @staticmethod
    def _files(handle: JobHandle) -> tuple[Path, Path]:
        meta = handle.metadata
        state_file = meta.get("state_file")
        if not isinstance(state_file, str):
            raise JobError("the handle has no state_file", FailureCategory.PERMANENT)
        lock_file = meta.get("lock_file") or str(Path(state_file).with_suffix(".lock"))
        return Path(state_file), Path(lock_file)

    def status(self, handle: JobHandle) -> JobStatus:
        """Read the state file: a recorded outcome, else running while the supervisor lives.

        Raises:
            JobError: the state file cannot be read.
        """
        self._reap()
        state_file, lock_file = self._files(handle)
        record = self._read(state_file)
        if record is not None and record.get("phase") == "finished":
            return status_from_record(record)
        host = _foreign_host(handle)
        if host is not None:
            return JobStatus(
                JobState.RUNNING,
                message=f"the job runs on {host}; a controller there polls it to its end",
            )
        if supervisor_alive(lock_file):
            pid = record.get("pid") if record else None
            return JobStatus(
                JobState.RUNNING, message=f"running (pid {pid})" if pid else "starting"
            )
        # The lock is free but there may be a result written just before the wrapper exited.
        record = self._read(state_file)
        if record is not None and record.get("phase") == "finished":
            return status_from_record(record)
        pgid = _job_group(record)
        if isinstance(pgid, int) and group_alive(pgid):
            # Never report a failure while the job itself may still run: a retry would start
            # a second one. Cancel kills the orphaned group.
            return JobStatus(
                JobState.RUNNING, message="the supervisor died; the job's processes still run"
            )
        if record is None:
            return JobStatus(
                JobState.FAILED,
                FailureCategory.TRANSIENT,
                "the job was never started (no state file)",
            )
        return JobStatus(
            JobState.FAILED,
            FailureCategory.TRANSIENT,
            "the job's supervisor died without recording a result",
        )

    def cancel(self, handle: JobHandle) -> bool:
        """Stop the job's process group; True once it is gone and recorded as cancelled."""
        self._reap()
        state_file, lock_file = self._files(handle)
        record = self._read(state_file)
        if record is not None and record.get("phase") == "finished":
            return True
        host = _foreign_host(handle)
        if host is not None:
            logger.warning("command job %s runs on %s: cancel it there", state_file.name, host)
            return False
        deadline = time.monotonic() + self.kill_grace + self.cancel_wait
        signalled = False
        while supervisor_alive(lock_file) and time.monotonic() < deadline:
            record = self._read(state_file) or {}
            if record.get("phase") == "finished":
                return True
            wrapper_pid = record.get("wrapper_pid") or handle.metadata.get("wrapper_pid")
            if not signalled and isinstance(wrapper_pid, int):
                # The lock is held, so this pid is the live wrapper, not a recycled one.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(wrapper_pid, signal.SIGTERM)
                signalled = True
            self._sleep(0.05)
            self._reap()
        record = self._read(state_file)
        if record is not None and record.get("phase") == "finished":
            return True
        if supervisor_alive(lock_file):
            logger.warning("command job %s: cancel not confirmed in time", state_file.name)
            return False
        # The supervisor is gone without a record: stop what it left behind ourselves.
        pgid = _job_group(record)
        if isinstance(pgid, int) and not self._kill_orphans(pgid):
            return False
        if record is None:
            return True  # never started: nothing runs
        write_json_atomic(
            state_file,
            {
                **record,
                "phase": "finished",
                "cancelled": True,
                "exit_code": None,
                "finished_at": now_iso(),
                "error": "cancelled after the supervisor died",
            },
        )
        return True

    def _kill_orphans(self, pgid: int) -> bool:
        for sig, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, 2.0)):
            if not group_alive(pgid):
                return True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            until = time.monotonic() + wait
            while group_alive(pgid) and time.monotonic() < until:
                self._sleep(0.05)
        return not group_alive(pgid)


def _foreign_host(handle: JobHandle) -> str | None:
    """The other machine whose controller started the job, or None when it started here
    (or the handle predates hosts being recorded)."""
    host = handle.metadata.get("host")
    if isinstance(host, str) and host and host != socket.gethostname():
        return host
    return None
