"""One engine per process and store URL, built on first use.

Importing the Airflow provider (at DAG-parse time, in the scheduler, the DAG processor and every
worker) must stay cheap, so nothing here runs before a task, trigger or callback actually talks
to Interlock. Workers and the triggerer then reuse the engine (and its store connections) for
every later task in the process.

The integration never submits jobs: the engine has no job runners. Job-less pipelines are
claimed by DAG runs; pipelines with a job are run by ``interlock run`` or the AWS runtime and
only awaited from Airflow.
"""

import logging
import os
import threading
from pathlib import Path

from integrations.airflow.errors import InterlockFatalError, InterlockUnavailableError
from interlock_core.config.errors import ConfigError
from interlock_core.config.loader import load_pipelines
from interlock_core.engine import Interlock, InterlockError
from interlock_core.storage import StoreError, open_store

log = logging.getLogger("interlock.airflow")

_lock = threading.Lock()
_engines: dict[str, Interlock] = {}
# (store URL, pipelines directory) -> fingerprint of the files last applied from it
_applied: dict[tuple[str, str], tuple[tuple[str, int, int], ...]] = {}


def engine_for(store_url: str, pipelines: str | None = None) -> Interlock:
    """The engine on ``store_url`` (created once per process), with ``pipelines`` applied.

    Args:
        store_url: a store URL (``sqlite:////abs/path.db``, ``postgresql://…``, …).
        pipelines: a directory of pipeline files to apply first; applied again only when one
            of its files (or calendars) changes, file by file like ``interlock --pipelines``
            (a broken file keeps its pipeline's last good config).

    Raises:
        InterlockFatalError: the URL or the directory is wrong, or a SQLite store file does
            not exist and no pipelines directory would create it.
        InterlockUnavailableError: the store could not be opened or written.
    """
    with _lock:
        engine = _engines.get(store_url)
        if engine is None:
            if pipelines is None:
                _require_sqlite_file(store_url)
            engine = _open(store_url)
            _engines[store_url] = engine
        if pipelines:
            _apply_if_changed(engine, store_url, pipelines)
        return engine


def forget_engines() -> None:
    """Close and drop every cached engine (tests, and workers that fork)."""
    with _lock:
        for engine in _engines.values():
            try:
                engine.store.close()
            except Exception:  # closing is best effort; the store may already be gone
                log.debug("closing %s failed", engine.store, exc_info=True)
        _engines.clear()
        _applied.clear()


def _forget_in_child() -> None:
    # A forked child must not share the parent's store connections (SQLite forbids it, and a
    # pooled socket would interleave two processes' requests): it builds its own on first use.
    global _lock
    _lock = threading.Lock()
    _engines.clear()
    _applied.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _open(store_url: str) -> Interlock:
    try:
        return Interlock(open_store(store_url))
    except ValueError as exc:
        raise InterlockFatalError(f"bad Interlock store URL: {exc}") from exc
    except (StoreError, OSError) as exc:
        raise InterlockUnavailableError(f"cannot open the Interlock store: {exc}") from exc


def _require_sqlite_file(store_url: str) -> None:
    """A worker must not create an empty SQLite store in its working directory: a missing
    file almost always means a wrong path (or a relative one)."""
    prefix = "sqlite:///"
    if not store_url.startswith(prefix):
        return
    path = store_url[len(prefix) :].partition("?")[0]
    if path and not Path(path).exists():
        raise InterlockFatalError(
            f"no Interlock store at {os.path.abspath(path)} (check the store URL of the "
            "connection or INTERLOCK_STORE; apply pipelines with `interlock apply DIR` first, "
            "or set `pipelines` in the connection)"
        )


def _apply_if_changed(engine: Interlock, store_url: str, pipelines: str) -> None:
    folder = Path(pipelines).resolve()
    fingerprint = _fingerprint(folder)
    key = (store_url, str(folder))
    if _applied.get(key) == fingerprint:
        return
    try:
        pipeline_set = load_pipelines(folder)
    except ConfigError as exc:
        raise InterlockFatalError(f"cannot load the Interlock pipelines {folder}: {exc}") from exc
    if not pipeline_set.pipelines and not pipeline_set.errors:
        log.warning("no pipeline files in %s; nothing applied", folder)
        _applied[key] = fingerprint
        return
    try:
        result = engine.apply(pipeline_set, partial=True)
    except InterlockError as exc:
        raise InterlockFatalError(str(exc)) from exc
    except (StoreError, OSError) as exc:
        raise InterlockUnavailableError(f"cannot apply {folder}: {exc}") from exc
    for error in result.invalid:
        for issue in error.issues:
            log.warning("%s (the last good config stays active)", issue)
    for change in result.changes:
        if change.action != "unchanged":
            log.info("applied: %s %s", change.pipeline_id, change.action)
    _applied[key] = fingerprint


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, modification times and sizes of the pipeline and calendar files: a cheap way to
    notice an edit without loading YAML on every poke."""
    entries: list[tuple[str, int, int]] = []
    for directory in (folder, folder / "calendars", folder.parent / "calendars"):
        try:
            children = list(directory.iterdir())
        except OSError:
            continue
        for child in children:
            if child.suffix.lower() not in {".yaml", ".yml"}:
                continue
            try:
                stat = child.stat()
            except OSError:
                continue
            entries.append((str(child), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(entries))
