"""The runtime's wake-up hook: a store that notifies sensor writes ends the wait between passes
at once; a store that cannot (SQLite, memory) is polled every tick."""

import threading
import time
from collections.abc import Callable

from interlock_core.engine import Interlock
from interlock_core.runtime import CycleReport, LocalRuntime
from interlock_core.storage import MemoryStore


class NotifyingStore(MemoryStore):
    """A memory store that calls its subscribers on every sensor write (as PostgreSQL does)."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: list[Callable[[str], None]] = []
        self.unsubscribed = threading.Event()

    def subscribe_sensor_writes(self, callback: Callable[[str], None]) -> Callable[[], None] | None:
        self.callbacks.append(callback)
        return self.unsubscribed.set

    def notify(self, pipeline_id: str) -> None:
        for callback in self.callbacks:
            callback(pipeline_id)


def test_a_notification_ends_the_wait_between_passes_at_once() -> None:
    store = NotifyingStore()
    runtime = LocalRuntime(Interlock(store), tick=30.0)
    passes: list[float] = []

    def on_cycle(report: CycleReport) -> None:
        passes.append(time.monotonic())
        if len(passes) == 3:
            runtime.request_stop()

    loop = threading.Thread(target=runtime.run_forever, args=(on_cycle,))
    loop.start()
    for _ in range(2):
        deadline = time.monotonic() + 5
        while not store.callbacks and time.monotonic() < deadline:
            time.sleep(0.005)
        count = len(passes)
        time.sleep(0.05)  # the loop is waiting its 30 s tick now
        sent = time.monotonic()
        store.notify("p")
        while len(passes) == count and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(passes) > count, "a notification did not wake the loop"
        assert passes[-1] - sent < 1.0
    loop.join(timeout=5)
    assert not loop.is_alive()
    assert store.unsubscribed.is_set()


def test_a_store_that_cannot_notify_is_polled() -> None:
    store = MemoryStore()
    assert store.subscribe_sensor_writes(lambda pipeline_id: None) is None
    runtime = LocalRuntime(Interlock(store), tick=0.01)
    passes: list[CycleReport] = []

    def on_cycle(report: CycleReport) -> None:
        passes.append(report)
        if len(passes) == 3:
            runtime.request_stop()

    runtime.run_forever(on_cycle)
    assert len(passes) == 3
