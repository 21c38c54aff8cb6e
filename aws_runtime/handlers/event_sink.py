"""Events-table stream (NEW_IMAGE) → the EventBridge bus, each event once.

Only INSERT records carry new events (an event is written once, conditionally). Entries go
out in ``PutEvents`` calls of up to 10 (source ``interlock``, detail-type = the event type,
detail = the event); records whose entry failed are reported in ``batchItemFailures``.
"""

import json
import logging
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.event_sink")

SOURCE = "interlock"
BATCH = 10


def handler(event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Publish the new events of a stream batch to the bus."""
    bus = context.env("INTERLOCK_EVENT_BUS")
    pending: list[tuple[str, dict[str, Any]]] = []
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
        if record.get("eventName") != "INSERT":
            continue
        try:
            pending.append((sequence, entry(record["dynamodb"]["NewImage"], bus)))
        except Exception:
            log.exception("events-table record %s is not an event", sequence)
            failures.append({"itemIdentifier": sequence})
    for start in range(0, len(pending), BATCH):
        chunk = pending[start : start + BATCH]
        try:
            response = context.client("events").put_events(Entries=[e for _, e in chunk])
        except Exception:
            log.exception("PutEvents failed for %d events", len(chunk))
            failures.extend({"itemIdentifier": sequence} for sequence, _ in chunk)
            continue
        for (sequence, _), result in zip(chunk, response.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                log.warning("event %s not published: %s", sequence, result.get("ErrorMessage"))
                failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}


def entry(image: dict[str, Any], bus: str) -> dict[str, Any]:
    """The PutEvents entry of one events-table item."""
    text = image["json"]["S"]
    detail = json.loads(text)
    return {
        "Source": SOURCE,
        "DetailType": str(detail["type"]),
        "Detail": text,
        "EventBusName": bus,
    }
