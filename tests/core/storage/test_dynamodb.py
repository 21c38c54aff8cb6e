"""The Store contract against DynamoDBStore on moto, plus what only DynamoDB has."""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from interlock_core.storage import Store, StoreError, open_store
from interlock_core.storage.dynamodb import DynamoDBStore, create_tables, parse_url
from tests.core.storage.contract import T0, StoreContract, at, make_event, make_run
from tests.core.storage.dynamodb_support import (
    STORE_URL,
    RequestCounter,
    moto_store,
    set_aws_env,
)


class TestDynamoDBStore(StoreContract):
    """DynamoDBStore honours the Store contract."""

    @pytest.fixture
    def store(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
        set_aws_env(monkeypatch)
        with moto_store() as store:
            yield store


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBStore]:
    set_aws_env(monkeypatch)
    with moto_store() as store:
        yield store


def test_open_store_builds_the_store_from_its_url(dynamo: DynamoDBStore) -> None:
    store = open_store(STORE_URL)
    assert isinstance(store, DynamoDBStore)
    assert (store.control_table, store.events_table, store.url) == (
        "interlock-control",
        "interlock-events",
        STORE_URL,
    )
    # It reaches the same (moto) tables through its own boto3 client.
    dynamo.put_sensor("p", "a", {"n": 1}, T0)
    assert store.get_sensors("p")["a"].data == {"n": 1}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("dynamodb://?events=e", "use dynamodb://CONTROL_TABLE"),
        ("dynamodb://control", "names no events table"),
        ("dynamodb://control?events=e&colour=red", "colour"),
        ("dynamodb://control?events=e&event_ttl_days=soon", "event_ttl_days"),
        ("dynamodb://control?events=e&event_ttl_days=0", "positive"),
    ],
)
def test_bad_urls_are_refused_with_the_part_named(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_url_options() -> None:
    assert parse_url("dynamodb://c?events=e&region=us-east-1&endpoint=http://127.0.0.1:8000") == {
        "control_table": "c",
        "events_table": "e",
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:8000",
        "event_ttl_days": 400,
    }


def test_go_era_raw_sensor_items_are_read_and_stamped(dynamo: DynamoDBStore) -> None:
    dynamo.client.put_item(
        TableName="interlock-control",
        Item={
            "PK": {"S": "PIPELINE#p"},
            "SK": {"S": "SENSOR#upstream"},
            "data": {"M": {"status": {"S": "ready"}, "count": {"N": "12"}, "r": {"N": "0.5"}}},
        },
    )
    raw = dynamo.get_sensors("p")["upstream"]
    assert (raw.data, raw.version, raw.written_at) == (
        {"status": "ready", "count": 12, "r": 0.5},
        0,
        None,
    )
    assert dynamo.stamp_raw_sensor("p", "upstream", T0) == 1
    assert dynamo.stamp_raw_sensor("p", "upstream", T0) is None  # already stamped
    assert dynamo.stamp_raw_sensor("p", "missing", T0) is None
    stamped = dynamo.get_sensors("p")["upstream"]
    assert (stamped.version, stamped.written_at) == (1, T0)
    assert dynamo.put_sensor("p", "other", {}, T0).version > 1


def test_create_tables_is_idempotent(dynamo: DynamoDBStore) -> None:
    result = create_tables(dynamo.client, "interlock-control", "interlock-events")
    assert result == {"interlock-control": "exists", "interlock-events": "exists"}
    for table in ("interlock-control", "interlock-events"):
        ttl = dynamo.client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
        stream = dynamo.client.describe_table(TableName=table)["Table"]["StreamSpecification"]
        assert stream["StreamEnabled"] is True


def test_events_and_markers_carry_a_ttl(dynamo: DynamoDBStore) -> None:
    event = make_event()
    dynamo.append_events([event])
    dynamo.put_marker("p", "m", T0, expires_at=at(60))
    items = dynamo.client.scan(TableName="interlock-events")["Items"]
    assert int(items[0]["expires"]["N"]) == int((event.at + timedelta(days=400)).timestamp())
    marker = dynamo.client.get_item(
        TableName="interlock-control", Key={"PK": {"S": "PIPELINE#p"}, "SK": {"S": "MARK#m"}}
    )["Item"]
    assert int(marker["expires"]["N"]) == int(at(60).timestamp())


def test_request_counts(dynamo: DynamoDBStore) -> None:
    """The number of DynamoDB requests each hot Store call makes, whatever the sensor count."""
    counter = RequestCounter(dynamo.client)
    for n in range(40):
        dynamo.put_sensor("p", f"s{n}", {"n": n, "pad": "x" * 200}, T0)
    with counter.measure() as put:
        dynamo.put_sensor("p", "s0", {"n": 1}, T0)
    with counter.measure() as read:
        assert len(dynamo.get_sensors("p")) == 40
    created = dynamo.create_run(make_run(due_at=T0))
    assert created is not None
    with counter.measure() as run_calls:
        dynamo.get_run("p", "2026-03-01")
        dynamo.update_run(created, 1)
        dynamo.due_runs(T0)
    assert dict(put) == {"UpdateItem": 1, "PutItem": 1}
    assert dict(read) == {"Query": 1}
    assert dict(run_calls) == {"GetItem": 1, "PutItem": 1, "Query": 1}


def test_put_markers_is_one_transaction_per_100_fresh_keys(dynamo: DynamoDBStore) -> None:
    counter = RequestCounter(dynamo.client)
    keys = [("p", f"alerted#{n:03d}") for n in range(250)]
    with counter.measure() as fresh:
        assert len(dynamo.put_markers(keys, T0, expires_at=at(60))) == 250
    assert dict(fresh) == {"TransactWriteItems": 3}
    # All taken: each chunk is cancelled once, naming every key, and nothing is retried.
    with counter.measure() as taken:
        assert dynamo.put_markers(keys, at(1), expires_at=at(60)) == set()
    assert dict(taken) == {"TransactWriteItems": 3}


class _Cancelled(Exception):
    def __init__(self, codes: list[str] | None) -> None:
        super().__init__("Transaction cancelled")
        self.response: dict[str, object] = {"Error": {"Code": "TransactionCanceledException"}}
        if codes is not None:
            self.response["CancellationReasons"] = [{"Code": code} for code in codes]


class _ScriptedClient:
    """Answers transact_write_items from a script of cancellations, then succeeds."""

    def __init__(self, script: list[list[str] | None]) -> None:
        self.script = script
        self.calls: list[int] = []

    def transact_write_items(self, TransactItems: list[object]) -> dict[str, object]:
        self.calls.append(len(TransactItems))
        if self.script:
            raise _Cancelled(self.script.pop(0))
        return {}


def test_put_markers_retries_a_conflict_and_drops_taken_keys() -> None:
    client = _ScriptedClient(
        [["None", "TransactionConflict", "None"], ["ConditionalCheckFailed", "None", "None"]]
    )
    store = DynamoDBStore("c", "e", client=client)
    keys = [("p", "a"), ("p", "b"), ("p", "c")]
    assert store.put_markers(keys, T0) == {("p", "b"), ("p", "c")}
    assert client.calls == [3, 3, 2]


def test_put_markers_gives_up_on_endless_conflicts_and_unexplained_cancels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("interlock_core.storage.dynamodb.time.sleep", lambda seconds: None)
    endless = DynamoDBStore("c", "e", client=_ScriptedClient([["TransactionConflict"]] * 50))
    with pytest.raises(StoreError, match="kept cancelling"):
        endless.put_markers([("p", "a")], T0)
    unexplained = DynamoDBStore("c", "e", client=_ScriptedClient([None]))
    with pytest.raises(StoreError, match="without per-item reasons"):
        unexplained.put_markers([("p", "a")], T0)
