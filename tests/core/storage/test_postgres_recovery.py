"""The PostgreSQL store's pool recovers from connections the server dropped while idle.

A server restart, a failover or an idle-connection reaper leaves every pooled connection
dead; the next operation on each must not fail (that would be one failed controller step or
CLI command per pooled connection). Reads retry on a fresh connection; writes retry when
nothing can have committed.
"""

import threading
import uuid
from collections.abc import Iterator

import pytest

from interlock_core.storage import Store, open_store
from tests.core.storage.contract import T0, make_run
from tests.postgres_server import fresh_schema, server_url


@pytest.fixture
def app_and_store() -> Iterator[tuple[str, Store]]:
    app = f"r12_{uuid.uuid4().hex[:12]}"
    with fresh_schema() as url:
        store = open_store(f"{url}&pool_min=4&application_name={app}")
        try:
            yield app, store
        finally:
            store.close()


def _terminate(app: str) -> int:
    """Terminate the app's backends and wait until they have exited.

    ``pg_terminate_backend`` only signals: a backend still dying when the store's next
    statement arrives may close without its "terminating connection" message, and a single
    write that meets a connection closed without a reason is rightly not retried (it may have
    committed). Once the backends are gone their message waits in each socket for the store.
    """
    import time

    import psycopg

    with psycopg.connect(server_url(), autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchall()
        pids = [int(row[0]) for row in rows]
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if left is not None and int(left[0]) == 0:
                break
            time.sleep(0.01)
    return len(pids)


def _fill_pool(store: Store) -> None:
    barrier = threading.Barrier(4)

    def hold() -> None:
        barrier.wait(timeout=10)
        for _ in range(3):
            store.get_sensors("orders")

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)


def test_operations_after_the_server_dropped_every_pooled_connection(
    app_and_store: tuple[str, Store],
) -> None:
    app, store = app_and_store
    assert store.put_sensor("orders", "ready", {"n": 0}, T0).version == 1
    _fill_pool(store)
    assert _terminate(app) >= 2
    # Reads, transactional writes and single-statement writes each meet a dead connection.
    for _ in range(4):
        assert "ready" in store.get_sensors("orders")
    assert _terminate(app) >= 1
    versions = [store.put_sensor("orders", "ready", {"n": n}, T0).version for n in range(1, 5)]
    assert versions == [2, 3, 4, 5]
    assert _terminate(app) >= 1
    assert store.create_run(make_run()) is not None
    assert store.put_marker("orders", "m", T0) is True
    assert store.put_marker("orders", "m", T0) is False
