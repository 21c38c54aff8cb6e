"""Sensor-write wake-ups for a SQLite store, across the processes of one host.

SQLite has no ``NOTIFY``: a controller (``interlock run``) would only see a sensor written by
another process (``interlock emit``, an Airflow task) at its next poll. So a subscriber binds a
Unix datagram socket in the store's wake directory (``<db>.wake/``, beside the database, or a
private folder under the temporary directory when that path is too long for a socket), and
every process that writes a sensor sends one datagram — the pipeline id — to each socket
there once its transaction has committed.

Never a correctness dependency: a lost datagram (no Unix sockets, a full queue, a controller
that just went away, a removed socket file) only means the controller finds the write at its
next poll, as it did before. An idle subscriber blocks in ``recv``: no timer, no CPU.
``INTERLOCK_SQLITE_WAKE=off`` switches subscribing off (benchmarks measure the polling path
with it).
"""

import contextlib
import errno
import hashlib
import itertools
import logging
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("interlock.storage")

SUFFIX = ".sock"
# sun_path holds 108 bytes on Linux (104 on macOS and the BSDs), its final NUL included.
_MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103
_LONGEST_NAME = f"{2**22}-{10**3}{SUFFIX}"  # the largest pid, a thousand subscriptions
_MAX_PAYLOAD = 1024
_STOP = b"\x00stop"
ENV_SWITCH = "INTERLOCK_SQLITE_WAKE"
_names = itertools.count(1)


def supported() -> bool:
    """Whether this platform has Unix datagram sockets."""
    return hasattr(socket, "AF_UNIX")


def wake_dir(database: str | os.PathLike[str]) -> Path:
    """Where the sockets of the subscribers of ``database`` live (the same path for every
    process that opens the file by any name)."""
    path = os.path.realpath(database)
    beside = Path(f"{path}.wake")
    if len(os.fsencode(beside / _LONGEST_NAME)) <= _MAX_SOCKET_PATH:
        return beside
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    temp = os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 - a private (0700, owned) folder
    return Path(temp) / f"interlock-wake-{os.getuid()}-{digest}"


def notify(directory: Path, pipeline_id: str) -> None:
    """Tell every subscriber in ``directory`` that ``pipeline_id`` got a sensor (best effort,
    never blocks, never raises)."""
    try:
        names = [name for name in os.listdir(directory) if name.endswith(SUFFIX)]
    except OSError:  # no subscriber ever ran here: nothing to do
        return
    if not names or not supported():
        return
    payload = pipeline_id.encode("utf-8", "replace")[:_MAX_PAYLOAD]
    try:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        return
    with sender:
        sender.setblocking(False)
        for name in names:
            # Refused (stale file), full queue (a wake-up is pending anyway), gone: all fine.
            with contextlib.suppress(OSError):
                sender.sendto(payload, os.fspath(directory / name))


def subscribe(directory: Path, callback: Callable[[str], None]) -> Callable[[], None] | None:
    """Call ``callback(pipeline_id)`` from a background thread for every notification.

    Returns:
        A function that ends the subscription (and removes its socket, and the wake folder
        when no other subscriber is left in it), or None when this process cannot listen
        here (the caller polls instead).
    """
    if not supported() or os.environ.get(ENV_SWITCH, "").lower() in ("0", "off", "false", "no"):
        return None
    bound = _bind(directory)
    if bound is None:
        return None
    listener, path = bound
    stopping = threading.Event()

    def listen() -> None:
        while True:
            try:
                data = listener.recv(_MAX_PAYLOAD)
            except OSError:
                return
            if stopping.is_set():
                return
            if data == _STOP:
                continue  # a stop meant for an earlier socket with this name
            try:
                callback(data.decode("utf-8", "replace"))
            except Exception:
                log.exception("sensor-write wake-up callback failed")

    thread = threading.Thread(target=listen, name="interlock-sqlite-wake", daemon=True)
    thread.start()

    def unsubscribe() -> None:
        if stopping.is_set():
            return
        stopping.set()
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
        ):
            sender.sendto(_STOP, os.fspath(path))
        thread.join(timeout=5)
        listener.close()
        with contextlib.suppress(OSError):
            path.unlink()
        # The last subscriber leaves no empty folder beside the database (rmdir fails while
        # another subscriber's socket is in it).
        with contextlib.suppress(OSError):
            directory.rmdir()

    return unsubscribe


def _bind(directory: Path) -> tuple[socket.socket, Path] | None:
    """A listening socket in ``directory`` (created if needed), or None (logged at debug)."""
    for attempt in range(2):
        try:
            _prepare(directory)
            _remove_stale(directory)
            path = directory / f"{os.getpid()}-{next(_names)}{SUFFIX}"
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        except OSError as exc:
            log.debug("no sensor-write wake-ups in %s: %s", directory, exc)
            return None
        try:
            listener.bind(os.fspath(path))
        except OSError as exc:
            listener.close()
            if exc.errno == errno.ENOENT and attempt == 0:
                continue  # the last subscriber removed the folder just now: create it again
            log.debug("no sensor-write wake-ups in %s: %s", directory, exc)
            return None
        return listener, path
    return None


def _prepare(directory: Path) -> None:
    """Create the wake directory (owner only); refuse one that another user owns."""
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(errno.EPERM, "not a directory of this user", os.fspath(directory))


def _remove_stale(directory: Path) -> None:
    """Remove sockets nobody listens on any more (a controller that was killed)."""
    for name in os.listdir(directory):
        if not name.endswith(SUFFIX):
            continue
        path = os.fspath(directory / name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:
                pass
