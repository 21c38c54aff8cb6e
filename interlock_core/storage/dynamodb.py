"""The DynamoDB Store: the AWS runtime's state in a control table and an events table.

The layout is in :mod:`interlock_core.storage.dynamodb_schema`. How the contract is kept:

* **Create-if-absent / compare-and-set**: conditional ``PutItem`` (``attribute_not_exists`` /
  ``version = :expected``); markers ``attribute_not_exists OR expired``.
* **Sensor versions** and rerun-ledger seqs come from ``UpdateItem ADD`` on a counter item
  (race-free across processes); a sensor is written only if its stored version is older, so
  two writers that raced never leave the older document in place.
* **One consistent read of a pipeline's sensors**: one strongly consistent Query of
  ``SENSOR`` and ``SENSOR#…`` (the counter sorts first). A sensor whose version is above the
  counter read at the start was written during the read; the read is then repeated, so what is
  returned is the state at the moment the counter was read.
* **No Scan on a hot path**: due runs come from the sparse ``DUE`` index; listings from the
  sparse ``GSI1`` index and the config registry item. Only ``query_events`` without a pipeline
  and without types (the CLI's unfiltered listing) scans the events table.
* TTL: events get ``expires`` = at + ``event_ttl_days`` (URL option, default 400); markers with
  an expiry get it too, and ``purge_expired_markers`` deletes the expired ones in the meantime.

boto3 is imported lazily, only when a client is built; tests inject their own clients.
"""

import importlib.util
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor
from interlock_core.storage.base import (
    ConfigChange,
    Marker,
    RerunRecord,
    Store,
    StoredConfig,
    StoreError,
    check_limit,
    encode_document,
    select_events,
    unique_keys,
    utc,
    utc_run,
)
from interlock_core.storage.dynamodb_schema import (
    DUE_INDEX,
    GSI1,
    TTL_ATTRIBUTE,
    TYPE_INDEX,
    control_table_definition,
    events_table_definition,
)

REGISTRY_KEY = {"PK": {"S": "INTERLOCK"}, "SK": {"S": "CONFIGS"}}
COUNTER_SK = "SENSOR"
SENSOR_PREFIX = "SENSOR#"
RUN_PREFIX = "RUN#"
DEFAULT_EVENT_TTL_DAYS = 400
_TRANSACTION_ITEMS = 100
# TransactWriteItems answers TransactionConflict while another transaction holds an item:
# tried again this often (with a short back-off) before giving up.
_CONFLICT_TRIES = 8
_CONSISTENT_READ_TRIES = 50


def pipeline_pk(pipeline_id: str) -> str:
    """The partition key of a pipeline's items."""
    return f"PIPELINE#{pipeline_id}"


def stamp(value: datetime) -> str:
    """A fixed-width, lexically sortable UTC timestamp (microseconds)."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    """The datetime of a :func:`stamp` (or any ISO-8601 text with an offset)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return utc(value) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _epoch(value: datetime) -> int:
    return int(utc(value).timestamp())


def from_attribute(value: Mapping[str, Any]) -> Any:
    """A plain Python value from a DynamoDB attribute value (for Go-era ``data`` maps)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        number = Decimal(inner)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: from_attribute(item) for key, item in inner.items()}
    if kind == "L":
        return [from_attribute(item) for item in inner]
    if kind == "SS":
        return sorted(inner)
    if kind == "NS":
        return sorted(from_attribute({"N": item}) for item in inner)
    raise ValueError(f"unsupported DynamoDB attribute type {kind!r}")


def sensor_from_item(item: Mapping[str, Any]) -> Sensor:
    """A Sensor from a control-table item (ours: ``doc`` JSON; Go-era: ``data`` map)."""
    key = item["SK"]["S"][len(SENSOR_PREFIX) :]
    if "doc" in item:
        data = json.loads(item["doc"]["S"])
    elif "data" in item:
        data = from_attribute(item["data"])
        if not isinstance(data, dict):
            raise ValueError(f"sensor {key!r}: 'data' is not a map")
    else:
        data = {}
    written = item.get("written_at", {}).get("S")
    version = int(item["version"]["N"]) if "version" in item else 0
    return Sensor(
        key=key,
        data=data,
        written_at=parse_stamp(written) if written else None,
        version=version,
    )


def _client_error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _conditional_failed(exc: BaseException) -> bool:
    return _client_error_code(exc) == "ConditionalCheckFailedException"


def default_client(region: str | None, endpoint: str | None) -> Any:
    """A DynamoDB client with timeouts and standard retries; ``AWS_ENDPOINT_URL`` and the rest
    of boto3's configuration chain apply when ``endpoint`` is not given."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=20,
        retries={"mode": "standard", "max_attempts": 4},
    )
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint, config=config)


def parse_url(url: str) -> dict[str, Any]:
    """Parse ``dynamodb://CONTROL?events=EVENTS&region=R[&endpoint=URL][&event_ttl_days=N]``.

    Raises:
        ValueError: a part is missing or unknown; the message names it.
    """
    parts = urlsplit(url)
    control = parts.netloc
    if parts.scheme != "dynamodb" or not control or parts.path not in ("", "/"):
        raise ValueError(
            f"unsupported DynamoDB URL {url!r}: use dynamodb://CONTROL_TABLE?events=EVENTS_TABLE"
            "&region=REGION"
        )
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"events", "region", "endpoint", "event_ttl_days"})
    if unknown:
        raise ValueError(
            f"unsupported DynamoDB URL option(s) {', '.join(unknown)} in {url!r}: "
            "use events, region, endpoint and event_ttl_days"
        )
    events = options.get("events", [""])[-1]
    if not events:
        raise ValueError(f"the DynamoDB URL {url!r} names no events table (add ?events=TABLE)")
    ttl_text = options.get("event_ttl_days", [str(DEFAULT_EVENT_TTL_DAYS)])[-1]
    try:
        ttl_days = int(ttl_text)
    except ValueError:
        raise ValueError(f"event_ttl_days must be a whole number, got {ttl_text!r}") from None
    if ttl_days <= 0:
        raise ValueError(f"event_ttl_days must be positive, got {ttl_days}")
    return {
        "control_table": control,
        "events_table": events,
        "region": options.get("region", [None])[-1] or None,
        "endpoint": options.get("endpoint", [None])[-1] or None,
        "event_ttl_days": ttl_days,
    }


def open_dynamodb_store(url: str, client: Any = None) -> "DynamoDBStore":
    """The entry point ``open_store`` calls for ``dynamodb://`` URLs."""
    options = parse_url(url)
    if client is None and importlib.util.find_spec("boto3") is None:
        raise ValueError(f"the DynamoDB store needs boto3: pip install 'interlock[aws]' ({url})")
    return DynamoDBStore(
        options["control_table"],
        options["events_table"],
        region=options["region"],
        endpoint=options["endpoint"],
        event_ttl_days=options["event_ttl_days"],
        client=client,
        url=url,
    )


class DynamoDBStore(Store):
    """A Store on two DynamoDB tables.

    Args:
        control_table: the control table's name.
        events_table: the events table's name.
        region: the AWS region (boto3's chain decides when None).
        endpoint: an endpoint URL (DynamoDB Local, moto); ``AWS_ENDPOINT_URL`` also works.
        event_ttl_days: how long events are kept (the table's TTL deletes them after).
        client: a boto3 DynamoDB client to use instead of building one.
        client_factory: ``(region, endpoint) -> client`` used when ``client`` is None.
        url: what ``url`` reports.
    """

    def __init__(
        self,
        control_table: str,
        events_table: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        event_ttl_days: int = DEFAULT_EVENT_TTL_DAYS,
        client: Any = None,
        client_factory: Callable[[str | None, str | None], Any] = default_client,
        url: str = "",
    ) -> None:
        self.control_table = control_table
        self.events_table = events_table
        self.event_ttl = timedelta(days=event_ttl_days)
        self.url = url or f"dynamodb://{control_table}?events={events_table}"
        self._client = client
        self._client_factory = client_factory
        self._region = region
        self._endpoint = endpoint
        self._lock = threading.Lock()
        # Config versions never change once written: cache them by (pipeline, hash).
        self._versions: dict[tuple[str, str], StoredConfig] = {}

    @property
    def client(self) -> Any:
        """The boto3 client (built on first use)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory(self._region, self._endpoint)
        return self._client

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kwargs)
        except Exception as exc:
            if _client_error_code(exc) in (
                "ConditionalCheckFailedException",
                "TransactionCanceledException",
            ):
                raise
            if _client_error_code(exc) == "ValidationException":
                raise ValueError(f"DynamoDB refused {operation}: {exc}") from exc
            raise StoreError(f"DynamoDB {operation} failed: {exc}") from exc

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Items of a Query or Scan, following ``LastEvaluatedKey``."""
        while True:
            page = self._call(operation, **kwargs)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._pages("query", TableName=kwargs.pop("TableName", self.control_table), **kwargs)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call(
            "get_item",
            TableName=self.control_table,
            Key={"PK": _s(pk), "SK": _s(sk)},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    # -- configs ---------------------------------------------------------------------------
    def _registry(self) -> tuple[dict[str, str], int]:
        response = self._call(
            "get_item", TableName=self.control_table, Key=REGISTRY_KEY, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return {}, 0
        pipelines = {
            key: value["S"] for key, value in item.get("pipelines", {}).get("M", {}).items()
        }
        return pipelines, int(item["version"]["N"])

    def apply_configs(
        self,
        configs: Mapping[str, tuple[dict[str, Any], str, str]],
        now: datetime,
        *,
        remove_missing: bool = False,
    ) -> list[ConfigChange]:
        """See :meth:`Store.apply_configs`.

        Atomic in one transaction for up to 49 changed pipelines; beyond that the version
        items are written first and the current pointers in several transactions.
        """
        applied_at = stamp(now)
        encoded = {
            pipeline_id: (encode_document(document, f"config {pipeline_id!r}"), config_hash, src)
            for pipeline_id, (document, config_hash, src) in configs.items()
        }
        for _ in range(_CONSISTENT_READ_TRIES):
            current, registry_version = self._registry()
            changes: list[ConfigChange] = []
            writes: list[dict[str, Any]] = []
            registry = dict(current)
            for pipeline_id in sorted(encoded):
                document, config_hash, source = encoded[pipeline_id]
                previous = current.get(pipeline_id)
                if previous == config_hash:
                    changes.append(ConfigChange(pipeline_id, "unchanged", config_hash))
                    continue
                fields = {
                    "hash": _s(config_hash),
                    "doc": _s(document),
                    "source": _s(source),
                    "applied_at": _s(applied_at),
                }
                pk = pipeline_pk(pipeline_id)
                writes.append(
                    {
                        "Put": {
                            "TableName": self.control_table,
                            "Item": {"PK": _s(pk), "SK": _s(f"CONFIG#{config_hash}"), **fields},
                        }
                    }
                )
                writes.append(
                    {
                        "Put": {
                            "TableName": self.control_table,
                            "Item": {"PK": _s(pk), "SK": _s("CONFIG"), **fields},
                        }
                    }
                )
                registry[pipeline_id] = config_hash
                action = "created" if previous is None else "updated"
                changes.append(ConfigChange(pipeline_id, action, config_hash))
            if remove_missing:
                for pipeline_id in sorted(set(current) - set(encoded)):
                    writes.append(
                        {
                            "Delete": {
                                "TableName": self.control_table,
                                "Key": {"PK": _s(pipeline_pk(pipeline_id)), "SK": _s("CONFIG")},
                            }
                        }
                    )
                    del registry[pipeline_id]
                    changes.append(ConfigChange(pipeline_id, "removed", current[pipeline_id]))
            if not writes:
                return sorted(changes, key=lambda change: change.pipeline_id)
            if self._commit_registry(writes, registry, registry_version):
                # A re-applied older hash got a new applied_at: forget cached versions.
                touched = {change.pipeline_id for change in changes}
                with self._lock:
                    for key in [key for key in self._versions if key[0] in touched]:
                        self._versions.pop(key, None)
                return sorted(changes, key=lambda change: change.pipeline_id)
        raise StoreError("apply_configs kept losing races with other writers; try again")

    def _registry_write(self, registry: Mapping[str, str], expected: int) -> dict[str, Any]:
        item = {
            **REGISTRY_KEY,
            "pipelines": {"M": {key: _s(value) for key, value in registry.items()}},
            "version": _n(expected + 1),
        }
        if expected == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": _n(expected)},
            }
        return {"Put": {"TableName": self.control_table, "Item": item, **condition}}

    def _commit_registry(
        self, writes: list[dict[str, Any]], registry: Mapping[str, str], expected: int
    ) -> bool:
        """Write config items and the registry (CAS); False when another apply won."""
        registry_write = self._registry_write(registry, expected)
        room = _TRANSACTION_ITEMS - 1
        if len(writes) > room:
            # Too many for one transaction: version items first (harmless on their own), then
            # the pointers in chunks, the registry with the last one.
            versions = [w for w in writes if "Put" in w and w["Put"]["Item"]["SK"]["S"] != "CONFIG"]
            pointers = [w for w in writes if w not in versions]
            for start in range(0, len(versions), _TRANSACTION_ITEMS):
                self._transact(versions[start : start + _TRANSACTION_ITEMS])
            chunks = [pointers[i : i + room] for i in range(0, len(pointers), room)] or [[]]
            for chunk in chunks[:-1]:
                self._transact(chunk)
            writes = chunks[-1]
        try:
            self._transact([*writes, registry_write])
        except Exception as exc:
            if _client_error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    def _transact(self, items: list[dict[str, Any]]) -> None:
        if items:
            self._call("transact_write_items", TransactItems=items)

    def remove_config(self, pipeline_id: str, now: datetime) -> bool:
        """See :meth:`Store.remove_config`."""
        utc(now)
        for _ in range(_CONSISTENT_READ_TRIES):
            current, version = self._registry()
            if pipeline_id not in current:
                return False
            registry = {key: value for key, value in current.items() if key != pipeline_id}
            delete = {
                "Delete": {
                    "TableName": self.control_table,
                    "Key": {"PK": _s(pipeline_pk(pipeline_id)), "SK": _s("CONFIG")},
                }
            }
            if self._commit_registry([delete], registry, version):
                return True
        raise StoreError("remove_config kept losing races with other writers; try again")

    def get_config(self, pipeline_id: str, config_hash: str | None = None) -> StoredConfig | None:
        """See :meth:`Store.get_config` (versions by hash are cached: they never change)."""
        if config_hash is not None:
            cached = self._versions.get((pipeline_id, config_hash))
            if cached is not None:
                return _copy_config(cached)
        sk = "CONFIG" if config_hash is None else f"CONFIG#{config_hash}"
        item = self._get(pipeline_pk(pipeline_id), sk)
        if item is None:
            return None
        config = _config_from_item(pipeline_id, item)
        if config_hash is not None:
            self._versions[(pipeline_id, config_hash)] = config
        return _copy_config(config)

    def list_configs(self) -> list[StoredConfig]:
        """See :meth:`Store.list_configs` (the registry, then one BatchGetItem per 100)."""
        current, _ = self._registry()
        ids = sorted(current)
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            keys = [
                {"PK": _s(pipeline_pk(pid)), "SK": _s("CONFIG")} for pid in ids[start : start + 100]
            ]
            request: dict[str, Any] = {self.control_table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._call("batch_get_item", RequestItems=request)
                for item in response.get("Responses", {}).get(self.control_table, []):
                    items[item["PK"]["S"][len("PIPELINE#") :]] = item
                request = response.get("UnprocessedKeys") or {}
        return [_config_from_item(pid, items[pid]) for pid in ids if pid in items]

    # -- sensors ---------------------------------------------------------------------------
    def next_sensor_version(self, pipeline_id: str) -> int:
        """Take the pipeline's next sensor version (``UpdateItem ADD``, race-free)."""
        response = self._call(
            "update_item",
            TableName=self.control_table,
            Key={"PK": _s(pipeline_pk(pipeline_id)), "SK": _s(COUNTER_SK)},
            UpdateExpression="ADD #c :one SET GSI1PK = :g, GSI1SK = :id",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": _n(1), ":g": _s("SENSORS"), ":id": _s(pipeline_id)},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["count"]["N"])

    def put_sensor(self, pipeline_id: str, key: str, data: dict[str, Any], now: datetime) -> Sensor:
        """See :meth:`Store.put_sensor` (two requests: the counter, then the sensor)."""
        written_at = utc(now)
        encoded = encode_document(data, f"sensor {key!r}")
        version = self.next_sensor_version(pipeline_id)
        item = {
            "PK": _s(pipeline_pk(pipeline_id)),
            "SK": _s(SENSOR_PREFIX + key),
            "doc": _s(encoded),
            "written_at": _s(stamp(written_at)),
            "version": _n(version),
        }
        try:
            self._call(
                "put_item",
                TableName=self.control_table,
                Item=item,
                ConditionExpression="attribute_not_exists(version) OR version < :v",
                ExpressionAttributeValues={":v": _n(version)},
            )
        except Exception as exc:
            if not _conditional_failed(exc):
                raise
            # A concurrent write took a later version and landed first: it stays in place.
        return Sensor(key=key, data=json.loads(encoded), written_at=written_at, version=version)

    def stamp_raw_sensor(
        self, pipeline_id: str, key: str, now: datetime, expected_version: int | None = None
    ) -> int | None:
        """Give a raw (Go-era, unversioned) sensor item a version and a write time.

        Args:
            pipeline_id: the pipeline.
            key: the sensor key.
            now: the write time to stamp.
            expected_version: stamp an item that already has this version again (its producer
                changed it in place, keeping the version); None: only an unversioned item.

        Returns:
            The version given, or None when the item is gone or already has another one.
        """
        version = self.next_sensor_version(pipeline_id)
        values = {":v": _n(version), ":w": _s(stamp(now))}
        if expected_version is None:
            condition = "attribute_exists(PK) AND attribute_not_exists(version)"
        else:
            condition = "version = :old"
            values[":old"] = _n(expected_version)
        try:
            self._call(
                "update_item",
                TableName=self.control_table,
                Key={"PK": _s(pipeline_pk(pipeline_id)), "SK": _s(SENSOR_PREFIX + key)},
                UpdateExpression="SET version = :v, written_at = :w",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _conditional_failed(exc):
                return None
            raise
        return version

    def _sensor_items(self, pipeline_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The counter and the sensor items, as of one instant (see the module docstring)."""
        for _ in range(_CONSISTENT_READ_TRIES):
            items = list(
                self._query(
                    KeyConditionExpression="PK = :pk AND begins_with(SK, :s)",
                    ExpressionAttributeValues={
                        ":pk": _s(pipeline_pk(pipeline_id)),
                        ":s": _s(COUNTER_SK),
                    },
                    ConsistentRead=True,
                )
            )
            counter = 0
            sensors: list[dict[str, Any]] = []
            for item in items:
                sk = item["SK"]["S"]
                if sk == COUNTER_SK:
                    counter = int(item["count"]["N"])
                elif sk.startswith(SENSOR_PREFIX):
                    sensors.append(item)
            if all(int(item.get("version", {"N": "0"})["N"]) <= counter for item in sensors):
                return counter, sensors
        raise StoreError(f"could not read the sensors of {pipeline_id!r} consistently")

    def get_sensors(self, pipeline_id: str) -> dict[str, Sensor]:
        """See :meth:`Store.get_sensors`: one Query (repeated only if a write raced it)."""
        _, items = self._sensor_items(pipeline_id)
        sensors = [sensor_from_item(item) for item in items]
        return {sensor.key: sensor for sensor in sorted(sensors, key=lambda s: s.key)}

    def sensors_since(self, pipeline_id: str, version: int) -> list[Sensor]:
        """See :meth:`Store.sensors_since`."""
        _, items = self._sensor_items(pipeline_id)
        sensors = [sensor_from_item(item) for item in items]
        return sorted((s for s in sensors if s.version > version), key=lambda s: s.version)

    def sensor_versions(self) -> dict[str, int]:
        """See :meth:`Store.sensor_versions` (one Query of the counters in ``GSI1``)."""
        items = self._query(
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :g",
            ExpressionAttributeValues={":g": _s("SENSORS")},
        )
        return dict(sorted((item["GSI1SK"]["S"], int(item["count"]["N"])) for item in items))

    # -- runs ------------------------------------------------------------------------------
    def _run_item(self, run: Run) -> dict[str, Any]:
        item: dict[str, Any] = {
            "PK": _s(pipeline_pk(run.pipeline_id)),
            "SK": _s(RUN_PREFIX + run.period),
            "json": _s(run.model_dump_json()),
            "version": _n(run.version),
            "status": _s(run.status.value),
            "GSI1PK": _s(f"RUNS#{run.status.value}"),
            "GSI1SK": _s(f"{run.period}#{run.pipeline_id}"),
        }
        if run.due_at is not None:
            item["DUEPK"] = _s("DUE")
            item["DUESK"] = _s(f"{stamp(run.due_at)}#{run.pipeline_id}#{run.period}")
        return item

    def create_run(self, run: Run) -> Run | None:
        """See :meth:`Store.create_run`."""
        stored = utc_run(run.evolve(version=1))
        try:
            self._call(
                "put_item",
                TableName=self.control_table,
                Item=self._run_item(stored),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except Exception as exc:
            if _conditional_failed(exc):
                return None
            raise
        return stored

    def get_run(self, pipeline_id: str, period: str) -> Run | None:
        """See :meth:`Store.get_run`."""
        item = self._get(pipeline_pk(pipeline_id), RUN_PREFIX + period)
        return None if item is None else run_from_item(item)

    def update_run(self, run: Run, expected_version: int) -> Run | None:
        """See :meth:`Store.update_run`."""
        stored = utc_run(run.evolve(version=expected_version + 1))
        try:
            self._call(
                "put_item",
                TableName=self.control_table,
                Item=self._run_item(stored),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": _n(expected_version)},
            )
        except Exception as exc:
            if _conditional_failed(exc):
                return None
            raise
        return stored

    def list_runs(
        self,
        pipeline_id: str | None = None,
        statuses: Collection[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """See :meth:`Store.list_runs` (one pipeline: its partition; else ``GSI1`` by status)."""
        check_limit(limit)
        wanted = None if statuses is None else {RunStatus(status) for status in statuses}
        if limit == 0 or wanted == set():
            return []
        if pipeline_id is not None:
            items: Iterable[dict[str, Any]] = self._query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :r)",
                ExpressionAttributeValues={
                    ":pk": _s(pipeline_pk(pipeline_id)),
                    ":r": _s(RUN_PREFIX),
                },
                ScanIndexForward=False,
                ConsistentRead=True,
            )
        else:
            items = [
                item
                for status in sorted(wanted if wanted is not None else set(RunStatus))
                for item in self._query(
                    IndexName=GSI1,
                    KeyConditionExpression="GSI1PK = :g",
                    ExpressionAttributeValues={":g": _s(f"RUNS#{status.value}")},
                    ScanIndexForward=False,
                )
            ]
        runs = [
            run_from_item(item)
            for item in items
            if wanted is None or RunStatus(item["status"]["S"]) in wanted
        ]
        runs.sort(key=lambda run: run.pipeline_id)
        runs.sort(key=lambda run: run.period, reverse=True)
        return runs if limit is None else runs[:limit]

    def due_runs(self, now: datetime, limit: int = 100) -> list[Run]:
        """See :meth:`Store.due_runs`: one Query of the sparse ``DUE`` index up to ``now``."""
        check_limit(limit)
        upper = stamp(now) + "$"  # "$" sorts right after the "#" that follows the stamp
        if limit == 0:
            return []
        items = self._query(
            IndexName=DUE_INDEX,
            KeyConditionExpression="DUEPK = :d AND DUESK < :u",
            ExpressionAttributeValues={":d": _s("DUE"), ":u": _s(upper)},
        )
        runs = [run_from_item(item) for item in items]
        runs.sort(key=lambda run: (run.due_at, run.pipeline_id, run.period))
        return runs[:limit]

    # -- rerun ledger ----------------------------------------------------------------------
    def _ledger(self, pipeline_id: str, period: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :r)",
                ExpressionAttributeValues={
                    ":pk": _s(pipeline_pk(pipeline_id)),
                    ":r": _s(f"RERUN#{period}#"),
                },
                ConsistentRead=True,
            )
        )

    def append_rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> RerunRecord:
        """See :meth:`Store.append_rerun`: the seq from ``UpdateItem ADD`` on the period's
        ledger counter (race-free, no retries), then the entry (two requests)."""
        at = utc(now)
        encoded = encode_document(detail or {}, "rerun detail")
        pk = _s(pipeline_pk(pipeline_id))
        response = self._call(
            "update_item",
            TableName=self.control_table,
            Key={"PK": pk, "SK": _s(f"RERUNSEQ#{period}")},
            UpdateExpression="ADD #c :one",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": _n(1)},
            ReturnValues="UPDATED_NEW",
        )
        seq = int(response["Attributes"]["count"]["N"])
        self._call(
            "put_item",
            TableName=self.control_table,
            Item={
                "PK": pk,
                "SK": _s(f"RERUN#{period}#{seq:08d}"),
                "seq": _n(seq),
                "reason": _s(reason),
                "at": _s(stamp(at)),
                "detail": _s(encoded),
            },
        )
        return RerunRecord(pipeline_id, period, seq, reason, at, json.loads(encoded))

    def count_reruns(self, pipeline_id: str, period: str, reasons: Collection[str]) -> int:
        """See :meth:`Store.count_reruns`."""
        wanted = set(reasons)
        if not wanted:
            return 0
        return sum(1 for item in self._ledger(pipeline_id, period) if item["reason"]["S"] in wanted)

    def list_reruns(self, pipeline_id: str, period: str) -> list[RerunRecord]:
        """See :meth:`Store.list_reruns`."""
        return [
            RerunRecord(
                pipeline_id,
                period,
                int(item["seq"]["N"]),
                item["reason"]["S"],
                parse_stamp(item["at"]["S"]),
                json.loads(item["detail"]["S"]),
            )
            for item in self._ledger(pipeline_id, period)
        ]

    # -- markers ---------------------------------------------------------------------------
    def put_marker(
        self,
        pipeline_id: str,
        name: str,
        now: datetime,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """See :meth:`Store.put_marker`."""
        created_at = stamp(now)
        encoded = encode_document(data or {}, f"marker {name!r} data")
        try:
            self._call(
                "put_item",
                TableName=self.control_table,
                Item=_marker_item(pipeline_id, name, created_at, encoded, expires_at),
                ConditionExpression=_MARKER_ABSENT,
                ExpressionAttributeValues={":now": _s(created_at)},
            )
        except Exception as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get_marker(self, pipeline_id: str, name: str, now: datetime | None = None) -> Marker | None:
        """See :meth:`Store.get_marker`."""
        instant = datetime.now(UTC) if now is None else utc(now)
        item = self._get(pipeline_pk(pipeline_id), f"MARK#{name}")
        if item is None:
            return None
        expires_at = parse_stamp(item["expires_at"]["S"]) if "expires_at" in item else None
        if expires_at is not None and expires_at <= instant:
            return None
        return Marker(
            pipeline_id,
            name,
            parse_stamp(item["created_at"]["S"]),
            json.loads(item["data"]["S"]),
            expires_at,
        )

    def purge_expired_markers(self, now: datetime) -> int:
        """See :meth:`Store.purge_expired_markers` (TTL does it too, within about two days)."""
        items = self._query(
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :g AND GSI1SK < :u",
            ExpressionAttributeValues={":g": _s("MARKS"), ":u": _s(stamp(now) + "$")},
        )
        purged = 0
        for item in list(items):
            try:
                self._call(
                    "delete_item",
                    TableName=self.control_table,
                    Key={"PK": item["PK"], "SK": item["SK"]},
                    ConditionExpression="expires_at = :e",
                    ExpressionAttributeValues={":e": item["expires_at"]},
                )
            except Exception as exc:
                if _conditional_failed(exc):
                    continue
                raise
            purged += 1
        return purged

    # -- events ----------------------------------------------------------------------------
    def event_item(self, event: Event) -> dict[str, Any]:
        """The events-table item of an event."""
        item: dict[str, Any] = {
            "PK": _s(pipeline_pk(event.pipeline_id)),
            "SK": _s(f"{stamp(event.at)}#{event.id}"),
            "type": _s(event.type.value),
            "id": _s(event.id),
            "json": _s(event.to_json()),
            TTL_ATTRIBUTE: _n(_epoch(event.at + self.event_ttl)),
        }
        if event.period is not None:
            item["period"] = _s(event.period)
        return item

    def append_events(self, events: Iterable[Event]) -> None:
        """See :meth:`Store.append_events`: a known id is not written again (conditional put),
        so the events table's stream carries each event once."""
        for event in events:
            try:
                self._call(
                    "put_item",
                    TableName=self.events_table,
                    Item=self.event_item(event),
                    ConditionExpression="attribute_not_exists(PK)",
                )
            except Exception as exc:
                if not _conditional_failed(exc):
                    raise

    def query_events(
        self,
        pipeline_id: str | None = None,
        types: Collection[EventType] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        period: str | None = None,
        after_id: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """See :meth:`Store.query_events`: by pipeline (its partition), else by type (the
        ``TYPE`` index); only a listing with neither filter scans."""
        check_limit(limit)
        wanted = None if types is None else {EventType(kind) for kind in types}
        if wanted == set() or limit == 0:
            return []
        start = None if since is None else stamp(since)
        end = None if until is None else stamp(until)

        def sk_condition(names: dict[str, str], values: dict[str, Any]) -> str:
            if start is not None and end is not None:
                values[":a"], values[":b"] = _s(start), _s(end)
                return " AND SK BETWEEN :a AND :b"
            if start is not None:
                values[":a"] = _s(start)
                return " AND SK >= :a"
            if end is not None:
                values[":b"] = _s(end)
                return " AND SK < :b"
            return ""

        items: list[dict[str, Any]] = []
        if pipeline_id is not None:
            values: dict[str, Any] = {":pk": _s(pipeline_pk(pipeline_id))}
            condition = "PK = :pk" + sk_condition({}, values)
            items = list(
                self._query(
                    TableName=self.events_table,
                    KeyConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            )
        elif wanted is not None:
            for kind in sorted(wanted):
                values = {":t": _s(kind.value)}
                condition = "#t = :t" + sk_condition({}, values)
                items.extend(
                    self._query(
                        TableName=self.events_table,
                        IndexName=TYPE_INDEX,
                        KeyConditionExpression=condition,
                        ExpressionAttributeNames={"#t": "type"},
                        ExpressionAttributeValues=values,
                    )
                )
        else:
            items = list(self._pages("scan", TableName=self.events_table))
        events = [Event.from_json(item["json"]["S"]) for item in items]
        return select_events(events, pipeline_id, wanted, since, until, period, after_id, limit)

    # -- batched markers -------------------------------------------------------------------
    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        """See :meth:`Store.put_markers`: ``TransactWriteItems`` of at most 100 conditional
        puts, each with :meth:`put_marker`'s condition.

        ``BatchWriteItem`` cannot carry conditions, so it cannot do put-if-absent. A
        transaction fails as a whole when one condition fails; its cancellation reasons name
        the markers that already exist, and the rest are written again without them (every
        retry is one key shorter at least). Each chunk of 100 is atomic; the batch as a whole
        is not (chunks commit one after the other).
        """
        created_at = stamp(now)
        encoded = encode_document(data or {}, "marker data")
        wanted = unique_keys(keys)
        created: set[tuple[str, str]] = set()
        for start in range(0, len(wanted), _TRANSACTION_ITEMS):
            chunk = wanted[start : start + _TRANSACTION_ITEMS]
            created.update(self._claim_markers(chunk, created_at, encoded, expires_at))
        return created

    def _claim_markers(
        self,
        keys: list[tuple[str, str]],
        created_at: str,
        encoded: str,
        expires_at: datetime | None,
    ) -> list[tuple[str, str]]:
        """Write the markers of ``keys`` (≤ 100) that do not exist; returns those written."""
        pending = list(keys)
        conflicts = 0
        while pending:
            items = [
                {
                    "Put": {
                        "TableName": self.control_table,
                        "Item": _marker_item(pipeline_id, name, created_at, encoded, expires_at),
                        "ConditionExpression": _MARKER_ABSENT,
                        "ExpressionAttributeValues": {":now": _s(created_at)},
                    }
                }
                for pipeline_id, name in pending
            ]
            try:
                self._transact(items)
            except Exception as exc:
                if _client_error_code(exc) != "TransactionCanceledException":
                    raise
                codes = _cancellation_codes(exc, len(pending))
                taken = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
                if taken:
                    pending = [key for i, key in enumerate(pending) if i not in taken]
                    continue
                conflicts += 1
                if conflicts >= _CONFLICT_TRIES:
                    raise StoreError(
                        f"put_markers: DynamoDB kept cancelling the transaction ({codes})"
                    ) from exc
                time.sleep(0.01 * 2**conflicts)
                continue
            return pending
        return []

    def config_hashes(self) -> dict[str, str]:
        """See :meth:`Store.config_hashes`: the registry item alone (one GetItem)."""
        current, _ = self._registry()
        return dict(sorted(current.items()))


_MARKER_ABSENT = "attribute_not_exists(PK) OR expires_at <= :now"


def _marker_item(
    pipeline_id: str, name: str, created_at: str, encoded: str, expires_at: datetime | None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": _s(pipeline_pk(pipeline_id)),
        "SK": _s(f"MARK#{name}"),
        "created_at": _s(created_at),
        "data": _s(encoded),
    }
    if expires_at is not None:
        expires = stamp(expires_at)
        item["expires_at"] = _s(expires)
        item[TTL_ATTRIBUTE] = _n(_epoch(expires_at))
        item["GSI1PK"] = _s("MARKS")
        item["GSI1SK"] = _s(f"{expires}#{pipeline_id}#{name}")
    return item


def _cancellation_codes(exc: BaseException, expected: int) -> list[str]:
    """The per-item codes of a cancelled transaction (``None``, ``ConditionalCheckFailed``,
    ``TransactionConflict``…), one per item.

    Raises:
        StoreError: the answer does not name one reason per item.
    """
    response = getattr(exc, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, dict) else None
    if not isinstance(reasons, list) or len(reasons) != expected:
        raise StoreError(f"DynamoDB cancelled a transaction without per-item reasons: {exc}")
    return [str(reason.get("Code", "")) for reason in reasons]


def _config_from_item(pipeline_id: str, item: Mapping[str, Any]) -> StoredConfig:
    return StoredConfig(
        pipeline_id=pipeline_id,
        document=json.loads(item["doc"]["S"]),
        hash=item["hash"]["S"],
        applied_at=parse_stamp(item["applied_at"]["S"]),
        source=item.get("source", {"S": ""})["S"],
    )


def _copy_config(config: StoredConfig) -> StoredConfig:
    return StoredConfig(
        config.pipeline_id,
        json.loads(json.dumps(config.document)),
        config.hash,
        config.applied_at,
        config.source,
    )


def run_from_item(item: Mapping[str, Any]) -> Run:
    return Run.model_validate_json(item["json"]["S"])


def create_tables(
    client: Any, control_table: str, events_table: str, *, timeout: float = 120.0
) -> dict[str, str]:
    """Create the control and events tables (stream, indexes, TTL) unless they exist.

    Idempotent: an existing table is left as it is (its TTL is switched on if it is off).

    Returns:
        Table name -> ``created`` or ``exists``.
    """
    result: dict[str, str] = {}
    for name, definition in (
        (control_table, control_table_definition(control_table)),
        (events_table, events_table_definition(events_table)),
    ):
        try:
            client.create_table(**definition)
            result[name] = "created"
        except Exception as exc:
            if _client_error_code(exc) != "ResourceInUseException":
                raise
            result[name] = "exists"
    for name in (control_table, events_table):
        deadline = time.monotonic() + timeout
        while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise StoreError(f"table {name} did not become ACTIVE within {timeout:.0f}s")
            time.sleep(1.0)
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in (None, "DISABLED"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
    return result
