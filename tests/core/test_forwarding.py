"""Alert forwarding: every event of the log reaches the channels once, across controllers,
with its markers claimed a bounded batch per transaction."""

import io
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock_core import runtime
from interlock_core.alerts.base import AlertSink
from interlock_core.clock import ManualClock
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.forwarding import AlertForwarder, marker_name
from interlock_core.runtime import ConsoleEvents
from interlock_core.storage import MemoryStore, Store, StoreError, open_store
from tests.core.isolation_clock import NOW
from tests.postgres_server import store_url_for


class Collect(AlertSink):
    """A channel that records what it was given (thread-safe)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[Event] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        if event.id == self.fail_on:
            raise RuntimeError("channel down")
        with self._lock:
            self.events.append(event)


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing catches it)."""


class CrashingChannel(AlertSink):
    def publish(self, event: Event) -> None:
        raise Crash


class CountingStore(MemoryStore):
    """Records the size of every put_markers batch, and can fail the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_next = 0

    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        wanted = list(keys)
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("disk full")
        self.batches.append(len(wanted))
        return super().put_markers(wanted, now, data=data, expires_at=expires_at)


def events(count: int, start: datetime = NOW - timedelta(minutes=50)) -> list[Event]:
    """``count`` events of a few pipelines, a few seconds apart (controller events too)."""
    return [
        Event(
            EventType.JOB_FAILED if n % 3 else EventType.CONTROLLER_ERROR,
            f"p{n % 11}" if n % 3 else "",
            "2026-03-05",
            1,
            start + timedelta(seconds=n),
            f"event {n}",
        )
        for n in range(count)
    ]


def engine_on(store: Store) -> Interlock:
    return Interlock(store, {}, ManualClock(NOW))


def test_runtime_still_exports_the_forwarder() -> None:
    assert runtime.AlertForwarder is AlertForwarder


def test_every_event_goes_out_once_in_bounded_batches() -> None:
    store = CountingStore()
    log = events(1234)
    store.append_events(log)
    channels = Collect()
    forwarder = AlertForwarder(engine_on(store), None, channels)
    assert forwarder.pump() == 1234
    assert [e.id for e in channels.events] == [e.id for e in log]
    assert store.batches == [500, 500, 234]
    assert forwarder.pump() == 0  # seen: no second claim, no second delivery
    assert store.batches == [500, 500, 234]
    # A restarted controller replays the hour: markers stop every repeat.
    again = Collect()
    assert AlertForwarder(engine_on(store), None, again).pump() == 1234
    assert again.events == []


def test_a_failed_claim_is_tried_again_next_pass() -> None:
    store = CountingStore()
    store.append_events(events(700))
    channels = Collect()
    console = io.StringIO()
    forwarder = AlertForwarder(
        engine_on(store), ConsoleEvents(console), channels, replay=timedelta(hours=1)
    )
    forwarder._started = NOW - timedelta(hours=2)  # print the replayed events too
    store.fail_next = 2
    with pytest.raises(StoreError):
        forwarder.pump()
    assert channels.events == []
    assert console.getvalue() == ""  # nothing of a failed batch counts as seen
    with pytest.raises(StoreError):
        forwarder.pump()  # the first batch failed this time, so nothing at all went out
    assert forwarder.pump() == 700
    assert len(channels.events) == 700
    assert len(console.getvalue().splitlines()) == 700


def test_one_failing_publish_does_not_drop_the_rest_of_its_batch() -> None:
    store = MemoryStore()
    log = events(20)
    store.append_events(log)
    channels = Collect(fail_on=log[3].id)
    forwarder = AlertForwarder(engine_on(store), None, channels, batch_size=8)
    with pytest.raises(RuntimeError, match="channel down"):
        forwarder.pump()
    # The rest of the failing batch went out; later batches wait for the next pass.
    assert [e.id for e in channels.events] == [e.id for e in log[:8] if e.id != log[3].id]
    assert forwarder.pump() == 12
    assert [e.id for e in channels.events] == [e.id for e in log if e.id != log[3].id]


def test_a_crash_after_a_claim_drops_at_most_that_batch() -> None:
    # Claim-then-publish: the documented cost of batching. The crashed controller's claimed
    # batch is lost to every controller; all the other events still go out once.
    store = MemoryStore()
    log = events(30)
    store.append_events(log)
    crashed = AlertForwarder(engine_on(store), None, CrashingChannel(), batch_size=8)
    with pytest.raises(Crash):
        crashed.pump()
    survivor = Collect()
    AlertForwarder(engine_on(store), None, survivor, batch_size=8).pump()
    assert [e.id for e in survivor.events] == [e.id for e in log[8:]]
    assert all(store.get_marker(e.pipeline_id, marker_name(e), now=NOW) for e in log[:8])


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        AlertForwarder(engine_on(MemoryStore()), None, Collect(), batch_size=0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two controllers' views of one store (their own connections where the backend has any)."""
    if request.param == "memory":
        shared = MemoryStore()
        yield shared, shared
        return
    urls = store_url_for(request.param, tmp_path, "forwarding")
    url = next(urls)
    first, second = open_store(url), open_store(url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()
        for _ in urls:  # drops the PostgreSQL schema
            pass


def test_two_racing_controllers_deliver_every_event_exactly_once(
    two_stores: tuple[Store, Store],
) -> None:
    first, second = two_stores
    backlog = events(900)
    first.append_events(backlog)
    channels = [Collect(), Collect()]
    forwarders = [
        AlertForwarder(engine_on(store), None, sink, batch_size=size)
        for store, sink, size in zip(two_stores, channels, (64, 100), strict=True)
    ]
    live = events(300, start=NOW - timedelta(minutes=5))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def controller(forwarder: AlertForwarder) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(12):
                forwarder.pump()
        except BaseException as exc:
            errors.append(exc)

    def producer() -> None:
        barrier.wait(timeout=30)
        for start in range(0, len(live), 25):  # events keep arriving during the race
            second.append_events(live[start : start + 25])

    threads = [threading.Thread(target=controller, args=(f,)) for f in forwarders]
    threads.append(threading.Thread(target=producer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for forwarder in forwarders:
        forwarder.pump()  # whatever arrived after a controller's last pass
    delivered = Counter(e.id for sink in channels for e in sink.events)
    assert set(delivered) == {e.id for e in [*backlog, *live]}
    assert set(delivered.values()) == {1}
