"""Sensor writes on PostgreSQL notify listeners whatever the pipeline id's length."""

import threading
from collections.abc import Iterator

import pytest

from interlock_core.storage import Store, open_store
from tests.core.storage.contract import T0
from tests.postgres_server import fresh_schema


@pytest.fixture
def store() -> Iterator[Store]:
    with fresh_schema() as url:
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


def test_a_long_multibyte_pipeline_id_is_written_and_still_wakes_listeners(store: Store) -> None:
    heard: list[str] = []
    woke = threading.Event()

    def on_write(pipeline_id: str) -> None:
        heard.append(pipeline_id)
        woke.set()

    unsubscribe = store.subscribe_sensor_writes(on_write)
    assert unsubscribe is not None
    try:
        # The LISTEN connection needs a moment; a write before it would go unheard.
        for _ in range(100):
            store.put_sensor("short", "k", {}, T0)
            if woke.wait(0.05):
                break
        woke.clear()
        heard.clear()
        pipeline_id = "é" * 5000  # 10 000 bytes: more than a NOTIFY payload may carry
        assert store.put_sensor(pipeline_id, "k", {"n": 1}, T0).version == 1
        assert woke.wait(5)
        assert heard[-1] in {pipeline_id, ""}
        assert store.get_sensors(pipeline_id)["k"].data == {"n": 1}
    finally:
        unsubscribe()
