"""The PostgreSQL Store: one database (or one schema of it) shared by many machines.

How the Store guarantees hold on PostgreSQL, all under READ COMMITTED:

* Create-if-absent is ``INSERT ... ON CONFLICT DO NOTHING`` and compare-and-set is
  ``UPDATE ... WHERE version = %s``; both decide on the row count. A second writer of the same
  row waits for the first one's row lock and then re-checks its ``WHERE`` against the committed
  row, so exactly one of them wins and no update is lost.
* Sensor versions and the rerun ledger's sequence come from counter rows bumped with
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` in the same transaction as the write: the
  row lock serialises writers of one pipeline (or period), so numbers never repeat.
* A run's compare-and-set (or creation) and its events commit in one transaction
  (:meth:`PostgresStore.update_run_with_events`), so a crash never loses an event.
* A sensor write sends ``NOTIFY`` on the schema's channel when it commits;
  :meth:`PostgresStore.subscribe_sensor_writes` ``LISTEN``s so ``interlock run`` on any
  machine wakes at once.
* The schema is versioned: the first write of a process applies missing migrations inside one
  transaction holding an advisory lock, so processes starting together migrate once. Reads
  against a database without the schema answer as an empty store and write nothing. A schema
  newer than this code is refused when the store opens.

Text keys use the ``C`` collation so the database sorts them the way Python does. Times are
``timestamptz`` (microseconds, like Python) and come back as UTC datetimes. Connections come
from a psycopg pool; libpq reads its usual environment and files (``PGPASSWORD``,
``PGSERVICE``, ``~/.pgpass``, ``sslmode=...``). Passwords never appear in messages.
"""

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor
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
from interlock_core.storage.postgres_schema import (
    APPLY_LOCK,
    LOCK_NAMESPACE,
    MIGRATE_LOCK,
    MIGRATIONS,
    SCHEMA_VERSION,
    lock_key,
    notify_channel,
    parse_postgres_url,
)
from interlock_core.storage.redact import redact_url
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
)
from interlock_core.storage.sqlite import SchemaVersionError

log = logging.getLogger("interlock.storage.postgres")

T = TypeVar("T")

# Errors worth one more try of the whole transaction (nothing was committed).
_RETRIED = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def _as_utc(value: datetime) -> datetime:
    # The session may run in any TimeZone; the instant is what matters.
    return value if value.tzinfo is UTC else value.astimezone(UTC)


_EVENT_COLUMNS = EventColumns(
    placeholder="%s", at="at", to_time=utc, types="type = ANY(%s)", to_types=list
)


class PostgresStore(Store):
    """A Store in a PostgreSQL database, in the tables of one schema.

    Args:
        url: ``postgresql://USER@HOST:PORT/DB`` (or ``postgres://``) with optional query
            parameters ``schema`` (default ``public``), ``pool_min``/``pool_max`` (connections,
            default 1 and 10), ``pool_timeout`` (seconds to wait for a connection, default 30),
            ``statement_timeout`` (seconds any statement may take, default 60) and any libpq
            parameter (``sslmode``, ``connect_timeout``, ``application_name``…).

    Raises:
        ValueError: the URL is not usable.
        SchemaVersionError: the schema was written by a newer Interlock.
        StoreError: the server cannot be reached or refuses the connection.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._shown = redact_url(url)
        self._conninfo, self.schema, pool = parse_postgres_url(url)
        self._pool_min = int(pool.get("pool_min", 1))
        self._pool_max = max(int(pool.get("pool_max", 10)), self._pool_min)
        self._pool_timeout = pool.get("pool_timeout", 30.0)
        # No statement waits forever (a lock held by a stuck client, an unresponsive server).
        self._statement_timeout_ms = str(round(pool.get("statement_timeout", 60.0) * 1000))
        self._connect_kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self._conninfo and not os.environ.get("PGCONNECT_TIMEOUT"):
            self._connect_kwargs["connect_timeout"] = 10
        self._s = f'"{self.schema}"'
        self._sql_cache: dict[str, str] = {}
        self._closed = False
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        # Pools inherited through fork(): kept referenced (never closed, never collected), so
        # the child cannot send a termination message on the parent's sockets.
        self._abandoned: list[Any] = []
        self._listeners: list[_Listener] = []
        found = self.schema_version()
        self._check_schema(found)
        self._schema_ready = found == SCHEMA_VERSION

    def __repr__(self) -> str:
        # ``url`` stays as given (other processes re-open it); what is shown never has a password.
        return f"PostgresStore({self._shown!r})"

    # -- connections and transactions -------------------------------------------------------
    def _sql(self, template: str) -> str:
        text = self._sql_cache.get(template)
        if text is None:
            # Only the validated, quoted schema name is formatted in; values are parameters.
            text = self._sql_cache[template] = template.format(s=self._s)
        return text

    def _connect(self, **extra: Any) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, **{**self._connect_kwargs, **extra})
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {self._shown}: {_reason(exc)}") from exc
        try:
            self._configure(conn)
            return conn
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot connect to {self._shown}: {_reason(exc)}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false)", (self._statement_timeout_ms,)
        )

    def _get_pool(self) -> "psycopg_pool.ConnectionPool[psycopg.Connection[Any]]":
        if self._closed:
            raise StoreError(f"the store {self._shown} is closed")
        if os.getpid() != self._pid:
            with self._pool_lock:
                if os.getpid() != self._pid:
                    self._abandoned.append(self._pool)
                    self._abandoned.append(self._listeners)
                    self._pool = None
                    self._listeners = []
                    self._pool_lock = threading.Lock()
                    self._pid = os.getpid()
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = psycopg_pool.ConnectionPool(
                        self._conninfo,
                        min_size=self._pool_min,
                        max_size=self._pool_max,
                        kwargs=self._connect_kwargs,
                        configure=self._configure,
                        timeout=self._pool_timeout,
                        name=f"interlock-{self.schema}",
                        open=True,
                    )
                pool = self._pool
        return pool

    def _transact(
        self,
        operation: str,
        work: Callable[[psycopg.Cursor[Any]], T],
        *,
        write: bool,
        migrating: bool = False,
        one_statement: bool = False,
    ) -> T:
        """Run ``work`` (in one transaction when ``write``) and translate errors.

        A write first makes sure the schema exists. A write of ``one_statement`` runs without
        ``BEGIN``/``COMMIT``: one statement is atomic by itself, and it saves two round trips.
        Deadlocks and serialisation failures roll back everything, so the transaction is
        simply tried again.
        """
        if write and not migrating and not self._schema_ready:
            self.migrate()
        # Enough tries for every pooled connection to turn out dead (a server restart).
        attempts = max(4, self._pool_max + 2)
        for attempt in range(attempts):
            conn: psycopg.Connection[Any] | None = None
            committing = False
            try:
                with self._get_pool().connection() as conn:
                    if not write or one_statement:
                        with conn.cursor() as cur:
                            return work(cur)
                    with conn.transaction(), conn.cursor() as cur:
                        result = work(cur)
                        committing = True
                    return result
            except _RETRIED as exc:
                if attempt >= 3:
                    raise StoreError(f"{operation} failed on {self._shown}: {exc}") from exc
                time.sleep(0.005 * 2**attempt)
            except psycopg_pool.PoolTimeout as exc:
                raise StoreError(
                    f"{operation}: no connection to {self._shown} within "
                    f"{self._pool_timeout:g} s ({exc})"
                ) from exc
            except psycopg.Error as exc:
                if attempt + 1 < attempts and _dropped_before_commit(
                    exc, conn, write=write, one_statement=one_statement, committing=committing
                ):
                    # The pool discards the dead connection; the next one is fresh.
                    log.info("%s: connection to %s was dropped; retrying", operation, self._shown)
                    continue
                raise StoreError(f"{operation} failed on {self._shown}: {_reason(exc)}") from exc
        raise AssertionError("unreachable")

    def _read(self, operation: str, work: Callable[[psycopg.Cursor[Any]], T], empty: T) -> T:
        """A read; a database without the schema is an empty store (and stays untouched)."""
        if not self._schema_ready:
            if not self.is_initialized():
                return empty
            self._schema_ready = True
        return self._transact(operation, work, write=False)

    def schema_version(self) -> int:
        """The schema version in the database (0 when it has no Interlock schema)."""
        conn = self._connect()
        try:
            table = conn.execute(
                "SELECT to_regclass(%s)", (f"{self._s}.interlock_schema",)
            ).fetchone()
            if table is None or table[0] is None:
                return 0
            row = conn.execute(self._sql("SELECT version FROM {s}.interlock_schema")).fetchone()
            return 0 if row is None else int(row[0])
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the schema of {self._shown}: {_reason(exc)}") from exc
        finally:
            conn.close()

    def is_initialized(self) -> bool:
        """True when the database has this store's schema (a writing command creates it)."""
        if self._schema_ready:
            return True

        def work(cur: psycopg.Cursor[Any]) -> bool:
            row = cur.execute("SELECT to_regclass(%s)", (f"{self._s}.interlock_schema",)).fetchone()
            return row is not None and row[0] is not None

        return self._transact("is_initialized", work, write=False)

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; safe to call from several processes.

        All migrations run in one transaction under an advisory lock: concurrent callers wait,
        then find the work done.

        Returns:
            The schema version the database had before.

        Raises:
            SchemaVersionError: the schema is newer than this code knows.
        """
        with self._schema_lock:
            if self._schema_ready:
                return SCHEMA_VERSION

            def upgrade(cur: psycopg.Cursor[Any]) -> int:
                cur.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    (LOCK_NAMESPACE + MIGRATE_LOCK, lock_key(self.schema)),
                )
                # Created only when missing: a user that owns a schema a DBA made for it
                # (in Airflow's database, say) need not be allowed to create schemas.
                exists = cur.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                ).fetchone()
                if exists is None:
                    cur.execute(self._sql("CREATE SCHEMA {s}"))
                cur.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {s}.interlock_schema ("
                        " id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
                    )
                )
                row = cur.execute(self._sql("SELECT version FROM {s}.interlock_schema")).fetchone()
                found = 0 if row is None else int(row[0])
                self._check_schema(found)
                for step in range(found, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        cur.execute(self._sql(statement))
                if found != SCHEMA_VERSION:
                    cur.execute(
                        self._sql(
                            "INSERT INTO {s}.interlock_schema (id, version) VALUES (1, %s)"
                            " ON CONFLICT (id) DO UPDATE SET version = excluded.version"
                        ),
                        (SCHEMA_VERSION,),
                    )
                return found

            found = self._transact("migrate", upgrade, write=True, migrating=True)
            self._schema_ready = True
            return found

    def _check_schema(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self._shown} (schema {self.schema}) has Interlock schema version {found}, "
                f"newer than version {SCHEMA_VERSION} that this Interlock knows; upgrade "
                "Interlock to use it"
            )

    def close(self) -> None:
        """Close the pool and every listener; later calls raise :class:`StoreError`."""
        self._closed = True
        if os.getpid() != self._pid:
            return
        for listener in list(self._listeners):
            listener.stop()
        self._listeners.clear()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close(timeout=5)

    # -- configs ---------------------------------------------------------------------------
    def apply_configs(
        self,
        configs: Mapping[str, tuple[dict[str, Any], str, str]],
        now: datetime,
        *,
        remove_missing: bool = False,
    ) -> list[ConfigChange]:
        """See :meth:`Store.apply_configs`; applies are serialised by an advisory lock."""
        applied_at = utc(now)
        items = sorted(configs.items())

        def work(cur: psycopg.Cursor[Any]) -> list[ConfigChange]:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (LOCK_NAMESPACE + APPLY_LOCK, lock_key(self.schema)),
            )
            changes: list[ConfigChange] = []
            for pipeline_id, (document, config_hash, source) in items:
                # Encoded inside the transaction: a bad document rolls back the ones before it.
                encoded = encode_document(document, f"config {pipeline_id!r}")
                row = cur.execute(
                    self._sql("SELECT hash FROM {s}.config_current WHERE pipeline_id = %s"),
                    (pipeline_id,),
                ).fetchone()
                current = None if row is None else str(row[0])
                if current == config_hash:
                    changes.append(ConfigChange(pipeline_id, "unchanged", config_hash))
                    continue
                cur.execute(
                    self._sql(
                        "INSERT INTO {s}.config_versions"
                        " (pipeline_id, hash, document, source, applied_at)"
                        " VALUES (%s, %s, %s::json, %s, %s)"
                        " ON CONFLICT (pipeline_id, hash) DO UPDATE SET"
                        " document = excluded.document, source = excluded.source,"
                        " applied_at = excluded.applied_at"
                    ),
                    (pipeline_id, config_hash, encoded, source, applied_at),
                )
                cur.execute(
                    self._sql(
                        "INSERT INTO {s}.config_current (pipeline_id, hash) VALUES (%s, %s)"
                        " ON CONFLICT (pipeline_id) DO UPDATE SET hash = excluded.hash"
                    ),
                    (pipeline_id, config_hash),
                )
                action = "created" if current is None else "updated"
                changes.append(ConfigChange(pipeline_id, action, config_hash))
            if remove_missing:
                rows = cur.execute(
                    self._sql("SELECT pipeline_id, hash FROM {s}.config_current")
                ).fetchall()
                for pipeline_id, config_hash in rows:
                    if pipeline_id not in configs:
                        cur.execute(
                            self._sql("DELETE FROM {s}.config_current WHERE pipeline_id = %s"),
                            (pipeline_id,),
                        )
                        changes.append(ConfigChange(pipeline_id, "removed", config_hash))
            return sorted(changes, key=lambda change: change.pipeline_id)

        return self._transact("apply_configs", work, write=True)

    def remove_config(self, pipeline_id: str, now: datetime) -> bool:
        """See :meth:`Store.remove_config`."""
        utc(now)

        def work(cur: psycopg.Cursor[Any]) -> bool:
            cur.execute(
                self._sql("DELETE FROM {s}.config_current WHERE pipeline_id = %s"), (pipeline_id,)
            )
            return cur.rowcount == 1

        return self._transact("remove_config", work, write=True, one_statement=True)

    def get_config(self, pipeline_id: str, config_hash: str | None = None) -> StoredConfig | None:
        """See :meth:`Store.get_config`."""

        def work(cur: psycopg.Cursor[Any]) -> Any:
            if config_hash is None:
                return cur.execute(
                    self._sql(
                        "SELECT v.pipeline_id, v.hash, v.document::text, v.source, v.applied_at"
                        " FROM {s}.config_current AS c JOIN {s}.config_versions AS v"
                        " ON v.pipeline_id = c.pipeline_id AND v.hash = c.hash"
                        " WHERE c.pipeline_id = %s"
                    ),
                    (pipeline_id,),
                ).fetchone()
            return cur.execute(
                self._sql(
                    "SELECT pipeline_id, hash, document::text, source, applied_at"
                    " FROM {s}.config_versions WHERE pipeline_id = %s AND hash = %s"
                ),
                (pipeline_id, config_hash),
            ).fetchone()

        row = self._read("get_config", work, None)
        return None if row is None else _stored_config(row)

    def list_configs(self) -> list[StoredConfig]:
        """See :meth:`Store.list_configs`."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT v.pipeline_id, v.hash, v.document::text, v.source, v.applied_at"
                    " FROM {s}.config_current AS c JOIN {s}.config_versions AS v"
                    " ON v.pipeline_id = c.pipeline_id AND v.hash = c.hash"
                    " ORDER BY c.pipeline_id"
                )
            ).fetchall()

        return [_stored_config(row) for row in self._read("list_configs", work, list[Any]())]

    # -- sensors ---------------------------------------------------------------------------
    def put_sensor(self, pipeline_id: str, key: str, data: dict[str, Any], now: datetime) -> Sensor:
        """See :meth:`Store.put_sensor`; listeners are notified when the write commits."""
        written_at = utc(now)
        encoded = encode_document(data, f"sensor {key!r}")
        channel = notify_channel(self.schema)
        # NOTIFY payloads stop at 8000 bytes; "" (something changed) wakes listeners as well.
        payload = pipeline_id if len(pipeline_id.encode()) <= 7000 else ""

        def work(cur: psycopg.Cursor[Any]) -> int:
            row = cur.execute(
                self._sql(
                    "INSERT INTO {s}.sensor_counters AS c (pipeline_id, version) VALUES (%s, 1)"
                    " ON CONFLICT (pipeline_id) DO UPDATE SET version = c.version + 1"
                    " RETURNING version"
                ),
                (pipeline_id,),
            ).fetchone()
            assert row is not None
            version = int(row[0])
            cur.execute(
                self._sql(
                    "INSERT INTO {s}.sensors (pipeline_id, key, data, written_at, version)"
                    " VALUES (%s, %s, %s::json, %s, %s)"
                    " ON CONFLICT (pipeline_id, key) DO UPDATE SET data = excluded.data,"
                    " written_at = excluded.written_at, version = excluded.version"
                ),
                (pipeline_id, key, encoded, written_at, version),
            )
            cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            return version

        version = self._transact("put_sensor", work, write=True)
        return Sensor(key=key, data=json.loads(encoded), written_at=written_at, version=version)

    def get_sensors(self, pipeline_id: str) -> dict[str, Sensor]:
        """See :meth:`Store.get_sensors`; one ``SELECT``, so one snapshot."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT key, data::text, written_at, version FROM {s}.sensors"
                    " WHERE pipeline_id = %s ORDER BY key"
                ),
                (pipeline_id,),
            ).fetchall()

        return {row[0]: _sensor(row) for row in self._read("get_sensors", work, list[Any]())}

    def sensors_since(self, pipeline_id: str, version: int) -> list[Sensor]:
        """See :meth:`Store.sensors_since`."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT key, data::text, written_at, version FROM {s}.sensors"
                    " WHERE pipeline_id = %s AND version > %s ORDER BY version"
                ),
                (pipeline_id, version),
            ).fetchall()

        return [_sensor(row) for row in self._read("sensors_since", work, list[Any]())]

    def sensor_versions(self) -> dict[str, int]:
        """See :meth:`Store.sensor_versions`."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT pipeline_id, version FROM {s}.sensor_counters ORDER BY pipeline_id"
                )
            ).fetchall()

        return {str(pid): int(v) for pid, v in self._read("sensor_versions", work, list[Any]())}

    def subscribe_sensor_writes(self, callback: Callable[[str], None]) -> Callable[[], None] | None:
        """``LISTEN`` for sensor writes from every process and machine.

        ``callback(pipeline_id)`` runs on a background thread right after a write commits
        (``""`` after a reconnect, when writes may have been missed).

        Returns:
            A function that stops listening.
        """
        listener = _Listener(self, notify_channel(self.schema), callback)
        self._listeners.append(listener)
        listener.start()

        def unsubscribe() -> None:
            listener.stop()
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run | None:
        """See :meth:`Store.create_run`."""
        return self.create_run_with_events(run, ())

    def create_run_with_events(self, run: Run, events: Iterable[Event]) -> Run | None:
        """Create-if-absent; ``events`` commit in the same transaction, only when created."""
        stored = utc_run(run.evolve(version=1))
        document = stored.model_dump_json()
        rows = event_rows(events, utc)

        def work(cur: psycopg.Cursor[Any]) -> bool:
            cur.execute(
                self._sql(
                    "INSERT INTO {s}.runs"
                    " (pipeline_id, period, status, version, attempt, due_at, owner, document)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json)"
                    " ON CONFLICT (pipeline_id, period) DO NOTHING"
                ),
                (stored.pipeline_id, stored.period, *run_values(stored, document, utc)),
            )
            if cur.rowcount != 1:
                return False
            self._insert_events(cur, rows)
            return True

        created = self._transact("create_run", work, write=True, one_statement=not rows)
        return _run(document) if created else None

    def get_run(self, pipeline_id: str, period: str) -> Run | None:
        """See :meth:`Store.get_run`."""

        def work(cur: psycopg.Cursor[Any]) -> Any:
            return cur.execute(
                self._sql(
                    "SELECT document::text FROM {s}.runs WHERE pipeline_id = %s AND period = %s"
                ),
                (pipeline_id, period),
            ).fetchone()

        row = self._read("get_run", work, None)
        return None if row is None else _run(row[0])

    def update_run(self, run: Run, expected_version: int) -> Run | None:
        """See :meth:`Store.update_run`."""
        return self.update_run_with_events(run, expected_version, ())

    def update_run_with_events(
        self, run: Run, expected_version: int, events: Iterable[Event]
    ) -> Run | None:
        """Compare-and-set; ``events`` commit in the same transaction, only when it wins."""
        write = encode_run_writes([RunUpdate(run, expected_version, tuple(events))], utc)[0]
        document = write[1]

        def work(cur: psycopg.Cursor[Any]) -> bool:
            return self._update_run_row(cur, *write)

        updated = self._transact("update_run", work, write=True, one_statement=not write[3])
        return _run(document) if updated else None

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
            clauses.append("pipeline_id = %s")
            params.append(pipeline_id)
        if statuses is not None:
            clauses.append("status = ANY(%s)")
            params.append(sorted(RunStatus(status).value for status in statuses))
        params.append(check_limit(limit))
        # Only constant fragments are joined here; every value travels as a parameter.
        sql = self._sql(
            "SELECT document::text FROM {s}.runs WHERE "  # noqa: S608
            + (" AND ".join(clauses) or "TRUE")
            + " ORDER BY period DESC, pipeline_id LIMIT %s"
        )

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(sql, params).fetchall()

        return [_run(row[0]) for row in self._read("list_runs", work, list[Any]())]

    def due_runs(self, now: datetime, limit: int = 100) -> list[Run]:
        """See :meth:`Store.due_runs`; answered from the partial index on ``due_at``."""
        params = (utc(now), check_limit(limit))

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT document::text FROM {s}.runs"
                    " WHERE due_at IS NOT NULL AND due_at <= %s"
                    " ORDER BY due_at, pipeline_id, period LIMIT %s"
                ),
                params,
            ).fetchall()

        return [_run(row[0]) for row in self._read("due_runs", work, list[Any]())]

    # -- rerun ledger ----------------------------------------------------------------------
    def append_rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> RerunRecord:
        """See :meth:`Store.append_rerun`; a counter row's lock makes ``seq`` race-free."""
        at = utc(now)
        encoded = encode_document(detail or {}, "rerun detail")

        def work(cur: psycopg.Cursor[Any]) -> int:
            row = cur.execute(
                self._sql(
                    "INSERT INTO {s}.rerun_counters AS c (pipeline_id, period, seq)"
                    " VALUES (%s, %s, 1)"
                    " ON CONFLICT (pipeline_id, period) DO UPDATE SET seq = c.seq + 1"
                    " RETURNING seq"
                ),
                (pipeline_id, period),
            ).fetchone()
            assert row is not None
            seq = int(row[0])
            cur.execute(
                self._sql(
                    "INSERT INTO {s}.reruns (pipeline_id, period, seq, reason, at, detail)"
                    " VALUES (%s, %s, %s, %s, %s, %s::json)"
                ),
                (pipeline_id, period, seq, reason, at, encoded),
            )
            return seq

        seq = self._transact("append_rerun", work, write=True)
        return RerunRecord(pipeline_id, period, seq, reason, at, json.loads(encoded))

    def count_reruns(self, pipeline_id: str, period: str, reasons: Collection[str]) -> int:
        """See :meth:`Store.count_reruns`."""
        wanted = sorted(set(reasons))

        def work(cur: psycopg.Cursor[Any]) -> int:
            row = cur.execute(
                self._sql(
                    "SELECT COUNT(*) FROM {s}.reruns WHERE pipeline_id = %s AND period = %s"
                    " AND reason = ANY(%s)"
                ),
                (pipeline_id, period, wanted),
            ).fetchone()
            return 0 if row is None else int(row[0])

        return self._read("count_reruns", work, 0)

    def list_reruns(self, pipeline_id: str, period: str) -> list[RerunRecord]:
        """See :meth:`Store.list_reruns`."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "SELECT seq, reason, at, detail::text FROM {s}.reruns"
                    " WHERE pipeline_id = %s AND period = %s ORDER BY seq"
                ),
                (pipeline_id, period),
            ).fetchall()

        return [
            RerunRecord(pipeline_id, period, int(seq), str(reason), _as_utc(at), json.loads(detail))
            for seq, reason, at, detail in self._read("list_reruns", work, list[Any]())
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
            utc(now),
            None if expires_at is None else utc(expires_at),
            encode_document(data or {}, f"marker {name!r} data"),
        )

        def work(cur: psycopg.Cursor[Any]) -> bool:
            cur.execute(
                self._sql(
                    "INSERT INTO {s}.markers AS m (pipeline_id, name, created_at, expires_at, data)"
                    " VALUES (%s, %s, %s, %s, %s::json)"
                    " ON CONFLICT (pipeline_id, name) DO UPDATE SET"
                    " created_at = excluded.created_at,"
                    " expires_at = excluded.expires_at, data = excluded.data"
                    " WHERE m.expires_at IS NOT NULL AND m.expires_at <= excluded.created_at"
                ),
                params,
            )
            return cur.rowcount == 1

        return self._transact("put_marker", work, write=True, one_statement=True)

    def purge_expired_markers(self, now: datetime) -> int:
        """See :meth:`Store.purge_expired_markers`."""
        instant = utc(now)
        if not self._schema_ready and not self.is_initialized():
            return 0

        def work(cur: psycopg.Cursor[Any]) -> int:
            cur.execute(
                self._sql(
                    "DELETE FROM {s}.markers WHERE expires_at IS NOT NULL AND expires_at <= %s"
                ),
                (instant,),
            )
            return cur.rowcount

        return int(self._transact("purge_expired_markers", work, write=True, one_statement=True))

    def get_marker(self, pipeline_id: str, name: str, now: datetime | None = None) -> Marker | None:
        """See :meth:`Store.get_marker`."""
        instant = utc(datetime.now(UTC) if now is None else now)

        def work(cur: psycopg.Cursor[Any]) -> Any:
            return cur.execute(
                self._sql(
                    "SELECT created_at, expires_at, data::text FROM {s}.markers"
                    " WHERE pipeline_id = %s AND name = %s"
                ),
                (pipeline_id, name),
            ).fetchone()

        row = self._read("get_marker", work, None)
        if row is None:
            return None
        created_at, expires_at, data = row
        if expires_at is not None and expires_at <= instant:
            return None
        return Marker(
            pipeline_id,
            name,
            _as_utc(created_at),
            json.loads(data),
            None if expires_at is None else _as_utc(expires_at),
        )

    # -- events ----------------------------------------------------------------------------
    def _insert_events(self, cur: psycopg.Cursor[Any], rows: Sequence[tuple[Any, ...]]) -> None:
        sql = self._sql(
            "INSERT INTO {s}.events (id, at, type, pipeline_id, period, attempt, document)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s::json) ON CONFLICT (id) DO NOTHING"
        )
        if len(rows) == 1:
            cur.execute(sql, rows[0])
        elif rows:
            cur.executemany(sql, rows)

    def append_events(self, events: Iterable[Event]) -> None:
        """See :meth:`Store.append_events`; an event whose id is already stored is skipped."""
        rows = event_rows(events, utc)
        if not rows:
            return

        def work(cur: psycopg.Cursor[Any]) -> None:
            self._insert_events(cur, rows)

        self._transact("append_events", work, write=True, one_statement=len(rows) == 1)

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
        params.append(check_limit(limit))
        # Newest first so LIMIT keeps the newest matches; reversed below to oldest first.
        # Only constant fragments are joined here; every value travels as a parameter.
        sql = self._sql(
            "SELECT document::text FROM {s}.events WHERE "  # noqa: S608
            + where
            + " ORDER BY at DESC, id DESC LIMIT %s"
        )

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(sql, params).fetchall()

        rows = self._read("query_events", work, list[Any]())
        return events_from_documents((row[0] for row in reversed(rows)), log)

    # -- batched markers -------------------------------------------------------------------
    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        """See :meth:`Store.put_markers`: one statement, so one atomic commit.

        The same upsert as :meth:`put_marker` over two arrays of keys. The keys go in sorted,
        so two controllers claiming overlapping batches take row locks in the same order;
        ``RETURNING`` names the rows inserted or replaced (an expired marker) only.
        """
        wanted = sorted(unique_keys(keys))
        if not wanted:
            return set()
        params = (
            utc(now),
            None if expires_at is None else utc(expires_at),
            encode_document(data or {}, "marker data"),
            [pipeline_id for pipeline_id, _ in wanted],
            [name for _, name in wanted],
        )

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql(
                    "INSERT INTO {s}.markers AS m (pipeline_id, name, created_at, expires_at, data)"
                    " SELECT k.pipeline_id, k.name, %s::timestamptz, %s::timestamptz, %s::json"
                    " FROM unnest(%s::text[], %s::text[]) AS k (pipeline_id, name)"
                    " ON CONFLICT (pipeline_id, name) DO UPDATE SET"
                    " created_at = excluded.created_at,"
                    " expires_at = excluded.expires_at, data = excluded.data"
                    " WHERE m.expires_at IS NOT NULL AND m.expires_at <= excluded.created_at"
                    " RETURNING m.pipeline_id, m.name"
                ),
                params,
            ).fetchall()

        rows = self._transact("put_markers", work, write=True, one_statement=True)
        return {(str(pipeline_id), str(name)) for pipeline_id, name in rows}

    def config_hashes(self) -> dict[str, str]:
        """See :meth:`Store.config_hashes`: the ``config_current`` table alone."""

        def work(cur: psycopg.Cursor[Any]) -> list[Any]:
            return cur.execute(
                self._sql("SELECT pipeline_id, hash FROM {s}.config_current ORDER BY pipeline_id")
            ).fetchall()

        rows = self._read("config_hashes", work, list[Any]())
        return {str(pid): str(h) for pid, h in rows}

    def update_runs_with_events(self, updates: Iterable[RunUpdate]) -> list[Run | None]:
        """See :meth:`Store.update_runs_with_events`; one transaction, one commit."""
        prepared = encode_run_writes(updates, utc)
        if not prepared:
            return []

        def work(cur: psycopg.Cursor[Any]) -> list[bool]:
            return [self._update_run_row(cur, *write) for write in prepared]

        # A transaction rolled back (deadlock, dropped connection) is tried again whole: the
        # compare-and-sets are decided again, so nothing is written twice.
        won = self._transact("update_runs", work, write=True)
        return [_run(p[1]) if ok else None for p, ok in zip(prepared, won, strict=True)]

    def _update_run_row(
        self,
        cur: "psycopg.Cursor[Any]",
        stored: Run,
        document: str,
        expected_version: int,
        events: list[tuple[Any, ...]],
    ) -> bool:
        """The compare-and-set of one run (and its events when it wins), in a transaction."""
        cur.execute(
            self._sql(
                "UPDATE {s}.runs SET status = %s, version = %s, attempt = %s, due_at = %s,"
                " owner = %s, document = %s::json"
                " WHERE pipeline_id = %s AND period = %s AND version = %s"
            ),
            (
                *run_values(stored, document, utc),
                stored.pipeline_id,
                stored.period,
                expected_version,
            ),
        )
        if cur.rowcount != 1:
            return False
        self._insert_events(cur, events)
        return True


_LISTEN_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}
_LISTEN_PING_SECONDS = 15.0


class _Listener:
    """A thread holding one ``LISTEN`` connection; reconnects with backoff when it drops."""

    def __init__(self, store: PostgresStore, channel: str, callback: Callable[[str], None]) -> None:
        self._store = store
        self._channel = channel
        self._callback = callback
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._loop, name="interlock-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:  # a callback may unsubscribe
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        delay = 0.1
        first = True
        while not self._stop.is_set():
            try:
                # Keepalives (and a ping below) find a connection that died silently, e.g. in
                # a network partition, where waiting for notifications alone never would.
                conn = self._store._connect(**_LISTEN_KEEPALIVES)
            except StoreError as exc:
                log.warning("cannot LISTEN for sensor writes (retrying): %s", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                conn.execute(f'LISTEN "{self._channel}"')
                if not first:
                    self._call("")  # writes may have come while the connection was down
                first = False
                delay = 0.1
                pinged = time.monotonic()
                while not self._stop.is_set():
                    # A short timeout so stop() is noticed; notifications arrive at once.
                    for notify in conn.notifies(timeout=0.5):
                        self._call(notify.payload)
                    if time.monotonic() - pinged > _LISTEN_PING_SECONDS:
                        conn.execute("SELECT 1")
                        pinged = time.monotonic()
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("LISTEN connection lost (reconnecting): %s", _reason(exc))
                    self._stop.wait(delay)
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def _call(self, pipeline_id: str) -> None:
        try:
            self._callback(pipeline_id)
        except Exception:  # a failing callback must not end the subscription
            log.exception("sensor write callback failed")


# The server ended the session (pg_terminate_backend, shutdown, crash recovery): a statement
# sent on it never ran, or ran in a transaction the server rolled back.
_TERMINATED = {"57P01", "57P02", "57P03"}


def _dropped_before_commit(
    exc: psycopg.Error,
    conn: psycopg.Connection[Any] | None,
    *,
    write: bool,
    one_statement: bool,
    committing: bool,
) -> bool:
    """True when ``exc`` is a dead connection and retrying cannot apply a write twice.

    Reads are always safe to repeat; a transaction that failed before its ``COMMIT`` was
    rolled back; a single autocommit statement only when the server says it ended the session
    (a connection that merely vanished may have committed it).
    """
    if conn is None or not conn.broken:
        return False
    if not write:
        return True
    if not one_statement:
        return not committing
    return exc.sqlstate in _TERMINATED


def _reason(exc: BaseException) -> str:
    """psycopg's message, on one line (libpq's messages span lines)."""
    return " ".join(str(exc).split())


def _stored_config(row: Any) -> StoredConfig:
    return stored_config_from_row(row, _as_utc)


def _sensor(row: Any) -> Sensor:
    return sensor_from_row(row, _as_utc)


_run = run_from_document


def open_postgres_store(url: str) -> PostgresStore:
    """``open_store``'s entry point for ``postgresql://`` and ``postgres://`` URLs."""
    return PostgresStore(url)
