"""Storage: the Store port, its backends, and ``open_store`` to pick one by URL.

Supported URLs:

* ``memory://`` — a new in-process store; ``memory://NAME`` — the process-wide store called
  NAME (created on first use), so separate parts of one process can share it.
* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` — a SQLite file. Query
  parameters ``busy_timeout`` (seconds) and ``synchronous`` (``normal``, ``full``, …) tune it.
* ``dynamodb://control-table?events=events-table&region=...`` — the AWS backend.
* ``postgresql://USER@HOST:PORT/DB[?schema=NAME]`` (``postgres://`` too) — one database shared
  by many machines (extra ``postgres``); see :mod:`interlock_core.storage.postgres`.
"""

import importlib
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from interlock_core.storage.base import (
    ConfigChange,
    Marker,
    RerunRecord,
    Store,
    StoredConfig,
    StoreError,
)
from interlock_core.storage.redact import redact_url

if TYPE_CHECKING:
    from interlock_core.storage.memory import MemoryStore
    from interlock_core.storage.sqlite import SchemaVersionError, SQLiteStore

# Backends imported when a URL (or an import of the name) needs them: ``interlock emit`` on
# SQLite never loads the memory store.
_BACKENDS = {
    "MemoryStore": "interlock_core.storage.memory",
    "SQLiteStore": "interlock_core.storage.sqlite",
    "SchemaVersionError": "interlock_core.storage.sqlite",
}

__all__ = [
    "ConfigChange",
    "Marker",
    "MemoryStore",
    "RerunRecord",
    "SQLiteStore",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "StoredConfig",
    "open_store",
    "redact_url",
]

SUPPORTED_SCHEMES = ("memory://", "sqlite:///", "dynamodb://", "postgresql://")

_named_memory_stores: dict[str, "MemoryStore"] = {}
_named_memory_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    module = _BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def open_store(url: str) -> Store:
    """Open the store a URL names.

    Args:
        url: ``memory://[name]``, ``sqlite:///path.db``, ``dynamodb://...`` or
            ``postgresql://...`` (``postgres://...``).

    Returns:
        The store; its ``url`` attribute is ``url``.

    Raises:
        ValueError: the URL is malformed, names an unknown scheme, or names a backend that
            is not available in this installation.
        StoreError: the backend could not open its storage.
    """
    if url.startswith("memory://"):
        return _open_memory(url)
    if url.startswith("sqlite:"):
        return _open_sqlite(url)
    if url.startswith("dynamodb://"):
        return _open_dynamodb(url)
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url)
    hint = ""
    if url and "://" not in url and not url.startswith("sqlite"):
        # A bare file name or path: the SQLite URL it most likely meant.
        hint = f" (a SQLite file is sqlite:///{url})"
    raise ValueError(
        f"unsupported store URL {redact_url(url)!r}: use one of "
        + ", ".join(f"{scheme}..." for scheme in SUPPORTED_SCHEMES)
        + hint
    )


def _open_memory(url: str) -> "MemoryStore":
    from interlock_core.storage.memory import MemoryStore

    name = url[len("memory://") :]
    if not name:
        return MemoryStore(url)
    with _named_memory_lock:
        store = _named_memory_stores.get(name)
        if store is None:
            store = _named_memory_stores[name] = MemoryStore(url)
        return store


def _open_sqlite(url: str) -> "SQLiteStore":
    from interlock_core.storage.sqlite import SQLiteStore

    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(
            f"unsupported SQLite URL {url!r}: use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    path, _, query = url[len(prefix) :].partition("?")
    if not path or path == ":memory:":
        raise ValueError(
            f"unsupported SQLite URL {url!r}: name a database file "
            "(sqlite:///:memory: is not supported; use memory:// for an in-process store)"
        )
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"busy_timeout", "synchronous"})
    if unknown:
        raise ValueError(
            f"unsupported SQLite URL option(s) {', '.join(unknown)} in {url!r}: "
            "use busy_timeout and synchronous"
        )
    busy_timeout = 30.0
    synchronous = "FULL"
    if "busy_timeout" in options:
        text = options["busy_timeout"][-1]
        try:
            busy_timeout = float(text)
        except ValueError:
            raise ValueError(
                f"busy_timeout must be a number of seconds, got {text!r} in {url!r}"
            ) from None
    if "synchronous" in options:
        synchronous = options["synchronous"][-1]
    return SQLiteStore(path, busy_timeout=busy_timeout, synchronous=synchronous, url=url)


def _open_dynamodb(url: str) -> Store:
    try:
        module = importlib.import_module("interlock_core.storage.dynamodb")
    except ModuleNotFoundError as exc:
        if exc.name == "interlock_core.storage.dynamodb":
            raise ValueError(
                f"the DynamoDB store is not available yet (cannot open {url!r}); "
                "use sqlite:/// or memory://"
            ) from exc
        raise ValueError(
            f"the DynamoDB store needs {exc.name!r}: pip install 'interlock[aws]' "
            f"(cannot open {url!r})"
        ) from exc
    # The backend module's entry point, by convention: open_dynamodb_store(url) -> Store.
    opener = getattr(module, "open_dynamodb_store", None)
    if opener is None:
        raise ValueError(
            f"interlock_core.storage.dynamodb has no open_dynamodb_store(url); cannot open {url!r}"
        )
    store = opener(url)
    if not isinstance(store, Store):
        raise TypeError(f"open_dynamodb_store({url!r}) returned {type(store).__name__}, not Store")
    return store


def _open_postgres(url: str) -> Store:
    try:
        module = importlib.import_module("interlock_core.storage.postgres")
    except ModuleNotFoundError as exc:
        raise ValueError(
            f"the PostgreSQL store needs {exc.name!r}: pip install 'interlock[postgres]' "
            f"(cannot open {redact_url(url)!r})"
        ) from exc
    store: Store = module.open_postgres_store(url)
    return store
