"""open_store: picking a backend by URL."""

import sys
import types
from pathlib import Path

import pytest

import interlock_core.storage as storage
from interlock_core.storage import MemoryStore, SQLiteStore, Store, StoreError, open_store
from tests.core.storage.contract import T0


def test_memory_url_opens_a_new_store_each_time() -> None:
    first = open_store("memory://")
    second = open_store("memory://")
    assert isinstance(first, MemoryStore)
    assert first is not second
    first.put_sensor("p", "k", {}, T0)
    assert second.get_sensors("p") == {}
    assert first.url == "memory://"


def test_named_memory_stores_are_shared_within_the_process() -> None:
    first = open_store("memory://shared-test")
    second = open_store("memory://shared-test")
    other = open_store("memory://other-test")
    assert first is second
    assert other is not first
    assert first.url == "memory://shared-test"


def test_sqlite_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/interlock.db")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.url == "sqlite:///data/interlock.db"
        store.put_sensor("p", "k", {}, T0)
    finally:
        store.close()
    assert (tmp_path / "data" / "interlock.db").exists()


def test_sqlite_dot_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///./interlock.db").close()
    assert (tmp_path / "interlock.db").exists()


def test_sqlite_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "x.db"
    store = open_store(f"sqlite:///{path}")  # tmp_path is absolute: four slashes in all
    try:
        assert isinstance(store, SQLiteStore)
        assert store.path == path
    finally:
        store.close()
    assert path.exists()


def test_sqlite_options(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db?busy_timeout=2.5&synchronous=normal")
    try:
        assert isinstance(store, SQLiteStore)
        assert store._busy_timeout == 2.5
        conn = store._connection()
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///:memory:", ":memory: is not supported"),
        ("sqlite:///", "name a database file"),
        ("sqlite://", "sqlite:///relative/path.db"),
        ("sqlite://host/x.db", "sqlite:///relative/path.db"),
        ("sqlite:x.db", "sqlite:///relative/path.db"),
        ("sqlite:///x.db?timeout=3", "unsupported SQLite URL option"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout must be a number"),
        ("sqlite:///x.db?synchronous=maybe", "unsupported synchronous mode"),
    ],
)
def test_bad_sqlite_urls(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        open_store(url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["mysql://db/x", "", "interlock.db", "/tmp/x.db", "MEMORY://"])
def test_unknown_schemes_name_the_url_and_the_supported_ones(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported store URL") as info:
        open_store(url)
    assert repr(url) in str(info.value)
    for scheme in ("memory://", "sqlite:///", "dynamodb://", "postgresql://"):
        assert scheme in str(info.value)


def test_postgres_without_psycopg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "interlock_core.storage.postgres", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ValueError, match=r"pip install 'interlock\[postgres\]'") as info:
        open_store("postgresql://app:secret@db/airflow")
    assert "secret" not in str(info.value)


def test_dynamodb_is_not_available_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the module did not exist.
    monkeypatch.setitem(sys.modules, "interlock_core.storage.dynamodb", None)
    with pytest.raises(ValueError, match="the DynamoDB store is not available yet"):
        open_store("dynamodb://control?events=events&region=eu-west-1")


def test_dynamodb_missing_dependency_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    monkeypatch.setattr(storage.importlib, "import_module", fail)
    with pytest.raises(ValueError, match=r"interlock\[aws\]"):
        open_store("dynamodb://control")


def test_dynamodb_delegates_to_the_backend_module(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def open_dynamodb_store(url: str) -> Store:
        opened.append(url)
        return MemoryStore(url)

    module = types.ModuleType("interlock_core.storage.dynamodb")
    module.open_dynamodb_store = open_dynamodb_store  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "interlock_core.storage.dynamodb", module)
    store = open_store("dynamodb://control?events=ev")
    assert opened == ["dynamodb://control?events=ev"]
    assert store.url == "dynamodb://control?events=ev"


def test_unopenable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path}/dir.db")


@pytest.mark.parametrize(
    ("url", "meant"),
    [("interlock.db", "sqlite:///interlock.db"), ("/tmp/x.db", "sqlite:////tmp/x.db")],
)
def test_a_bare_path_is_shown_as_the_sqlite_url_it_meant(url: str, meant: str) -> None:
    with pytest.raises(ValueError, match="unsupported store URL") as info:
        open_store(url)
    assert str(info.value).endswith(f"(a SQLite file is {meant})")


def test_other_unknown_urls_get_no_sqlite_hint() -> None:
    with pytest.raises(ValueError) as info:
        open_store("mysql://db/x")
    assert "a SQLite file" not in str(info.value)
