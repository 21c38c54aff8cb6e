"""The supervisor of one ``command`` job: ``python -I command_wrapper.py STATE [--lock-fd N]``.

(``python -m interlock_core.jobs.command_wrapper STATE`` works too, but imports the package.)

:class:`interlock_core.jobs.command.CommandRunner` starts this module as a detached process (its
own session) so the job outlives the controller that submitted it. It reads the job spec from the
state file, runs the argv without a shell in a new process group, enforces the timeout, and
records the outcome in the state file atomically, where any controller can read it:

``{"phase": "finished", "exit_code", "started_at", "finished_at", "timed_out", "cancelled",
"pid", "wrapper_pid", ...}``

SIGTERM/SIGINT mean "cancel": the job's process group is terminated (SIGKILL after the grace)
and the run recorded as cancelled. When the job's process exits on its own, whatever it left
running in its process group (background workers) is terminated the same way *before* the
outcome is recorded: a finished job has nothing left running, so a retry never overlaps it.

While it lives, the wrapper holds an exclusive ``flock`` on the job's lock file (inherited from
the runner, so there is no unlocked window at start); a free lock with no result therefore means
the supervisor died, whatever happened to its pid.

This module imports only the standard library: it starts for every job.
"""

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

# Variables every child gets from the parent when set there, so programs find binaries, a home
# and a locale. None of them is a credential; anything else must be allow-listed in ``env``.
BASELINE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")

_POLL_SECONDS = 0.05
# A job's log keeps at most this many bytes unless the spec says otherwise; beyond it the
# oldest output is dropped (a runaway job must not fill the disk the store lives on).
DEFAULT_MAX_LOG_BYTES = 16 * 1024 * 1024
# Space set aside at start so the outcome can be recorded even when the disk fills up.
_RESERVE_BYTES = 64 * 1024
_PR_SET_CHILD_SUBREAPER = 36
# How long the group may take to disappear after SIGKILL (the kernel reaps asynchronously).
_KILL_WAIT_SECONDS = 2.0


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def open_private(path: Path, mode: str = "ab", *, exclusive: bool = False) -> Any:
    """Open ``path`` for writing (``"ab"``, ``"wb"`` or ``"w"``), creating it readable by its
    owner only: job states and logs may hold the job's output. An existing file is made
    owner-only too."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    # Never through a planted symbolic link; ``exclusive`` files must be new.
    flags |= getattr(os, "O_NOFOLLOW", 0) | (os.O_EXCL if exclusive else 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` so a reader sees the old or the new file, never a torn one.

    The file is readable by its owner only (see :func:`open_private`).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a crashed writer of the same pid
    with open_private(tmp, "w", exclusive=True) as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def child_environment(spec: dict[str, Any], parent: dict[str, str]) -> dict[str, str]:
    """The child's environment: baseline names, the ``env`` allow-list, fixed values, run values.

    Later layers win: ``environment`` can override a baseline name, and the ``INTERLOCK_*`` run
    values override everything.
    """
    env: dict[str, str] = {}
    for name in BASELINE_ENV:
        if name in parent:
            env[name] = parent[name]
    env.setdefault("PATH", os.defpath)
    for name in spec.get("env_names", []):
        if name in parent:
            env[name] = parent[name]
    env.update({str(k): str(v) for k, v in spec.get("environment", {}).items()})
    env.update({str(k): str(v) for k, v in spec.get("interlock", {}).items()})
    return env


def _group_members(pgid: int) -> list[int] | None:
    """The live (not zombie) processes of group ``pgid``, or None without a readable /proc."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # After the command name: state, ppid, pgrp.
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(entry))
    return members


def group_alive(pgid: int) -> bool:
    """True while process group ``pgid`` has a member that is not a zombie.

    Orphaned members are reparented to init (or a subreaper), which may reap them late or,
    in some containers, never: a zombie runs nothing, so it does not count.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = _group_members(pgid)
    return True if members is None else bool(members)


def _wait_group(pgid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for group ``pgid`` to be gone; True when it is."""
    until = time.monotonic() + seconds
    while group_alive(pgid):
        if time.monotonic() >= until:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _stop_group(pgid: int, grace: float) -> bool:
    """SIGTERM group ``pgid``, SIGKILL what is left after ``grace`` seconds, and wait for it
    to be gone; True when nothing of it runs any more."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, _KILL_WAIT_SECONDS)):
        if not group_alive(pgid):
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        if _wait_group(pgid, wait):
            return True
    return False


def _kill_group(child: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace)
    # Descendants that ignored SIGTERM or outlived the child go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    _wait_group(child.pid, _KILL_WAIT_SECONDS)


def _stop_leftovers(pgid: int, grace: float, log: Any, record: dict[str, Any]) -> None:
    """Terminate what the job left running in its process group after its process exited.

    A job that exits and leaves workers behind is not finished: recording it as finished
    would let a retry start while they still run.
    """
    if not group_alive(pgid):
        return
    _note(log, "the job exited but left processes running in its group: stopping them")
    record["leftovers_stopped"] = True
    if not _stop_group(pgid, grace):
        record["leftovers_alive"] = True
        _note(log, "some of the job's processes survived SIGKILL")


def _note(log: Any, text: str) -> None:
    log.write(f"[interlock {now_iso()}] {text}\n".encode())
    log.flush()


class CappedLog:
    """The job's log file, kept under ``limit`` bytes by dropping the oldest output.

    When a write takes the file past the limit, the newest half of the limit is kept and a
    line saying how much was dropped is put first. A write that fails (the disk is full) drops
    that output and is counted, never raised: the job's outcome matters more than its log.
    """

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = max(4096, int(limit))
        self.dropped = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._file = open_private(path)
        try:
            self._size = os.fstat(self._file.fileno()).st_size
        except OSError:
            self._size = 0

    def write(self, data: bytes) -> None:
        """Append ``data``, capping the file."""
        with self._lock:
            try:
                self._file.write(data)
                self._file.flush()
                self._size += len(data)
                if self._size > self.limit:
                    self._shrink()
            except OSError:
                self.failed += len(data)

    def flush(self) -> None:
        """Writes are flushed as they happen."""

    def _shrink(self) -> None:
        keep = self.limit // 2
        with open(self.path, "rb") as current:
            current.seek(max(0, self._size - keep))
            tail = current.read(keep)
        self.dropped += self._size - len(tail)
        head = (
            f"[interlock {now_iso()}] log capped at {self.limit} bytes: "
            f"the oldest {self.dropped} bytes were dropped\n"
        ).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        with open_private(tmp, "wb", exclusive=True) as fresh:
            fresh.write(head + tail)
        os.replace(tmp, self.path)
        self._file.close()
        self._file = open_private(self.path)
        self._size = len(head) + len(tail)

    def pump(self, stream: Any) -> None:
        """Copy ``stream`` (the job's stdout and stderr) into the log until it closes."""
        while True:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return
            self.write(chunk)

    def close(self) -> None:
        """Close the file."""
        with contextlib.suppress(OSError):
            self._file.close()


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux ``prctl``): a job's
    daemon that ``setsid``s out of its process group is still found and ended. False (and no
    harm) where the call does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _descendants(root: int) -> list[int] | None:
    """Every live descendant of ``root`` (zombies reaped), or None without /proc."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    children: dict[int, list[int]] = {}
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _stop_descendants(grace: float, log: Any, record: dict[str, Any]) -> None:
    """End whatever the job left behind outside its process group (daemons that called
    ``setsid``): as our subreaper orphans they are our descendants."""
    me = os.getpid()
    left = _descendants(me)
    if not left:
        return
    _note(log, f"the job left {len(left)} process(es) outside its group: stopping them")
    record["leftovers_stopped"] = True
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, _KILL_WAIT_SECONDS)):
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        until = time.monotonic() + wait
        while time.monotonic() < until:
            left = _descendants(me) or []
            if not left:
                return
            time.sleep(_POLL_SECONDS)
    record["leftovers_alive"] = True
    _note(log, "some of the job's processes survived SIGKILL")


def _reserve(path: Path) -> None:
    """Set disk space aside for the final state write (freed just before it)."""
    with contextlib.suppress(OSError), open_private(path, "wb") as handle:
        handle.write(b"\0" * _RESERVE_BYTES)
        handle.flush()
        os.fsync(handle.fileno())


def _record_outcome(state_file: Path, reserve: Path, record: dict[str, Any]) -> None:
    """Write the outcome; on a full disk, free the reserve and try again."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(reserve)
    try:
        write_json_atomic(state_file, record)
    except OSError:
        # Drop the bulky parts (the spec is known to every reader from the handle) and retry
        # without the temporary file: an in-place write needs no second copy's space.
        slim = {k: v for k, v in record.items() if k != "spec"}
        slim["spec"] = {"timeout": record.get("spec", {}).get("timeout")}
        with open_private(state_file, "w") as handle:
            json.dump(slim, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())


def supervise(state_file: Path) -> int:
    """Run the job described by ``state_file`` to its end and record the outcome."""
    cancel_requested = False

    def on_cancel(signum: int, frame: types.FrameType | None) -> None:
        nonlocal cancel_requested
        cancel_requested = True

    signal.signal(signal.SIGTERM, on_cancel)
    signal.signal(signal.SIGINT, on_cancel)
    # A new session has no terminal, but a stray SIGHUP must not kill an unattended job.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    state = read_json(state_file)
    if state is None:
        return 2
    spec: dict[str, Any] = state["spec"]
    log_path = Path(state["log_file"])
    reserve = state_file.with_suffix(".reserve")
    _reserve(reserve)
    subreaper = become_subreaper()
    record: dict[str, Any] = {
        **state,
        "phase": "running",
        "wrapper_pid": os.getpid(),
        "started_at": now_iso(),
        "timed_out": False,
        "cancelled": False,
    }
    log = CappedLog(log_path, int(spec.get("max_log_bytes") or DEFAULT_MAX_LOG_BYTES))
    try:
        exit_code, child, pump = _start(spec, log, record)
        if child is not None:
            record.update(pid=child.pid, pgid=child.pid)
            with contextlib.suppress(OSError):  # a full disk: the outcome still gets written
                write_json_atomic(state_file, record)
            if pump is not None:
                pump.start()  # after the pids are recorded: any controller can find the job
            exit_code = _wait(child, spec, log, record, lambda: cancel_requested)
            grace = float(spec.get("kill_grace", 5.0))
            _stop_leftovers(child.pid, grace, log, record)
            if subreaper:
                _stop_descendants(grace, log, record)
            if pump is not None:
                pump.join(timeout=_KILL_WAIT_SECONDS)
        record.update(phase="finished", exit_code=exit_code, finished_at=now_iso())
        if log.dropped:
            record["log_dropped_bytes"] = log.dropped
        if log.failed:
            record["log_lost_bytes"] = log.failed
        _note(log, f"finished: exit code {exit_code}")
    finally:
        log.close()
    _record_outcome(state_file, reserve, record)
    return 0


def _start(
    spec: dict[str, Any], log: CappedLog, record: dict[str, Any]
) -> tuple[int | None, subprocess.Popen[bytes] | None, threading.Thread | None]:
    argv = [str(part) for part in spec["argv"]]
    cwd = spec.get("cwd")
    env = child_environment(spec, dict(os.environ))
    if cwd and not os.path.isdir(cwd):
        record["error"] = f"working directory {cwd!r} does not exist"
        _note(log, record["error"])
        return 126, None, None
    _note(log, f"starting {argv!r} in {cwd or os.getcwd()!r}")
    try:
        child = subprocess.Popen(
            argv,
            cwd=cwd or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # through the capped log (see CappedLog)
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches its children
            close_fds=True,  # the supervisor's lock must not leak into the job
        )
    except FileNotFoundError:
        record["error"] = f"command not found: {argv[0]!r}"
        _note(log, record["error"])
        return 127, None, None
    except PermissionError:
        record["error"] = f"command not executable: {argv[0]!r}"
        _note(log, record["error"])
        return 126, None, None
    except OSError as exc:
        record["error"] = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
        _note(log, record["error"])
        return 126, None, None
    pump = threading.Thread(target=log.pump, args=(child.stdout,), daemon=True)
    return None, child, pump


def _wait(
    child: subprocess.Popen[bytes],
    spec: dict[str, Any],
    log: Any,
    record: dict[str, Any],
    cancelled: Any,
) -> int:
    timeout = spec.get("timeout")
    grace = float(spec.get("kill_grace", 5.0))
    deadline = time.monotonic() + float(timeout) if timeout else None
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return child.wait(timeout=_POLL_SECONDS)
        if cancelled():
            _note(log, "cancel requested: stopping the job's process group")
            _kill_group(child, grace)
            record["cancelled"] = True
            return int(child.returncode)
        if deadline is not None and time.monotonic() >= deadline:
            _note(log, f"timed out after {timeout} s: stopping the job's process group")
            _kill_group(child, grace)
            record["timed_out"] = True
            return int(child.returncode)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``command_wrapper STATE_FILE [--lock-fd N]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m interlock_core.jobs.command_wrapper STATE_FILE", file=sys.stderr)
        return 2
    if "--lock-fd" in args:
        # Keep the inherited lock open for our whole life, and out of the job's hands.
        fd = int(args[args.index("--lock-fd") + 1])
        os.set_inheritable(fd, False)
    return supervise(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
