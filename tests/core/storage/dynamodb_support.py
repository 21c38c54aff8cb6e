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
