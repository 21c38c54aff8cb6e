"""The SQLite Store: one file in WAL mode, safe for several threads and processes at once.

How the Store guarantees hold on SQLite:

* Every write runs in a ``BEGIN IMMEDIATE`` transaction, which takes the database's single
  write lock up front; concurrent writers (threads or processes) queue on ``busy_timeout``
  instead of failing halfway through, and a transaction never works from a stale snapshot.
* Create-if-absent is ``INSERT ... ON CONFLICT DO NOTHING`` and compare-and-set is
  ``UPDATE ... WHERE version = ?``; both decide on the row count the statement reports.
* Sensor versions come from a per-pipeline counter row incremented in the same transaction as
  the sensor write, so they never repeat, also across processes.
* Every read is a single ``SELECT``, which SQLite answers from one snapshot.

Times are stored as integer microseconds since the epoch (exact, and ordered like the instants
they stand for) and come back as UTC datetimes. Each thread gets its own connection; a process
forked from one that used the store opens fresh connections instead of sharing the parent's.
"""

import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, RunStatus, run_document
from interlock_core.sensors import Sensor
from interlock_core.storage import sqlite_wake
from interlock_core.storage.base import (
    ConfigChange,
    Marker,
    RerunRecord,
    RunUpdate,
    Store,
    StoredConfig,
    StoreError,
    check_limit,
    encode_document,
    unique_keys,
    utc,
    utc_run,
)
from interlock_core.storage.sql_rows import (
    EventColumns,
    encode_run_writes,
    event_filter,
    event_rows,
    events_from_documents,
    run_from_document,
    run_values,
    sensor_from_row,
    stored_config_from_row,
    written_run,
)

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

# Migration ``n`` takes the schema from version ``n`` to ``n + 1``; append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE config_versions (
            pipeline_id TEXT NOT NULL,
            hash TEXT NOT NULL,
            document TEXT NOT NULL,
            source TEXT NOT NULL,
            applied_at_us INTEGER NOT NULL,
            PRIMARY KEY (pipeline_id, hash)
        ) WITHOUT ROWID""",
        """CREATE TABLE config_current (
            pipeline_id TEXT PRIMARY KEY,
            hash TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE sensors (
            pipeline_id TEXT NOT NULL,
            key TEXT NOT NULL,
            data TEXT NOT NULL,
            written_at_us INTEGER NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (pipeline_id, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX sensors_by_version ON sensors (pipeline_id, version)",
        """CREATE TABLE sensor_counters (
            pipeline_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE runs (
            pipeline_id TEXT NOT NULL,
            period TEXT NOT NULL,
            status TEXT NOT NULL,
            version INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            due_at_us INTEGER,
            owner TEXT,
            document TEXT NOT NULL,
            PRIMARY KEY (pipeline_id, period)
        ) WITHOUT ROWID""",
        """CREATE INDEX runs_by_due ON runs (due_at_us, pipeline_id, period)
            WHERE due_at_us IS NOT NULL""",
        "CREATE INDEX runs_by_status ON runs (status, period)",
        "CREATE INDEX runs_by_period ON runs (period, pipeline_id)",
        """CREATE TABLE reruns (
            pipeline_id TEXT NOT NULL,
            period TEXT NOT NULL,
            seq INTEGER NOT NULL,
            reason TEXT NOT NULL,
            at_us INTEGER NOT NULL,
            detail TEXT NOT NULL,
            PRIMARY KEY (pipeline_id, period, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE markers (
            pipeline_id TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at_us INTEGER NOT NULL,
            expires_at_us INTEGER,
            data TEXT NOT NULL,
            PRIMARY KEY (pipeline_id, name)
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            at_us INTEGER NOT NULL,
            type TEXT NOT NULL,
            pipeline_id TEXT NOT NULL,
            period TEXT,
            attempt INTEGER,
            document TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_time ON events (at_us, id)",
        "CREATE INDEX events_by_pipeline ON events (pipeline_id, at_us, id)",
        "CREATE INDEX events_by_type ON events (type, at_us, id)",
        "CREATE INDEX events_by_period ON events (period, at_us, id)",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)


_log = logging.getLogger("interlock.storage.sqlite")

# A write waits at most this long for another writer (an hour is already absurd).
MAX_BUSY_TIMEOUT = 3600.0


def _prepare_database_file(path: Path) -> None:
    """Refuse a database path that is not a regular file; create a new one owner-only.

    ``sqlite:////dev/null`` or a FIFO would "work" until the first write or hang; the store
    holds sensors, run history and job messages, so a new file is readable by its owner only
    (SQLite gives its -wal and -shm files the same mode).

    Raises:
        StoreError: the path exists and is not a regular file, or cannot be created.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                info = os.stat(path)  # created meanwhile by another controller: check it
            except FileNotFoundError:  # a dangling symbolic link: never created through
                raise StoreError(
                    f"{path} is a symbolic link to a missing file; name a SQLite database file"
                ) from None
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from exc
        else:
            os.close(fd)
            return
    except OSError as exc:
        raise StoreError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file; name a SQLite database file")


def check_controller_database(path: Path) -> None:
    """Refuse, for a controller that starts jobs, a database another user could have written.

    Whoever writes the database writes the pipeline configs the controller runs (a ``command``
    job is a program to start). In a shared sticky folder (``sqlite:////tmp/x.db``) another
    user can create the file first; a database everyone may write is the same hole. Producers
    (``emit``) and read-only commands are not checked: they start nothing.

    Raises:
        StoreError: naming the file and what is wrong with it.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StoreError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise StoreError(
            f"{path} is owned by uid {info.st_uid}, not by this controller's user "
            f"(uid {os.geteuid()}): whoever owns it decides which jobs run; "
            "use a database this user created"
        )
    if info.st_mode & stat.S_IWOTH:
        raise StoreError(
            f"{path} is writable by everyone (mode {stat.S_IMODE(info.st_mode):o}); "
            "run chmod o-w on it"
        )


class SchemaVersionError(StoreError):
    """The database was written by a newer Interlock whose schema this one does not know."""


def _to_us(value: datetime) -> int:
    return (utc(value) - _EPOCH) // _MICROSECOND


def _from_us(value: int) -> datetime:
    # Integer arithmetic, not fromtimestamp(): floats lose microseconds far from the epoch.
    return _EPOCH + timedelta(microseconds=value)


def _optional_us(value: datetime | None) -> int | None:
    return None if value is None else _to_us(value)


def _sql_limit(limit: int | None) -> int:
    """The LIMIT parameter for ``limit`` (SQLite reads -1 as no limit)."""
    checked = check_limit(limit)
    return -1 if checked is None else checked


_EVENT_COLUMNS = EventColumns(
    placeholder="?",
    at="at_us",
    to_time=_to_us,
    types="type IN (SELECT value FROM json_each(?))",
    to_types=json.dumps,
)


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SQLiteStore(Store):
    """A Store in one SQLite file.

    Args:
        path: the database file; its parent directory is created. ``:memory:`` is refused
            because every thread has its own connection and would see its own empty database.
        busy_timeout: seconds a write waits for another writer before it fails with
            :class:`StoreError`.
        synchronous: SQLite's ``synchronous`` setting. ``FULL`` (the default) makes every
            committed transaction survive a power cut, which the exactly-once submit relies on;
            ``NORMAL`` is faster and only survives process crashes.
        url: what ``url`` reports; defaults to ``sqlite:///<path>``.

    Raises:
        ValueError: ``path`` or ``synchronous`` is not usable.
        SchemaVersionError: the file was written by a newer Interlock.
        StoreError: the file cannot be opened or migrated.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "FULL",
        url: str | None = None,
    ) -> None:
        text = os.fspath(path)
        if not text or text == ":memory:" or text.startswith("file:"):
            raise ValueError(
                f"unsupported SQLite path {text!r}: give a file path "
                "(use memory:// for an in-process store)"
            )
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ValueError(
                f"unsupported synchronous mode {synchronous!r}: use one of "
                + ", ".join(_SYNCHRONOUS_MODES)
            )
        if not 0 <= busy_timeout <= MAX_BUSY_TIMEOUT:  # also refuses NaN
            raise ValueError(
                f"busy_timeout must be between 0 and {MAX_BUSY_TIMEOUT:g} seconds, "
                f"got {busy_timeout}"
            )
        self.path = Path(text)
        self.url = url if url is not None else f"sqlite:///{text}"
        self._busy_timeout = busy_timeout
        # A whitelisted constant, because PRAGMA values cannot be bound as parameters.
        self._synchronous_pragma = f"PRAGMA synchronous = {mode}"
        self._closed = False
        self._reset_connections()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of {self.path}: {exc}") from exc
        _prepare_database_file(self.path)
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and transactions -------------------------------------------------------
    def _reset_connections(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        if os.getpid() != self._pid:
            # A forked child must not touch the parent's connections (SQLite forbids it, and
            # closing them could drop the parent's locks); it simply abandons them.
            self._reset_connections()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                for thread in [t for t in self._conns if not t.is_alive()]:
                    self._conns.pop(thread).close()
                self._conns[threading.current_thread()] = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                # close() runs in whichever thread calls it; every other use stays in the
                # thread that opened the connection.
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute(self._synchronous_pragma)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot configure {self.path}: {exc}") from exc
        return conn

    def _transact(
        self, operation: str, work: Callable[[sqlite3.Connection], T], *, write: bool
    ) -> T:
        """Run ``work`` (in a ``BEGIN IMMEDIATE`` transaction when ``write``) and translate errors.

        SQLite already waits ``busy_timeout`` inside each call; the loop here covers the few
        busy answers that skip that wait (e.g. while another connection recovers the WAL).
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.001
        while True:
            conn = self._connection()
            try:
                if not write:
                    return work(conn)
                # Threads of one process queue on a Python lock, which wakes the next writer
                # as soon as the lock is free; SQLite's busy handler would poll with sleeps
                # of up to 100 ms. Other processes still meet on SQLite's own lock.
                if not self._write_lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
                    raise StoreError(
                        f"{operation}: other threads kept {self.path} busy for more than "
                        f"{self._busy_timeout:g} s"
                    )
                try:
                    return self._write(conn, work)
                finally:
                    self._write_lock.release()
            except sqlite3.Error as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                    continue
                if _is_busy(exc):
                    raise StoreError(
                        f"{operation}: {self.path} stayed locked for more than "
                        f"{self._busy_timeout:g} s ({exc})"
                    ) from exc
                raise StoreError(f"{operation} failed on {self.path}: {exc}") from exc

    @staticmethod
    def _write(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # The original error says more than a failed rollback would.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; safe to call from several processes.

        Returns:
            The schema version the file had before.

        Raises:
            SchemaVersionError: the file's schema is newer than this code knows.
        """

        def switch_to_wal(conn: sqlite3.Connection) -> int:
            # WAL is a property of the file: set once, every later connection gets it.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path} cannot use WAL mode (journal mode is {mode})")
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

        def upgrade(conn: sqlite3.Connection) -> int:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            self._check_schema(found)
            for step in range(found, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            if found != SCHEMA_VERSION:
                # An int constant: PRAGMA values cannot be bound as parameters.
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            return found

        found = self._transact("open", switch_to_wal, write=False)
        self._check_schema(found)
        if found == SCHEMA_VERSION:
            return found
        # Re-read under the write lock: another process may have migrated meanwhile.
        return self._transact("migrate", upgrade, write=True)

    def _check_schema(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {found}, newer than version {SCHEMA_VERSION} "
                "that this Interlock knows; upgrade Interlock to use it"
            )

    def close(self) -> None:
        """Close every connection of every thread; later calls raise :class:`StoreError`."""
        self._closed = True
        if os.getpid() != self._pid:
            return
        with self._conns_lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for conn in conns:
            # Best effort: the process may be shutting down anyway.
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- configs ---------------------------------------------------------------------------
    def apply_configs(
        self,
        configs: Mapping[str, tuple[dict[str, Any], str, str]],
        now: datetime,
        *,
        remove_missing: bool = False,
    ) -> list[ConfigChange]:
        """See :meth:`Store.apply_configs`."""
        applied_at = _to_us(now)
        items = sorted(configs.items())

        def work(conn: sqlite3.Connection) -> list[ConfigChange]:
            changes: list[ConfigChange] = []
            for pipeline_id, (document, config_hash, source) in items:
                # Encoded inside the transaction: a bad document rolls back the ones before it.
                encoded = encode_document(document, f"config {pipeline_id!r}")
                row = conn.execute(
                    "SELECT hash FROM config_current WHERE pipeline_id = ?", (pipeline_id,)
                ).fetchone()
                current = None if row is None else str(row[0])
                if current == config_hash:
                    changes.append(ConfigChange(pipeline_id, "unchanged", config_hash))
                    continue
                conn.execute(
                    "INSERT INTO config_versions"
                    " (pipeline_id, hash, document, source, applied_at_us)"
                    " VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (pipeline_id, hash) DO UPDATE SET"
                    " document = excluded.document, source = excluded.source,"
                    " applied_at_us = excluded.applied_at_us",
                    (pipeline_id, config_hash, encoded, source, applied_at),
                )
                conn.execute(
                    "INSERT INTO config_current (pipeline_id, hash) VALUES (?, ?)"
                    " ON CONFLICT (pipeline_id) DO UPDATE SET hash = excluded.hash",
                    (pipeline_id, config_hash),
                )
                action = "created" if current is None else "updated"
                changes.append(ConfigChange(pipeline_id, action, config_hash))
            if remove_missing:
                rows = conn.execute("SELECT pipeline_id, hash FROM config_current").fetchall()
                for pipeline_id, config_hash in rows:
                    if pipeline_id not in configs:
                        conn.execute(
                            "DELETE FROM config_current WHERE pipeline_id = ?", (pipeline_id,)
                        )
                        changes.append(ConfigChange(pipeline_id, "removed", config_hash))
            return sorted(changes, key=lambda change: change.pipeline_id)

        return self._transact("apply_configs", work, write=True)

    def remove_config(self, pipeline_id: str, now: datetime) -> bool:
        """See :meth:`Store.remove_config`."""
        utc(now)

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM config_current WHERE pipeline_id = ?", (pipeline_id,)
            )
            return cursor.rowcount == 1

        return self._transact("remove_config", work, write=True)

    def get_config(self, pipeline_id: str, config_hash: str | None = None) -> StoredConfig | None:
        """See :meth:`Store.get_config`."""

        def work(conn: sqlite3.Connection) -> Any:
            if config_hash is None:
                return conn.execute(
                    "SELECT v.pipeline_id, v.hash, v.document, v.source, v.applied_at_us"
                    " FROM config_current AS c JOIN config_versions AS v"
                    " ON v.pipeline_id = c.pipeline_id AND v.hash = c.hash"
                    " WHERE c.pipeline_id = ?",
                    (pipeline_id,),
                ).fetchone()
            return conn.execute(
                "SELECT pipeline_id, hash, document, source, applied_at_us"
                " FROM config_versions WHERE pipeline_id = ? AND hash = ?",
                (pipeline_id, config_hash),
            ).fetchone()

        row = self._transact("get_config", work, write=False)
        return None if row is None else _stored_config(row)

    def list_configs(self) -> list[StoredConfig]:
        """See :meth:`Store.list_configs`."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT v.pipeline_id, v.hash, v.document, v.source, v.applied_at_us"
                " FROM config_current AS c JOIN config_versions AS v"
                " ON v.pipeline_id = c.pipeline_id AND v.hash = c.hash"
                " ORDER BY c.pipeline_id"
            ).fetchall()

        return [_stored_config(row) for row in self._transact("list_configs", work, write=False)]

    # -- sensors ---------------------------------------------------------------------------
    def put_sensor(self, pipeline_id: str, key: str, data: dict[str, Any], now: datetime) -> Sensor:
        """See :meth:`Store.put_sensor`."""
        written_at = _to_us(now)
        encoded = encode_document(data, f"sensor {key!r}")

        def work(conn: sqlite3.Connection) -> int:
            version = int(
                conn.execute(
                    "INSERT INTO sensor_counters (pipeline_id, version) VALUES (?, 1)"
                    " ON CONFLICT (pipeline_id) DO UPDATE SET version = version + 1"
                    " RETURNING version",
                    (pipeline_id,),
                ).fetchall()[0][0]
            )
            conn.execute(
                "INSERT INTO sensors (pipeline_id, key, data, written_at_us, version)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (pipeline_id, key) DO UPDATE SET data = excluded.data,"
                " written_at_us = excluded.written_at_us, version = excluded.version",
                (pipeline_id, key, encoded, written_at, version),
            )
            return version

        version = self._transact("put_sensor", work, write=True)
        self._notify_sensor_write(pipeline_id)
        return Sensor(
            key=key, data=json.loads(encoded), written_at=_from_us(written_at), version=version
        )

    def get_sensors(self, pipeline_id: str) -> dict[str, Sensor]:
        """See :meth:`Store.get_sensors`; one ``SELECT``, so one snapshot."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT key, data, written_at_us, version FROM sensors"
                " WHERE pipeline_id = ? ORDER BY key",
                (pipeline_id,),
            ).fetchall()

        rows = self._transact("get_sensors", work, write=False)
        return {row[0]: _sensor(row) for row in rows}

    def sensors_since(self, pipeline_id: str, version: int) -> list[Sensor]:
        """See :meth:`Store.sensors_since`."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT key, data, written_at_us, version FROM sensors"
                " WHERE pipeline_id = ? AND version > ? ORDER BY version",
                (pipeline_id, version),
            ).fetchall()

        return [_sensor(row) for row in self._transact("sensors_since", work, write=False)]

    def sensor_versions(self) -> dict[str, int]:
        """See :meth:`Store.sensor_versions`."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT pipeline_id, version FROM sensor_counters ORDER BY pipeline_id"
            ).fetchall()

        return {str(pid): int(v) for pid, v in self._transact("sensor_versions", work, write=False)}

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run | None:
        """See :meth:`Store.create_run`."""
        return self.create_run_with_events(run, ())

    def get_run(self, pipeline_id: str, period: str) -> Run | None:
        """See :meth:`Store.get_run`."""

        def work(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT document FROM runs WHERE pipeline_id = ? AND period = ?",
                (pipeline_id, period),
            ).fetchone()

        row = self._transact("get_run", work, write=False)
        return None if row is None else _run(row[0])

    def update_run(self, run: Run, expected_version: int) -> Run | None:
        """See :meth:`Store.update_run`."""
        return self.update_run_with_events(run, expected_version, ())

    def list_runs(
        self,
        pipeline_id: str | None = None,
        statuses: Collection[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """See :meth:`Store.list_runs`."""
        clauses: list[str] = []
        params: list[Any] = []
        if pipeline_id is not None:
            clauses.append("pipeline_id = ?")
            params.append(pipeline_id)
        if statuses is not None:
            clauses.append("status IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(RunStatus(status).value for status in statuses)))
        params.append(_sql_limit(limit))
        # Only constant fragments are joined here; every value travels as a parameter.
        sql = (
            "SELECT document FROM runs WHERE "  # noqa: S608
            + (" AND ".join(clauses) or "1")
            + " ORDER BY period DESC, pipeline_id LIMIT ?"
        )

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        return [_run(row[0]) for row in self._transact("list_runs", work, write=False)]

    def due_runs(self, now: datetime, limit: int = 100) -> list[Run]:
        """See :meth:`Store.due_runs`; answered from the partial index on ``due_at``."""
        params = (_to_us(now), _sql_limit(limit))

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT document FROM runs"
                " WHERE due_at_us IS NOT NULL AND due_at_us <= ?"
                " ORDER BY due_at_us, pipeline_id, period LIMIT ?",
                params,
            ).fetchall()

        return [_run(row[0]) for row in self._transact("due_runs", work, write=False)]

    # -- rerun ledger ----------------------------------------------------------------------
    def append_rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> RerunRecord:
        """See :meth:`Store.append_rerun`; the write lock makes ``MAX(seq) + 1`` race-free."""
        at = _to_us(now)
        encoded = encode_document(detail or {}, "rerun detail")

        def work(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "INSERT INTO reruns (pipeline_id, period, seq, reason, at_us, detail)"
                    " SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM reruns"
                    " WHERE pipeline_id = ? AND period = ?"
                    " RETURNING seq",
                    (pipeline_id, period, reason, at, encoded, pipeline_id, period),
                ).fetchall()[0][0]
            )

        seq = self._transact("append_rerun", work, write=True)
        return RerunRecord(pipeline_id, period, seq, reason, _from_us(at), json.loads(encoded))

    def count_reruns(self, pipeline_id: str, period: str, reasons: Collection[str]) -> int:
        """See :meth:`Store.count_reruns`."""
        wanted = json.dumps(sorted(set(reasons)))

        def work(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM reruns WHERE pipeline_id = ? AND period = ?"
                    " AND reason IN (SELECT value FROM json_each(?))",
                    (pipeline_id, period, wanted),
                ).fetchone()[0]
            )

        return self._transact("count_reruns", work, write=False)

    def list_reruns(self, pipeline_id: str, period: str) -> list[RerunRecord]:
        """See :meth:`Store.list_reruns`."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT seq, reason, at_us, detail FROM reruns"
                " WHERE pipeline_id = ? AND period = ? ORDER BY seq",
                (pipeline_id, period),
            ).fetchall()

        return [
            RerunRecord(
                pipeline_id, period, int(seq), str(reason), _from_us(at), json.loads(detail)
            )
            for seq, reason, at, detail in self._transact("list_reruns", work, write=False)
        ]

    # -- markers ---------------------------------------------------------------------------
    def put_marker(
        self,
        pipeline_id: str,
        name: str,
        now: datetime,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """See :meth:`Store.put_marker`; an expired marker is replaced in the same statement."""
        params = (
            pipeline_id,
            name,
            _to_us(now),
            _optional_us(expires_at),
            encode_document(data or {}, f"marker {name!r} data"),
        )

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO markers (pipeline_id, name, created_at_us, expires_at_us, data)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (pipeline_id, name) DO UPDATE SET"
                " created_at_us = excluded.created_at_us,"
                " expires_at_us = excluded.expires_at_us, data = excluded.data"
                " WHERE markers.expires_at_us IS NOT NULL"
                " AND markers.expires_at_us <= excluded.created_at_us",
                params,
            )
            return cursor.rowcount == 1

        return self._transact("put_marker", work, write=True)

    def purge_expired_markers(self, now: datetime) -> int:
        """See :meth:`Store.purge_expired_markers`."""
        instant = _to_us(now)

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM markers WHERE expires_at_us IS NOT NULL AND expires_at_us <= ?",
                (instant,),
            )
            return cursor.rowcount

        return int(self._transact("purge_expired_markers", work, write=True))

    def config_sources(self) -> dict[str, tuple[str, str]]:
        """See :meth:`Store.config_sources`: one ``SELECT``, no document read."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT c.pipeline_id, c.hash, v.source"
                " FROM config_current AS c JOIN config_versions AS v"
                " ON v.pipeline_id = c.pipeline_id AND v.hash = c.hash"
                " ORDER BY c.pipeline_id"
            ).fetchall()

        rows = self._transact("config_sources", work, write=False)
        return {str(pid): (str(h), str(source)) for pid, h, source in rows}

    def marker_keys(self, prefix: str, now: datetime) -> set[tuple[str, str]] | None:
        """See :meth:`Store.marker_keys`; one ``SELECT``."""
        instant = _to_us(now)

        def work(conn: sqlite3.Connection) -> list[Any]:
            # substr, not LIKE: a prefix holding % or _ matches only itself.
            return conn.execute(
                "SELECT pipeline_id, name FROM markers"
                " WHERE substr(name, 1, ?) = ? AND (expires_at_us IS NULL OR expires_at_us > ?)",
                (len(prefix), prefix, instant),
            ).fetchall()

        rows = self._transact("marker_keys", work, write=False)
        return {(str(pipeline_id), str(name)) for pipeline_id, name in rows}

    def get_marker(self, pipeline_id: str, name: str, now: datetime | None = None) -> Marker | None:
        """See :meth:`Store.get_marker`."""
        instant = _to_us(datetime.now(UTC) if now is None else now)

        def work(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT created_at_us, expires_at_us, data FROM markers"
                " WHERE pipeline_id = ? AND name = ?",
                (pipeline_id, name),
            ).fetchone()

        row = self._transact("get_marker", work, write=False)
        if row is None:
            return None
        created_at, expires_at, data = row
        if expires_at is not None and expires_at <= instant:
            return None
        return Marker(
            pipeline_id,
            name,
            _from_us(created_at),
            json.loads(data),
            None if expires_at is None else _from_us(expires_at),
        )

    # -- events ----------------------------------------------------------------------------
    def append_events(self, events: Iterable[Event]) -> None:
        """See :meth:`Store.append_events`; an event whose id is already stored is skipped."""
        rows = event_rows(events, _to_us)
        if not rows:
            return

        def work(conn: sqlite3.Connection) -> None:
            _insert_events(conn, rows)

        self._transact("append_events", work, write=True)

    def query_events(
        self,
        pipeline_id: str | None = None,
        types: Collection[EventType] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        period: str | None = None,
        after_id: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """See :meth:`Store.query_events`."""
        where, params = event_filter(
            _EVENT_COLUMNS, pipeline_id, types, since, until, period, after_id
        )
        params.append(_sql_limit(limit))
        # Newest first so LIMIT keeps the newest matches; reversed below to oldest first.
        # Only constant fragments are joined here; every value travels as a parameter.
        sql = (
            "SELECT document FROM events WHERE "  # noqa: S608
            + where
            + " ORDER BY at_us DESC, id DESC LIMIT ?"
        )

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        rows = self._transact("query_events", work, write=False)
        return events_from_documents((row[0] for row in reversed(rows)), _log)

    # -- batched markers -------------------------------------------------------------------
    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        """See :meth:`Store.put_markers`: one statement in one transaction (one fsync).

        The same upsert as :meth:`put_marker`, over the keys passed as one JSON array; its
        ``RETURNING`` names the rows it inserted or replaced (an expired marker), not the
        ones whose ``DO UPDATE ... WHERE`` left a live marker alone.
        """
        wanted = unique_keys(keys)
        if not wanted:
            return set()
        params = (
            _to_us(now),
            _optional_us(expires_at),
            encode_document(data or {}, "marker data"),
            json.dumps(wanted),
        )

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "INSERT INTO markers (pipeline_id, name, created_at_us, expires_at_us, data)"
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?, ?, ?"
                " FROM json_each(?) WHERE true"  # WHERE: so ON CONFLICT is not read as a join
                " ON CONFLICT (pipeline_id, name) DO UPDATE SET"
                " created_at_us = excluded.created_at_us,"
                " expires_at_us = excluded.expires_at_us, data = excluded.data"
                " WHERE markers.expires_at_us IS NOT NULL"
                " AND markers.expires_at_us <= excluded.created_at_us"
                " RETURNING pipeline_id, name",
                params,
            ).fetchall()

        rows = self._transact("put_markers", work, write=True)
        return {(str(pipeline_id), str(name)) for pipeline_id, name in rows}

    # -- sensor-write wake-ups (see interlock_core.storage.sqlite_wake) -----------------------
    def subscribe_sensor_writes(self, callback: Callable[[str], None]) -> Callable[[], None] | None:
        """See :meth:`Store.subscribe_sensor_writes`: a Unix datagram socket beside the file
        that every process writing a sensor to it nudges (None where that is unavailable)."""
        unsubscribe = sqlite_wake.subscribe(sqlite_wake.wake_dir(self.path), callback)
        if unsubscribe is None:
            return None
        self._wake_subscriptions = getattr(self, "_wake_subscriptions", 0) + 1
        ended = threading.Event()

        def end() -> None:
            if not ended.is_set():
                ended.set()
                self._wake_subscriptions -= 1
            unsubscribe()

        return end

    def _notify_sensor_write(self, pipeline_id: str) -> None:
        """Nudge the subscribed controllers, after the commit (best effort)."""
        directory: Path | None = getattr(self, "_wake_dir", None)
        if directory is None:
            directory = self._wake_dir = sqlite_wake.wake_dir(self.path)
        sqlite_wake.notify(directory, pipeline_id)

    def _notify_run_write(self, pipeline_id: str) -> None:
        """A producer's emit opens or wakes a run after its sensor write, and the controller
        may already have made its pass for that write: nudge again once the run is due. A
        controller's own run writes (it subscribes) nudge nobody, so controllers never keep
        each other busy."""
        if not getattr(self, "_wake_subscriptions", 0):
            self._notify_sensor_write(pipeline_id)

    def config_hashes(self) -> dict[str, str]:
        """See :meth:`Store.config_hashes`: the ``config_current`` table alone."""

        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT pipeline_id, hash FROM config_current ORDER BY pipeline_id"
            ).fetchall()

        return {str(pid): str(h) for pid, h in self._transact("config_hashes", work, write=False)}

    # The run and its events in one transaction: one commit (fsync) instead of two per step,
    # and a crash between them can no longer lose the events (as on PostgreSQL).
    def create_run_with_events(self, run: Run, events: Iterable[Event]) -> Run | None:
        """See :meth:`Store.create_run_with_events`; one transaction."""
        stored = utc_run(run.evolve(version=1))
        document = run_document(stored)
        rows = event_rows(events, _to_us)

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO runs"
                " (pipeline_id, period, status, version, attempt, due_at_us, owner, document)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (pipeline_id, period) DO NOTHING",
                (stored.pipeline_id, stored.period, *run_values(stored, document, _to_us)),
            )
            if cursor.rowcount != 1:
                return False
            _insert_events(conn, rows)
            return True

        created = self._transact("create_run", work, write=True)
        if created:
            self._notify_run_write(run.pipeline_id)
        return written_run(stored, document) if created else None

    def update_run_with_events(
        self, run: Run, expected_version: int, events: Iterable[Event]
    ) -> Run | None:
        """See :meth:`Store.update_run_with_events`; one transaction."""
        write = encode_run_writes([RunUpdate(run, expected_version, tuple(events))], _to_us)[0]
        stored, document = write[0], write[1]

        def work(conn: sqlite3.Connection) -> bool:
            return _update_run_row(conn, *write)

        updated = self._transact("update_run", work, write=True)
        if updated:
            self._notify_run_write(run.pipeline_id)
        return written_run(stored, document) if updated else None

    def update_runs_with_events(self, updates: Iterable[RunUpdate]) -> list[Run | None]:
        """See :meth:`Store.update_runs_with_events`; one transaction, one commit."""
        prepared = encode_run_writes(updates, _to_us)
        if not prepared:
            return []

        def work(conn: sqlite3.Connection) -> list[bool]:
            return [_update_run_row(conn, *write) for write in prepared]

        won = self._transact("update_runs", work, write=True)
        written = [write for write, ok in zip(prepared, won, strict=True) if ok]
        for pipeline_id in dict.fromkeys(stored.pipeline_id for stored, *_ in written):
            self._notify_run_write(pipeline_id)
        return [_run(write[1]) if ok else None for write, ok in zip(prepared, won, strict=True)]


def _update_run_row(
    conn: sqlite3.Connection,
    stored: Run,
    document: str,
    expected_version: int,
    events: list[tuple[Any, ...]],
) -> bool:
    """The compare-and-set of one run (and its events when it wins), inside a transaction."""
    cursor = conn.execute(
        "UPDATE runs SET status = ?, version = ?, attempt = ?, due_at_us = ?,"
        " owner = ?, document = ?"
        " WHERE pipeline_id = ? AND period = ? AND version = ?",
        (
            *run_values(stored, document, _to_us),
            stored.pipeline_id,
            stored.period,
            expected_version,
        ),
    )
    if cursor.rowcount != 1:
        return False
    _insert_events(conn, events)
    return True


def _insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(
            "INSERT INTO events (id, at_us, type, pipeline_id, period, attempt, document)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            rows,
        )


def _stored_config(row: Any) -> StoredConfig:
    return stored_config_from_row(row, _from_us)


def _sensor(row: Any) -> Sensor:
    return sensor_from_row(row, _from_us)


_run = run_from_document
