"""The PostgreSQL server the tests use, and a fresh schema per test.

``scripts/test`` starts a throwaway cluster and exports ``INTERLOCK_TEST_POSTGRES_URL``
(scripts/_postgres.sh). Without it the PostgreSQL tests skip locally and fail in CI
(``CI=true``): a CI run must never pass without them.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENV = "INTERLOCK_TEST_POSTGRES_URL"


def server_url() -> str:
    """The test server's URL; skips (fails in CI) when there is none."""
    url = os.environ.get(ENV, "")
    if not url:
        message = f"no PostgreSQL server for the tests: set {ENV} (scripts/test starts one)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return url


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=NAME`` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (tests clean up after themselves)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A store URL on the test server in a schema of its own, dropped afterwards."""
    url = server_url()
    schema = f"t_{uuid.uuid4().hex[:20]}"
    try:
        yield with_schema(url, schema)
    finally:
        drop_schema(url, schema)


def store_url_for(backend: str, tmp_path: "os.PathLike[str]", name: str) -> Iterator[str]:
    """A fresh store URL for a parametrised ``backend`` (``sqlite`` or ``postgres``): the
    generator yields it and cleans up afterwards (use with ``yield from`` in a fixture)."""
    if backend == "postgres":
        with fresh_schema() as url:
            yield url
        return
    if backend == "sqlite":
        yield f"sqlite:///{os.path.join(tmp_path, name + '.db')}"
        return
    raise ValueError(f"unknown backend {backend!r}")
