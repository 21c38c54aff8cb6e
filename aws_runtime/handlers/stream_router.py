"""Control-table stream → the engine (sensor writes, rerun requests) and Step Functions.

* ``SENSOR#<key>`` written with a version → ``engine.handle_sensor_write`` (opens runs, late
  data, post-run drift). Written raw, without a version (Go-era producers) → stamped with a
  version and a write time; the stamped write comes back through the stream and is handled.
* ``RUN#<period>`` created, or moved to a new attempt, and not finished → one Step Functions
  execution for that attempt, named from its token (a repeated record starts nothing).
* ``RERUN_REQUEST#…`` (Go-era) → ``engine.request_rerun``; the request item is deleted.
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
    if "version" not in new:
        store = engine.store
        if not isinstance(store, DynamoDBStore):
            raise TypeError(f"raw sensor items need the DynamoDB store, not {store.url}")
        store.stamp_raw_sensor(pipeline_id, sensor.key, engine.clock.now())
        return "stamped"
    if "version" in old and old["version"] == new["version"]:
        return "ignored: same version"
    if _before_success(engine, pipeline_id, sensor):
        return "ignored: written before its run succeeded"
    engine.handle_sensor_write(pipeline_id, sensor)
    return "sensor"


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

    reason = new.get("reason", {}).get("S") or "manual"
    if reason in RESERVED_REASONS:  # Go's own drift/late-data requests: an operator-level rerun
        reason = f"requested-{reason}"
    engine = context.engine()
    result = engine.request_rerun(pipeline_id, period, reason)
    store = engine.store
    from interlock_core.storage.dynamodb import DynamoDBStore

    if isinstance(store, DynamoDBStore):
        store.client.delete_item(
            TableName=store.control_table,
            Key={"PK": {"S": PIPELINE_PREFIX + pipeline_id}, "SK": {"S": sk}},
        )
    return "rerun accepted" if result.accepted else "rerun refused: " + result.message
