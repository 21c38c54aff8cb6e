"""One Interlock engine per process and (store URL, pipelines directory).

Dagster builds resources for every sensor tick, check and asset; opening a store (and, for
SQLite, checking its schema) each time would be wasted work, so the engine is built once and
shared. When a pipelines directory is given it is applied on first use and again whenever a
pipeline file changes — a no-op otherwise, as with the CLI's ``--pipelines``.
"""

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from interlock_core import Interlock, InterlockError, load_pipelines, open_store

log = logging.getLogger("interlock.dagster")

_PIPELINE_SUFFIXES = (".yaml", ".yml")


@dataclass
class _Entry:
    engine: Interlock
    fingerprint: tuple[tuple[str, int, int], ...] | None = None


_engines: dict[tuple[str, str | None], _Entry] = {}
_lock = threading.Lock()


def interlock_engine(store: str, pipelines: str | None = None) -> Interlock:
    """The process-wide engine for ``store``, with ``pipelines`` applied when given.

    Args:
        store: a store URL (``sqlite:///interlock.db``, ``memory://NAME``, ``dynamodb://…``).
        pipelines: a pipelines directory to apply first (file by file: a broken file keeps
            its pipeline's last good config and records ``CONFIG_INVALID``).

    Raises:
        InterlockError: ``pipelines`` is not a directory.
        ValueError: the store URL is not one Interlock supports.
    """
    folder = _folder(pipelines) if pipelines else None
    key = (store, str(folder) if folder else None)
    with _lock:
        entry = _engines.get(key)
        if entry is None:
            entry = _engines[key] = _Entry(Interlock(open_store(store)))
        if folder is not None:
            fingerprint = _fingerprint(folder)
            if fingerprint != entry.fingerprint:
                _apply(entry.engine, folder, fingerprint)
                entry.fingerprint = fingerprint
        return entry.engine


def close_engines() -> None:
    """Close every cached engine's store and forget them (tests, process shutdown)."""
    with _lock:
        for entry in _engines.values():
            entry.engine.store.close()
        _engines.clear()


def _folder(pipelines: str) -> Path:
    folder = Path(pipelines).expanduser().resolve()
    if not folder.is_dir():
        raise InterlockError(f"pipelines: {pipelines!r} is not a directory")
    return folder


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(_PIPELINE_SUFFIXES):
                stat = os.stat(os.path.join(root, name))
                entries.append((os.path.join(root, name), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(entries))


def _apply(engine: Interlock, folder: Path, fingerprint: tuple[object, ...]) -> None:
    if not fingerprint:
        # An empty or wrong directory must never remove every configured pipeline.
        log.warning("no pipeline files (*.yaml, *.yml) in %s; nothing applied", folder)
        return
    result = engine.apply(load_pipelines(folder), partial=True)
    for error in result.invalid:
        for issue in error.issues:
            log.warning("%s (the last good config stays active)", issue)
    for change in result.changes:
        if change.action != "unchanged":
            log.info("applied: %s %s", change.pipeline_id, change.action)
