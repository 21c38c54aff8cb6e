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
