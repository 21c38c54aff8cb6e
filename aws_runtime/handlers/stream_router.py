"""Control-table stream → the engine (sensor writes, rerun requests) and Step Functions.

* ``SENSOR#<key>`` written with a version → ``engine.handle_sensor_write`` (opens runs, late
  data, post-run drift). Written raw, without a version (Go-era producers) → stamped with a
  version and a write time; the stamped write comes back through the stream and is handled.
  Changed in place by such a producer (same version, other data) → stamped again.
* ``RUN#<period>`` created, or moved to a new attempt, and not finished → one Step Functions
  execution for that attempt, named from its token (a repeated record starts nothing).
* ``RERUN_REQUEST#…`` (Go-era) → ``engine.request_rerun``, once: the request item is claimed
  (deleted, only as written) first, so a re-delivered record reruns nothing more.
* REMOVE records are ignored. Every record is handled on its own: a failing one is reported
  in ``batchItemFailures`` (by SequenceNumber) and never stops the rest of the batch.
"""

import logging
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.stream_router")

PIPELINE_PREFIX = "PIPELINE#"


def handler(event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Route a batch of control-table stream records; report the failed ones."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        try:
            route(record)
        except Exception:
            sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
            log.exception("stream record %s failed", sequence)
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}


def route(record: dict[str, Any]) -> str:
    """Handle one stream record; returns what was done (for logs and tests)."""
    if record.get("eventName") == "REMOVE":
        return "ignored: remove"
    change = record["dynamodb"]
    new = change.get("NewImage") or {}
    old = change.get("OldImage") or {}
    pk = new["PK"]["S"]
    sk = new["SK"]["S"]
    if not pk.startswith(PIPELINE_PREFIX):
        return "ignored: not a pipeline item"
    pipeline_id = pk[len(PIPELINE_PREFIX) :]
    if sk.startswith("SENSOR#"):
        return _sensor(pipeline_id, new, old)
    if sk.startswith("RUN#"):
        return _run(new, old)
    if sk.startswith("RERUN_REQUEST#"):
        return _rerun_request(pipeline_id, sk, new)
    return "ignored: " + sk.split("#", 1)[0]


def _sensor(pipeline_id: str, new: dict[str, Any], old: dict[str, Any]) -> str:
    from interlock_core.storage.dynamodb import DynamoDBStore, sensor_from_item

    engine = context.engine()
    sensor = sensor_from_item(new)
    store = engine.store
    if "version" not in new:
        if not isinstance(store, DynamoDBStore):
            raise TypeError(f"raw sensor items need the DynamoDB store, not {store.url}")
        store.stamp_raw_sensor(pipeline_id, sensor.key, engine.clock.now())
        return "stamped"
    if "version" in old and old["version"] == new["version"]:
        if _content(old) == _content(new):
            return "ignored: same version"
        # Same version, other data: a raw producer updated the item in place (UpdateItem keeps
        # the version Interlock stamped). A new write: stamp it again; the stamp comes back.
        if not isinstance(store, DynamoDBStore):
            raise TypeError(f"raw sensor items need the DynamoDB store, not {store.url}")
        store.stamp_raw_sensor(
            pipeline_id, sensor.key, engine.clock.now(), expected_version=sensor.version
        )
        return "stamped"
    if _before_success(engine, pipeline_id, sensor):
        return "ignored: written before its run succeeded"
    engine.handle_sensor_write(pipeline_id, sensor)
    return "sensor"


def _content(image: dict[str, Any]) -> dict[str, Any]:
    """A sensor item's image without what Interlock stamps on it."""
    return {name: value for name, value in image.items() if name not in ("version", "written_at")}


def _before_success(engine: Any, pipeline_id: str, sensor: Any) -> bool:
    """Whether the write landed before its period's run succeeded.

    The stream hands writes over after they landed, and the execution may have finished the
    run in between: a write the run's gate could have seen is not late data. (A local emit
    reacts before the run can move on, so it never meets this.)
    """
    from interlock_core.engine import sensor_period

    active = engine.config(pipeline_id)
    if active is None or sensor.written_at is None:
        return False
    period = sensor_period(active.pipeline, sensor, sensor.written_at)
    run = engine.store.get_run(pipeline_id, period)
    return bool(
        run is not None
        and run.succeeded_at is not None
        and run.status.value == "SUCCEEDED"
        and sensor.written_at < run.succeeded_at
    )


def _run(new: dict[str, Any], old: dict[str, Any]) -> str:
    from interlock_core.storage.dynamodb import run_from_item

    run = run_from_item(new)
    if run.is_terminal:
        return "ignored: finished"
    if old and run_from_item(old).attempt == run.attempt:
        return "ignored: same attempt"
    return "started" if context.start_attempt(run) else "ignored: already started"


def _rerun_request(pipeline_id: str, sk: str, new: dict[str, Any]) -> str:
    # RERUN_REQUEST#<schedule>#<date>: the date is the period.
    period = sk.rsplit("#", 1)[-1]
    from interlock_core.lifecycle import RESERVED_REASONS
    from interlock_core.storage.dynamodb import DynamoDBStore

    reason = new.get("reason", {}).get("S") or "manual"
    if reason in RESERVED_REASONS:  # Go's own drift/late-data requests: an operator-level rerun
        reason = f"requested-{reason}"
    engine = context.engine()
    store = engine.store
    if not isinstance(store, DynamoDBStore):
        raise TypeError(f"rerun request items need the DynamoDB store, not {store.url}")
    # Claim the request by deleting it (only this exact write of it) before acting: a stream
    # hands a record over again (a retried batch re-delivers every record after a failed one),
    # and a second request_rerun of a run that failed again in between would rerun it twice.
    key = {"PK": {"S": PIPELINE_PREFIX + pipeline_id}, "SK": {"S": sk}}
    try:
        store.client.delete_item(
            TableName=store.control_table, Key=key, **_same_item_condition(new)
        )
    except Exception as exc:
        if context.error_code(exc) == "ConditionalCheckFailedException":
            return "ignored: request already handled"
        raise
    from interlock_core.engine import InterlockError

    try:
        result = engine.request_rerun(pipeline_id, period, reason)
    except InterlockError as exc:
        # Unknown pipeline, bad period: no retry makes it valid (and giving the item back
        # would feed the stream the same failure forever).
        log.warning("rerun request %s of %s refused: %s", sk, pipeline_id, exc)
        return f"rerun refused: {exc}"
    except Exception:
        # Give the request back, so the stream's retry of this record can claim it again.
        store.client.put_item(TableName=store.control_table, Item=new)
        raise
    return "rerun accepted" if result.accepted else "rerun refused: " + result.message


def _same_item_condition(item: dict[str, Any]) -> dict[str, Any]:
    """A condition that holds only while the stored item is exactly ``item``."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    terms: list[str] = []
    for index, (name, value) in enumerate(sorted(item.items())):
        names[f"#a{index}"] = name
        values[f":v{index}"] = value
        terms.append(f"#a{index} = :v{index}")
    return {
        "ConditionExpression": " AND ".join(terms),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
