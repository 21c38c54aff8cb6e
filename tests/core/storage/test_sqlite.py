"""The Store contract against SQLiteStore, plus what only SQLite has: file, schema, locking."""

import multiprocessing
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock_core.storage import SchemaVersionError, SQLiteStore, Store, StoreError
from interlock_core.storage.sqlite import SCHEMA_VERSION
from tests.core.storage.contract import T0, StoreContract, at, make_run


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


class TestSQLiteStore(StoreContract):
    """SQLiteStore honours the Store contract."""

    @pytest.fixture
    def store(self, db_path: Path) -> Iterator[Store]:
        store = SQLiteStore(db_path)
        yield store
        store.close()


class TestSQLiteStoreReopened(StoreContract):
    """The contract also holds through a second store object on the same file.

    Writes go through one object and reads through another, so nothing can be served from
    state that only lives in the writing object.
    """

    @pytest.fixture
    def store(self, db_path: Path) -> Iterator[Store]:
        writer = SQLiteStore(db_path)
        reader = SQLiteStore(db_path)
        yield _SplitStore(writer, reader)
        writer.close()
        reader.close()


class _SplitStore(SQLiteStore):
    """Routes reads to one SQLiteStore and writes to another (test helper)."""

    _READS = frozenset(
        {
            "get_config",
            "list_configs",
            "config_hashes",
            "config_sources",
            "marker_keys",
            "get_sensors",
            "sensors_since",
            "sensor_versions",
            "get_run",
            "list_runs",
            "due_runs",
            "count_reruns",
            "list_reruns",
            "get_marker",
            "query_events",
        }
    )

    def __init__(self, writer: SQLiteStore, reader: SQLiteStore) -> None:  # no super(): a proxy
        self._writer = writer
        self._reader = reader

    def __getattribute__(self, name: str) -> object:
        if name.startswith("_") or name not in _ALL_STORE_METHODS:
            return object.__getattribute__(self, name)
        target = self._reader if name in _SplitStore._READS else self._writer
        return getattr(target, name)


_ALL_STORE_METHODS = frozenset(
    name for name in dir(Store) if not name.startswith("_") and callable(getattr(Store, name))
)


def test_file_uses_wal_and_the_current_schema(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    store = SQLiteStore(path)
    store.put_sensor("p", "k", {}, T0)
    store.close()
    assert path.exists()


def test_data_survives_reopening(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    store.put_sensor("p", "k", {"n": 1}, T0)
    assert store.create_run(make_run()) is not None
    store.close()
    again = SQLiteStore(db_path)
    try:
        assert again.get_sensors("p")["k"].data == {"n": 1}
        assert again.sensor_versions() == {"p": 1}
        assert again.put_sensor("p", "k", {"n": 2}, T0).version == 2
        assert again.get_run("p", "2026-03-01") is not None
        assert again.migrate() == SCHEMA_VERSION
    finally:
        again.close()


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer"):
        SQLiteStore(db_path)


def test_an_old_schema_is_migrated(db_path: Path) -> None:
    # Version 0 is an empty file; migrating it must create every table.
    sqlite3.connect(db_path).close()
    store = SQLiteStore(db_path)
    try:
        assert store.put_sensor("p", "k", {}, T0).version == 1
    finally:
        store.close()


@pytest.mark.parametrize("path", [":memory:", "", "file:x.db?mode=memory"])
def test_in_memory_sqlite_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="unsupported SQLite path"):
        SQLiteStore(path)


def test_bad_options_are_refused(db_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(db_path, synchronous="sometimes")
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteStore(db_path, busy_timeout=-1)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(StoreError, match=r"garbage\.db"):
        SQLiteStore(path)


def test_a_lock_held_past_busy_timeout_is_a_store_error(db_path: Path) -> None:
    store = SQLiteStore(db_path, busy_timeout=0.2)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.put_sensor("p", "k", {}, T0)
        assert time.monotonic() - started >= 0.2
        # Readers are not blocked by a writer in WAL mode.
        assert store.get_sensors("p") == {}
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.put_sensor("p", "k", {}, T0).version == 1
    store.close()


def test_a_writer_waits_for_a_short_lock(db_path: Path) -> None:
    store = SQLiteStore(db_path, busy_timeout=10)
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    timer.start()
    try:
        assert store.put_sensor("p", "k", {}, T0).version == 1
    finally:
        timer.join()
        blocker.close()
        store.close()


def test_a_closed_store_refuses_work(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    store.put_sensor("p", "k", {}, T0)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_sensors("p")


def test_each_thread_gets_its_own_connection_and_dead_ones_are_released(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        for n in range(5):
            thread = threading.Thread(target=store.put_sensor, args=("p", f"k{n}", {}, T0))
            thread.start()
            thread.join()
        store.get_sensors("p")
        # The main thread's connection plus at most the last worker's (released lazily).
        assert len(store._conns) <= 2
        assert len(store.get_sensors("p")) == 5
    finally:
        store.close()


def _plan(store: SQLiteStore, sql: str, params: tuple[object, ...]) -> str:
    conn = store._connection()
    return " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_due_runs_and_event_queries_use_their_indexes(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        due = _plan(
            store,
            "SELECT document FROM runs WHERE due_at_us IS NOT NULL AND due_at_us <= ?"
            " ORDER BY due_at_us, pipeline_id, period LIMIT ?",
            (0, 100),
        )
        assert "runs_by_due" in due
        assert "TEMP B-TREE" not in due
        by_pipeline = _plan(
            store,
            "SELECT document FROM events WHERE pipeline_id = ? AND at_us >= ?"
            " ORDER BY at_us DESC, id DESC LIMIT ?",
            ("p", 0, 10),
        )
        assert "events_by_pipeline" in by_pipeline
        by_type = _plan(
            store,
            "SELECT document FROM events WHERE type IN (SELECT value FROM json_each(?))"
            " ORDER BY at_us DESC, id DESC LIMIT ?",
            ('["SLA_BREACH"]', 10),
        )
        assert "events_by_type" in by_type
        by_period = _plan(store, "SELECT document FROM events WHERE period = ? LIMIT ?", ("d1", 10))
        assert "events_by_period" in by_period
    finally:
        store.close()


def test_due_runs_scale_with_the_due_not_the_total(db_path: Path) -> None:
    store = SQLiteStore(db_path, synchronous="OFF")
    try:
        for n in range(300):
            store.create_run(make_run(period=f"d{n:04d}", due_at=None if n % 3 else at(n)))
        due = store.due_runs(at(30))
        assert [r.period for r in due] == [f"d{n:04d}" for n in range(0, 31, 3)]
    finally:
        store.close()


def _forked_child(store: SQLiteStore, queue: "multiprocessing.Queue[int]") -> None:
    queue.put(store.put_sensor("p", "child", {}, T0).version)
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
def test_a_forked_child_opens_its_own_connections(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert store.put_sensor("p", "parent", {}, T0).version == 1
        context = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue[int] = context.Queue()
        child = context.Process(target=_forked_child, args=(store, queue))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert queue.get(timeout=5) == 2
        # The parent's connection still works after the child closed its own.
        assert store.put_sensor("p", "parent", {}, T0).version == 3
        assert sorted(store.get_sensors("p")) == ["child", "parent"]
    finally:
        store.close()


def test_a_thread_holding_the_write_lock_too_long_is_a_store_error(db_path: Path) -> None:
    store = SQLiteStore(db_path, busy_timeout=0.2)
    try:
        # As if another thread of this process were stuck mid-write.
        with store._write_lock, pytest.raises(StoreError, match="busy"):
            store.put_sensor("p", "k", {}, T0)
        assert store.put_sensor("p", "k", {}, T0).version == 1
    finally:
        store.close()
