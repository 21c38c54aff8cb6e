"""Where ``command`` jobs keep their state, and why nobody else can write there.

The state folder holds each job's spec; whoever can write into it can make the controller run
a command of their choosing. So the folder and every level Interlock creates above it must be
owned by the controller's user and not writable by group or others (``/tmp`` and other shared
sticky folders let anyone create ``.interlock`` first), and is never a symbolic link.

Job state belongs to its store: a SQLite store ``/data/interlock.db`` keeps its jobs in
``/data/.interlock/jobs/interlock.db-<store id>/``, where the store id is a random id kept in
the store itself (a marker written once). Two stores in one folder, or a deleted and recreated
``interlock.db``, therefore never see each other's jobs — a job of the same token in an old
store is not adopted as this store's. Shared stores (``postgresql://``, ``dynamodb://``…) keep
theirs in ``$XDG_STATE_HOME/interlock/jobs/<scheme>-<store id>/`` (``~/.local/state`` when
``XDG_STATE_HOME`` is unset), so a restarted ``interlock run`` polls the jobs it started.
``INTERLOCK_STATE_DIR``, when set, wins for every store but SQLite; ``memory://`` stores
otherwise get a fresh private ``mkdtemp`` folder (nothing of theirs outlives the process).
"""

import contextlib
import os
import stat
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock_core.storage.base import Store

STORE_IDENTITY_MARKER = "store-identity"
STATE_DIR_ENV = "INTERLOCK_STATE_DIR"


class UnsafeStateDir(OSError):
    """The state folder (or a level above it that Interlock owns) is not private."""


def check_private_dir(path: Path) -> None:
    """Refuse ``path`` unless it is a real folder owned by us, not writable by group/others.

    Raises:
        UnsafeStateDir: naming the folder and what is wrong with it.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeStateDir(f"{path} is a symbolic link; the job state folder must be real")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateDir(f"{path} is not a folder")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise UnsafeStateDir(
            f"{path} is owned by uid {info.st_uid}, not by this controller's user "
            f"(uid {os.geteuid()}); remove it or point the store elsewhere"
        )
    if info.st_mode & 0o022:
        raise UnsafeStateDir(
            f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            "run chmod go-w on it"
        )


def ensure_private_dir(path: Path, base: Path) -> Path:
    """Create ``path`` (mode 0700) and the levels between ``base`` and it, checking each.

    ``base`` itself is not checked: it is the operator's folder (possibly ``/tmp``). Every
    level below it must be ours (see :func:`check_private_dir`).

    Raises:
        UnsafeStateDir: a level exists but is not private.
        OSError: a level cannot be created.
    """
    path = Path(path)
    levels = [path, *path.parents]
    below_base = list(reversed(levels[: levels.index(base)])) if base in levels else [path]
    for level in below_base:
        with contextlib.suppress(FileExistsError):
            os.mkdir(level, 0o700)
        check_private_dir(level)
    return path


def store_identity(store: "Store") -> str:
    """The store's random id, created on first use and kept in the store (a marker)."""
    now = datetime.now(UTC)
    marker = store.get_marker("", STORE_IDENTITY_MARKER, now)
    if marker is None:
        store.put_marker("", STORE_IDENTITY_MARKER, now, data={"id": uuid.uuid4().hex[:16]})
        marker = store.get_marker("", STORE_IDENTITY_MARKER, now)
    identity = marker.data.get("id") if marker is not None else None
    if not isinstance(identity, str) or not identity.isalnum():
        raise UnsafeStateDir("the store has no usable identity marker for its job state")
    return identity


def sqlite_database(store_url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, or None for other stores."""
    if not store_url.startswith("sqlite:///"):
        return None
    return Path(store_url[len("sqlite:///") :].split("?", 1)[0])


def user_state_home() -> Path:
    """``$XDG_STATE_HOME`` when it is an absolute path, else ``~/.local/state``."""
    configured = os.environ.get("XDG_STATE_HOME", "")
    if configured and Path(configured).is_absolute():
        return Path(configured)
    return Path.home() / ".local" / "state"


def state_dir_for(store_url: str, store: "Store | None" = None) -> Path:
    """The command-job state folder of a store (created private and checked).

    Args:
        store_url: the store's URL.
        store: the open store; its identity names the folder of a SQLite or shared store
            (without it, SQLite's folder shared by the stores of the database's folder is
            returned unchecked — only for reading old handles — and other stores get a
            fresh temporary folder).

    Raises:
        UnsafeStateDir: the folder or a level above it (below the database's folder, or
            below the user's state home) is not private to this user.
    """
    database = sqlite_database(store_url)
    if database is not None:
        database = database.absolute()
        shared = database.parent / ".interlock" / "jobs"
        if store is None:
            return shared
        folder = shared / f"{database.name}-{store_identity(store)}"
        return ensure_private_dir(folder, database.parent)
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        folder = Path(override).absolute()
        return ensure_private_dir(folder, folder.parent)
    scheme = store_url.split("://", 1)[0].lower()
    if store is not None and scheme.isalnum() and scheme != "memory":
        home = user_state_home()
        try:
            os.makedirs(home, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot create {home} for the store's job state ({exc.strerror}); set "
                f"XDG_STATE_HOME or {STATE_DIR_ENV} to a folder this user can write",
            ) from exc
        folder = home / "interlock" / "jobs" / f"{scheme}-{store_identity(store)}"
        return ensure_private_dir(folder, home)
    # Unpredictable and private: a fixed /tmp name could be created by anyone first.
    return Path(tempfile.mkdtemp(prefix="interlock-jobs-"))
