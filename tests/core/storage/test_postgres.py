"""The Store contract against PostgresStore, plus what only PostgreSQL has: URL, schema
versions, migrations under concurrency, NOTIFY, events committed with the run."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock_core.events import EventType
from interlock_core.storage import SchemaVersionError, Store, StoreError, open_store, redact_url
from tests.core.storage.contract import T0, StoreContract, make_event, make_run
from tests.postgres_server import fresh_schema


class TestPostgresStore(StoreContract):
    """PostgresStore honours the Store contract (each test in a schema of its own)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        from interlock_core.storage.postgres import PostgresStore

        with fresh_schema() as url:
            store = PostgresStore(url)
            store.migrate()
            yield store
            store.close()


# -- what only PostgreSQL has ------------------------------------------------------------------


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as schema_url:
        yield schema_url


def _tables(url: str) -> list[str]:
    import psycopg

    from interlock_core.storage.postgres_schema import parse_postgres_url

    conninfo, schema, _ = parse_postgres_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_open_store_takes_both_schemes(url: str) -> None:
    from interlock_core.storage.postgres import PostgresStore

    for scheme_url in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(scheme_url)
        try:
            assert isinstance(store, PostgresStore)
            assert store.url == scheme_url
        finally:
            store.close()


def test_reads_on_an_empty_database_write_nothing_and_the_first_write_migrates(url: str) -> None:
    store = open_store(url)
    try:
        assert not store.is_initialized()
        assert store.list_configs() == []
        assert store.get_sensors("p") == {}
        assert store.list_runs() == []
        assert store.query_events() == []
        assert store.get_marker("p", "m", T0) is None
        assert store.purge_expired_markers(T0) == 0
        assert _tables(url) == []  # not even the schema's version table
        assert store.put_sensor("p", "k", {"n": 1}, T0).version == 1
        assert store.is_initialized()
        assert "runs" in _tables(url) and "interlock_schema" in _tables(url)
    finally:
        store.close()


def test_migrations_are_idempotent_and_safe_from_many_processes_at_once(url: str) -> None:
    from interlock_core.storage.postgres import PostgresStore
    from interlock_core.storage.postgres_schema import SCHEMA_VERSION

    stores = [PostgresStore(url) for _ in range(8)]
    found: list[int] = []
    errors: list[BaseException] = []

    def migrate(store: PostgresStore) -> None:
        try:
            found.append(store.migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        # Exactly one of them found the empty database; the others found the work done.
        assert sorted(found) == [0] + [SCHEMA_VERSION] * 7
        assert stores[0].schema_version() == SCHEMA_VERSION
        again = PostgresStore(url)
        assert again.migrate() == SCHEMA_VERSION
        again.close()
    finally:
        for store in stores:
            store.close()


def test_a_user_without_create_on_the_database_works_in_a_schema_it_owns(url: str) -> None:
    import psycopg

    from interlock_core.storage.postgres_schema import parse_postgres_url

    conninfo, schema, _ = parse_postgres_url(url)
    role = f"r_{schema}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        database = admin.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'REVOKE CREATE ON DATABASE "{database}" FROM "{role}"')
        admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        may_create = admin.execute(
            "SELECT has_database_privilege(%s, %s, 'CREATE')", (role, database)
        ).fetchone()
        assert may_create == (False,), "the role must not be allowed to create schemas"
        try:
            store = open_store(f"{url}&user={role}")
            try:
                assert store.put_sensor("p", "k", {}, T0).version == 1
            finally:
                store.close()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            admin.execute(f'DROP ROLE "{role}"')


def test_a_newer_schema_is_refused_clearly(url: str) -> None:
    import psycopg

    from interlock_core.storage.postgres_schema import SCHEMA_VERSION, parse_postgres_url

    store = open_store(url)
    store.put_sensor("p", "k", {}, T0)
    store.close()
    conninfo, schema, _ = parse_postgres_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".interlock_schema SET version = %s', (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match=r"newer than version .* upgrade Interlock"):
        open_store(url)


def test_events_commit_with_the_compare_and_set_or_not_at_all(url: str) -> None:
    store = open_store(url)
    try:
        created = store.create_run_with_events(make_run(), [make_event(EventType.RUN_OPENED)])
        assert created is not None
        assert [e.type for e in store.query_events()] == [EventType.RUN_OPENED]
        # An event the database refuses (a NUL character in a text column) rolls the run
        # write back with it.
        broken = make_event(EventType.JOB_TRIGGERED, 1, period="bad\x00period")
        with pytest.raises(StoreError):
            store.update_run_with_events(created.evolve(message="moved"), 1, [broken])
        assert store.get_run("p", "2026-03-01") == created
        assert len(store.query_events()) == 1
        # A lost compare-and-set appends nothing.
        good = make_event(EventType.JOB_TRIGGERED, 1)
        assert store.update_run_with_events(created, 7, [good]) is None
        assert len(store.query_events()) == 1
        moved = store.update_run_with_events(created.evolve(message="moved"), 1, [good])
        assert moved is not None and moved.version == 2
        assert [e.id for e in store.query_events()][-1] == good.id
        # A run that exists already is not created again, and its events are not appended.
        assert store.create_run_with_events(make_run(), [make_event(minutes=2)]) is None
        assert len(store.query_events()) == 2
    finally:
        store.close()


def test_an_event_row_of_a_newer_version_is_skipped_not_fatal(url: str) -> None:
    # Like SQLite (test_sqlite_bad_rows.py): one row of an event type this version does not
    # know (a newer controller sharing the store) must not stop alert forwarding.
    import json

    import psycopg

    from interlock_core.storage.postgres_schema import parse_postgres_url

    store = open_store(url)
    try:
        known = make_event(EventType.JOB_FAILED, 1)
        store.append_events([known])
        future = {**known.to_dict(), "id": "0000000000001-future", "type": "FUTURE_EVENT"}
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                f'INSERT INTO "{schema}".events (id, at, type, pipeline_id, period, attempt,'
                " document) VALUES (%s, %s, %s, %s, NULL, NULL, %s::json)",
                (future["id"], T0, "FUTURE_EVENT", "p", json.dumps(future)),
            )
        assert [e.id for e in store.query_events()] == [known.id]
    finally:
        store.close()


def test_a_sensor_write_from_another_process_notifies_listeners_at_once(url: str) -> None:
    listener_store = open_store(url)
    writer = open_store(url)
    heard: list[tuple[str, float]] = []
    got = threading.Event()

    def callback(pipeline_id: str) -> None:
        heard.append((pipeline_id, time.monotonic()))
        got.set()

    writer.put_sensor("p", "k", {}, T0)  # creates the schema
    unsubscribe = listener_store.subscribe_sensor_writes(callback)
    assert unsubscribe is not None
    try:
        time.sleep(0.3)  # the LISTEN connection is up
        latencies = []
        for n in range(5):
            got.clear()
            start = time.monotonic()
            writer.put_sensor(f"pipe-{n}", "k", {"n": n}, T0)
            assert got.wait(2), "no notification within 2 s"
            latencies.append(heard[-1][1] - start)
            assert heard[-1][0] == f"pipe-{n}"
        assert max(latencies) < 0.1, latencies
    finally:
        unsubscribe()
        listener_store.close()
        writer.close()
    count = len(heard)
    time.sleep(0.1)
    assert len(heard) == count


def test_libpq_environment_and_service_files_work(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[interlock-test]\nhost={parts.hostname}\nport={parts.port}\n"
        f"user={parts.username}\ndbname={parts.path.lstrip('/')}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    schema = parts.query.split("schema=")[1]
    store = open_store(f"postgresql://?service=interlock-test&schema={schema}")
    try:
        assert store.put_sensor("p", "k", {}, T0).version == 1
    finally:
        store.close()
    # PGHOST/PGPORT/PGUSER/PGDATABASE fill in what the URL leaves out.
    monkeypatch.delenv("PGSERVICEFILE")
    for name, value in (
        ("PGHOST", parts.hostname),
        ("PGPORT", str(parts.port)),
        ("PGUSER", parts.username),
        ("PGDATABASE", parts.path.lstrip("/")),
        ("PGPASSWORD", "unused-with-trust"),
    ):
        monkeypatch.setenv(name, value or "")
    store = open_store(f"postgresql://?schema={schema}")
    try:
        assert store.get_sensors("p")["k"].version == 1
    finally:
        store.close()


def test_passwords_never_appear_in_messages() -> None:
    port = _closed_port()
    url = f"postgresql://app:hunter2-secret@127.0.0.1:{port}/db?schema=x&connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "app:***@127.0.0.1" in message
    with pytest.raises(StoreError) as caught:
        open_store(
            f"postgresql://app@127.0.0.1:{port}/db?password=hunter2-secret&connect_timeout=2"
        )
    assert "hunter2" not in str(caught.value) and "password=***" in str(caught.value)


def test_the_store_shows_no_password(url: str) -> None:
    store = open_store(url + "&password=hunter2")  # trust authentication ignores it
    try:
        assert "hunter2" not in repr(store) and "***" in repr(store)
    finally:
        store.close()


def test_a_statement_blocked_by_a_stuck_client_times_out(url: str) -> None:
    import psycopg

    from interlock_core.storage.postgres_schema import parse_postgres_url

    store = open_store(url + "&statement_timeout=0.3")
    try:
        created = store.create_run(make_run())
        assert created is not None
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo) as stuck:  # holds the run's row lock, never commits
            stuck.execute(f'UPDATE "{schema}".runs SET owner = %s', ("stuck",))
            started = time.monotonic()
            with pytest.raises(StoreError, match="statement timeout"):
                store.update_run(created.evolve(message="moved"), 1)
            assert time.monotonic() - started < 5
            stuck.rollback()
        assert store.update_run(created.evolve(message="moved"), 1) is not None
    finally:
        store.close()


@pytest.mark.parametrize(
    ("bad_url", "match"),
    [
        ("postgresql://h/db?schema=bad-name", "unsupported schema name"),
        ("postgresql://h/db?schema=", "unsupported schema name"),
        ("postgresql://h/db?schema=information_schema", "system schema"),
        ("postgresql://h/db?schema=pg_catalog", "system schema"),
        ("postgresql://h/db?schema=pg_temp", "system schema"),
        ("postgresql://h/db?pool_max=0", "pool_max must be a positive integer"),
        ("postgresql://h/db?pool_timeout=soon", "pool_timeout must be a positive number"),
        ("postgresql://h/db?statement_timeout=-1", "statement_timeout must be a positive number"),
    ],
)
def test_bad_urls_are_refused_before_connecting(bad_url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_store(bad_url)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p@h:5/d?schema=s") == "postgresql://u:***@h:5/d?schema=s"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact_url("postgres://h/d?password=x&sslmode=require") == (
        "postgres://h/d?password=***&sslmode=require"
    )
    assert (
        redact_url("postgresql://?service=s&password=x") == "postgresql://?service=s&password=***"
    )
    assert redact_url("sqlite:///./interlock.db") == "sqlite:///./interlock.db"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
