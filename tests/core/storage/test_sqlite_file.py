"""The SQLite store's file: owner-only, a regular file, bounded waits."""

import os
import stat
from pathlib import Path

import pytest

from interlock_core.storage import open_store
from interlock_core.storage.base import StoreError


def test_a_new_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = open_store(f"sqlite:///{tmp_path / 'interlock.db'}")
    finally:
        os.umask(old)
    store.close()
    assert stat.S_IMODE((tmp_path / "interlock.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("target", ["/dev/null", "fifo", "folder"])
def test_non_regular_files_are_refused(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        path = tmp_path / "x.db"
        os.mkfifo(path)
    elif target == "folder":
        path = tmp_path / "x.db"
        path.mkdir()
    else:
        path = Path(target)
    with pytest.raises(StoreError, match="not a regular file"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("value", ["1e12", "inf", "nan", "-1", "3601"])
def test_busy_timeout_is_bounded(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        open_store(f"sqlite:///{tmp_path / 'x.db'}?busy_timeout={value}")
    assert not (tmp_path / "x.db").exists()


def test_a_dangling_link_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.db").symlink_to(tmp_path / "missing" / "y.db")
    with pytest.raises(StoreError, match="symbolic link to a missing file"):
        open_store(f"sqlite:///{tmp_path / 'x.db'}")


def _run_once(database: Path, pipelines: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from interlock_core.cli import main

    args = ["--store", f"sqlite:///{database}", "run", "--once", "--pipelines", str(pipelines)]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "orders.yaml").write_text(
        "pipeline: {id: orders}\nschedule: {cron: '0 6 * * *'}\n"
        "job: {type: command, config: {command: ['true']}}\n"
    )
    return folder


def test_the_controller_refuses_a_database_another_user_created(
    tmp_path: Path, pipelines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a shared sticky folder another user could create the database first and write the
    # command jobs the controller then starts; producers (emit) may still use such a file.
    database = tmp_path / "interlock.db"
    open_store(f"sqlite:///{database}").close()
    owner = database.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    code, output = _run_once(database, pipelines)
    assert code == 1 and "not by this controller's user" in output
    monkeypatch.undo()
    code, output = _run_once(database, pipelines)
    assert code == 0, output


def test_the_controller_refuses_a_world_writable_database(tmp_path: Path, pipelines: Path) -> None:
    database = tmp_path / "interlock.db"
    open_store(f"sqlite:///{database}").close()
    database.chmod(0o666)
    code, output = _run_once(database, pipelines)
    assert code == 1 and "writable by everyone" in output
