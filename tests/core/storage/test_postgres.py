"""The Store contract against PostgresStore, plus what only PostgreSQL has: URL, schema
versions, migrations under concurrency, NOTIFY, events committed with the run."""

from collections.abc import Iterator

import pytest

from interlock_core.storage import Store
from tests.core.storage.contract import StoreContract
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
