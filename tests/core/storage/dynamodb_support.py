"""moto-backed DynamoDB tables for tests, and a per-operation request counter.

Fake credentials, a region and ``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` are set for the
duration (see the toolchain notes: without the last, stream calls miss moto).
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from interlock_core.storage.dynamodb import DynamoDBStore, create_tables

REGION = "eu-west-1"
CONTROL = "interlock-control"
EVENTS = "interlock-events"
STORE_URL = f"dynamodb://{CONTROL}?events={EVENTS}&region={REGION}"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


def set_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for boto3, and no real endpoint override."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Every moto set-up of the tests starts here; see the function for why.
    keep_tables_on_cancelled_transactions(monkeypatch)


def keep_tables_on_cancelled_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancelled ``TransactWriteItems`` leaves the tables as they were, stream included.

    moto 5.2 rolls a cancelled transaction back by swapping each table for a deep copy taken
    before it, so the stream shard a reader's iterator holds is no longer the one written to:
    every later stream record is lost to that reader (on AWS a cancelled transaction changes
    nothing). Here the original table objects stay, with the items as they were, and the
    records the cancelled writes appended are dropped.
    """
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        tables = dict(self.tables)
        streams = {
            name: len(table.stream_shard.items)
            for name, table in tables.items()
            if getattr(table, "stream_shard", None) is not None
        }
        try:
            original(self, transact_items)
        except Exception:
            for name, table in tables.items():
                copy = self.tables.get(name)
                if copy is not None and copy is not table:
                    table.items = copy.items
                    self.tables[name] = table
                if name in streams:
                    del table.stream_shard.items[streams[name] :]
            raise

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)


class RequestCounter:
    """Counts DynamoDB API calls made through a client (botocore ``before-call`` hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        """Every call counted so far."""
        return sum(self.calls.values())

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        """Count the calls made inside the block (the yielded Counter fills on exit)."""
        before = Counter(self.calls)
        result: Counter[str] = Counter()
        yield result
        result.update(self.calls - before)


@contextmanager
def moto_store(config: dict[str, Any] | None = None) -> Iterator[DynamoDBStore]:
    """A DynamoDBStore on fresh moto tables (inside an active ``mock_aws``)."""
    with mock_aws(config=config) if config else mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, CONTROL, EVENTS)
        yield DynamoDBStore(CONTROL, EVENTS, region=REGION, client=client, url=STORE_URL)


@contextmanager
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Serve moto requests one at a time, as DynamoDB applies each request atomically.

    In-process moto checks a write's condition and applies it without a lock, so two threads
    can both pass ``attribute_not_exists``; the real service never lets that happen. Race
    tests run with this so they test the store's conditions, not moto's thread safety.
    """
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    yield
