"""SQLite sensor-write wake-ups (issue 13): a write in any process ends a controller's wait.

Real SQLite files and real Unix datagram sockets; the subprocess case is a real second
process. The wake-up is never a correctness dependency: the runtime test at the end proves
the controller reacts within a fraction of its (30 s) tick only because of the nudge.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlock_core.engine import Interlock
from interlock_core.runs import Run, RunOrigin, RunStatus
from interlock_core.runtime import CycleReport, LocalRuntime
from interlock_core.storage import sqlite_wake
from interlock_core.storage.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not sqlite_wake.supported(), reason="no Unix sockets")


class Calls:
    """Collects callback calls; ``wait`` returns once ``count`` arrived (or times out)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived = threading.Condition()

    def __call__(self, pipeline_id: str) -> None:
        with self.arrived:
            self.ids.append(pipeline_id)
            self.arrived.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.ids) >= count, timeout)


def test_a_sensor_written_by_another_process_calls_the_subscriber(tmp_path: Path) -> None:
    database = tmp_path / "interlock.db"
    store = SQLiteStore(database)
    calls = Calls()
    unsubscribe = store.subscribe_sensor_writes(calls)
    assert unsubscribe is not None
    code = (
        "import sys; from datetime import datetime, UTC\n"
        "from interlock_core.storage.sqlite import SQLiteStore\n"
        "SQLiteStore(sys.argv[1]).put_sensor('orders', 'ready', {'n': 1}, datetime.now(UTC))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, str(database)], check=True, env=env, timeout=60)
    assert calls.wait(1), "no wake-up from the other process"
    assert calls.ids[0] == "orders"
    unsubscribe()
    store.close()


def test_unsubscribe_removes_the_socket_and_later_writes_still_succeed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "interlock.db")
    directory = sqlite_wake.wake_dir(store.path)
    calls = Calls()
    unsubscribe = store.subscribe_sensor_writes(calls)
    assert unsubscribe is not None
    assert [p.suffix for p in directory.iterdir()] == [".sock"]
    assert oct(directory.stat().st_mode & 0o777) == oct(0o700)
    unsubscribe()
    unsubscribe()  # twice is fine
    assert not directory.exists()  # the last subscriber leaves no folder beside the database
    assert not any(
        t.name == "interlock-sqlite-wake" and t.is_alive() for t in threading.enumerate()
    )
    store.put_sensor("orders", "ready", {}, NOW)  # nobody listens: nothing breaks
    assert calls.ids == []
    store.close()


def test_the_wake_folder_stays_while_another_subscriber_listens(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "interlock.db")
    directory = sqlite_wake.wake_dir(store.path)
    first, second = Calls(), Calls()
    end_first = store.subscribe_sensor_writes(first)
    end_second = store.subscribe_sensor_writes(second)
    assert end_first is not None and end_second is not None
    end_first()
    assert [p.suffix for p in directory.iterdir()] == [".sock"]
    store.put_sensor("orders", "ready", {}, NOW)
    assert second.wait(1)
    end_second()
    assert not directory.exists()
    store.close()


def test_a_folder_removed_by_the_last_subscriber_while_binding_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "interlock.db")
    directory = sqlite_wake.wake_dir(store.path)
    remove_stale = sqlite_wake._remove_stale
    removed: list[Path] = []

    def leaving_subscriber_removes_the_folder(folder: Path) -> None:
        remove_stale(folder)
        if not removed:  # another controller's unsubscribe, between _prepare and bind
            folder.rmdir()
            removed.append(folder)

    monkeypatch.setattr(sqlite_wake, "_remove_stale", leaving_subscriber_removes_the_folder)
    calls = Calls()
    unsubscribe = store.subscribe_sensor_writes(calls)
    assert removed == [directory]
    assert unsubscribe is not None, "fell back to polling after the folder was removed"
    store.put_sensor("orders", "ready", {}, NOW)
    assert calls.wait(1)
    unsubscribe()
    store.close()


def test_a_dead_subscribers_socket_is_cleared_and_does_not_block_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "interlock.db")
    directory = sqlite_wake.wake_dir(store.path)
    directory.mkdir(mode=0o700)
    stale = directory / "999999-1.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(os.fspath(stale))  # closed without removing its file: a killed controller
    store.put_sensor("orders", "ready", {}, NOW)  # refused quietly
    calls = Calls()
    unsubscribe = store.subscribe_sensor_writes(calls)
    assert unsubscribe is not None
    assert not stale.exists()
    store.put_sensor("orders", "ready", {}, NOW)
    assert calls.wait(1)
    unsubscribe()
    store.close()


def waiting_run() -> Run:
    return Run(
        pipeline_id="orders",
        period="2026-03-04",
        status=RunStatus.WAITING,
        origin=RunOrigin.TRIGGER,
        opened_at=NOW,
        attempt_started_at=NOW,
        updated_at=NOW,
        due_at=NOW,
    )


def test_run_writes_nudge_from_producers_but_not_from_the_subscribed_controller(
    tmp_path: Path,
) -> None:
    controller = SQLiteStore(tmp_path / "interlock.db")
    producer = SQLiteStore(tmp_path / "interlock.db")
    calls = Calls()
    unsubscribe = controller.subscribe_sensor_writes(calls)
    assert unsubscribe is not None
    run = waiting_run()
    created = controller.create_run(run)  # the controller's own write: no nudge
    assert created is not None
    time.sleep(0.05)
    assert calls.ids == []
    assert producer.update_run(created.evolve(due_at=NOW), created.version) is not None
    assert calls.wait(1), "a producer's run write did not nudge the controller"
    unsubscribe()
    controller.close()
    producer.close()


def test_run_writes_with_their_events_nudge_the_controller_too(tmp_path: Path) -> None:
    # The engine writes a run and its events in one transaction; a producer's emit that
    # opens or wakes a run that way must wake the controller like a plain run write.
    controller = SQLiteStore(tmp_path / "interlock.db")
    producer = SQLiteStore(tmp_path / "interlock.db")
    calls = Calls()
    unsubscribe = controller.subscribe_sensor_writes(calls)
    assert unsubscribe is not None
    run = waiting_run()
    created = producer.create_run_with_events(run, ())
    assert created is not None
    assert calls.wait(1), "a producer's create_run_with_events did not nudge the controller"
    assert producer.update_run_with_events(created, created.version, ()) is not None
    assert calls.wait(2), "a producer's update_run_with_events did not nudge the controller"
    unsubscribe()
    controller.close()
    producer.close()


def test_switched_off_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sqlite_wake.ENV_SWITCH, "off")
    store = SQLiteStore(tmp_path / "interlock.db")
    assert store.subscribe_sensor_writes(lambda pipeline_id: None) is None
    store.close()


def test_the_wake_folder_is_the_same_for_every_name_of_the_file() -> None:
    short = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        database = short / "interlock.db"
        database.touch()
        alias = short / "alias.db"
        alias.symlink_to(database)
        assert sqlite_wake.wake_dir(alias) == sqlite_wake.wake_dir(database)
        assert sqlite_wake.wake_dir(database) == Path(f"{database}.wake")
        deep = short / ("d" * 120) / "interlock.db"
        folder = sqlite_wake.wake_dir(deep)
        assert folder.name.startswith(f"interlock-wake-{os.getuid()}-")
        assert folder == sqlite_wake.wake_dir(deep)  # the same for every process
    finally:
        shutil.rmtree(short)


def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "interlock.db")
    directory = sqlite_wake.wake_dir(store.path)
    directory.write_text("not a folder")
    assert store.subscribe_sensor_writes(lambda pipeline_id: None) is None
    store.put_sensor("orders", "ready", {}, NOW)  # still writes
    store.close()


def test_the_runtime_wakes_at_once_for_another_stores_write(tmp_path: Path) -> None:
    database = tmp_path / "interlock.db"
    runtime = LocalRuntime(Interlock(SQLiteStore(database)), tick=30.0)
    passes: list[float] = []

    def on_cycle(report: CycleReport) -> None:
        passes.append(time.monotonic())
        if len(passes) == 2:
            runtime.request_stop()

    loop = threading.Thread(target=runtime.run_forever, args=(on_cycle,))
    loop.start()
    directory = sqlite_wake.wake_dir(database)
    deadline = time.monotonic() + 10
    while not (passes and directory.exists() and any(directory.iterdir())):
        assert time.monotonic() < deadline, "the controller never subscribed"
        time.sleep(0.01)
    time.sleep(0.05)  # waiting its 30 s tick now
    sent = time.monotonic()
    producer = SQLiteStore(database)
    producer.put_sensor("orders", "ready", {}, NOW)
    loop.join(timeout=10)
    assert not loop.is_alive(), "the write did not wake the controller"
    assert passes[-1] - sent < 5.0
    assert not directory.exists()  # unsubscribed on the way out, the folder removed
    producer.close()
