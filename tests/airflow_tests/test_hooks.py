"""InterlockHook: where the store comes from, and the engine built once per process."""

import json
import os

import pytest

from integrations.airflow.errors import InterlockFatalError
from integrations.airflow.hooks import InterlockHook, InterlockTarget


def set_connection(monkeypatch, conn_id: str, extra: dict) -> None:
    value = json.dumps({"conn_type": "interlock", "extra": extra})
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def test_the_connection_extra_names_the_store_and_pipelines(monkeypatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", "sqlite:////ignored.db")
    set_connection(monkeypatch, "interlock_default", {"store": "memory://a", "pipelines": "/p"})
    assert InterlockHook().target() == InterlockTarget("memory://a", "/p")


def test_prefixed_extra_fields_of_older_uis_work(monkeypatch) -> None:
    set_connection(monkeypatch, "other", {"extra__interlock__store": "memory://b"})
    assert InterlockHook("other").target() == InterlockTarget("memory://b", None)


def test_a_connection_without_a_store_is_fatal(monkeypatch) -> None:
    set_connection(monkeypatch, "interlock_default", {"pipelines": "/p"})
    with pytest.raises(InterlockFatalError, match="has no 'store'"):
        InterlockHook().target()


def test_without_a_connection_the_environment_is_used(monkeypatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", "memory://c")
    monkeypatch.setenv("INTERLOCK_PIPELINES", "/pipes")
    assert InterlockHook("absent").target() == InterlockTarget("memory://c", "/pipes")


def test_the_engine_is_built_once_per_store_url(interlock, tmp_path, monkeypatch) -> None:
    first = InterlockHook().get_conn()
    assert InterlockHook().get_conn() is first
    assert first.pipeline_ids() == ["hourly", "inventory", "upstream", "with-job"]
    other = tmp_path / "other.db"
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{other}")
    monkeypatch.setenv("INTERLOCK_PIPELINES", str(interlock.pipelines))
    second = InterlockHook().get_conn()
    assert second is not first
    assert second.pipeline_ids() == first.pipeline_ids()  # applied on first use


def test_the_pipelines_directory_is_applied_again_when_a_file_changes(tmp_path, monkeypatch):
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "a.yaml").write_text("pipeline: {id: a}\n")
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("INTERLOCK_PIPELINES", str(pipelines))
    engine = InterlockHook().get_conn()
    assert engine.pipeline_ids() == ["a"]
    (pipelines / "b.yaml").write_text("pipeline: {id: b}\n")
    assert InterlockHook().get_conn().pipeline_ids() == ["a", "b"]
    (pipelines / "b.yaml").write_text("pipeline: {id: b}\nschedule: {timezone: Mars/Base}\n")
    # a broken file keeps the last good config active
    assert InterlockHook().get_conn().pipeline_ids() == ["a", "b"]


def test_a_missing_pipelines_directory_is_fatal(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("INTERLOCK_PIPELINES", str(tmp_path / "nowhere"))
    with pytest.raises(InterlockFatalError, match="directory not found"):
        InterlockHook().get_conn()


def test_a_bad_store_url_is_fatal(monkeypatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", "ftp://somewhere")
    with pytest.raises(InterlockFatalError, match="unsupported store URL"):
        InterlockHook().get_conn()


def test_test_connection_reports_the_pipelines(interlock, monkeypatch) -> None:
    assert InterlockHook().test_connection() == (True, "4 pipeline(s) configured")
    monkeypatch.setenv("INTERLOCK_STORE", "ftp://somewhere")
    ok, message = InterlockHook().test_connection()
    assert not ok and "unsupported store URL" in message


def test_a_forked_child_starts_without_the_parents_engines(interlock) -> None:
    from integrations.airflow import engines

    InterlockHook().get_conn()
    assert engines._engines
    pid = os.fork()
    if pid == 0:  # the child only looks and leaves: no locks, no I/O
        os._exit(0 if not engines._engines and not engines._applied else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert engines._engines  # the parent keeps its own
