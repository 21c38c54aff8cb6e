"""Row decoders shared by the SQL stores (SQLite, PostgreSQL).

Both stores select the same columns in the same order; they differ only in how a time column
comes back (SQLite: integer microseconds; PostgreSQL: a ``timestamptz`` in the session's zone),
so each decoder takes that conversion as an argument.
"""

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from interlock_core.events import Event
from interlock_core.runs import Run
from interlock_core.sensors import Sensor
from interlock_core.storage.base import StoredConfig

ToDatetime = Callable[[Any], datetime]


def stored_config_from_row(row: Any, to_datetime: ToDatetime) -> StoredConfig:
    """A config from ``(pipeline_id, hash, document, source, applied_at)``."""
    pipeline_id, config_hash, document, source, applied_at = row
    return StoredConfig(
        pipeline_id=str(pipeline_id),
        document=json.loads(document),
        hash=str(config_hash),
        applied_at=to_datetime(applied_at),
        source=str(source),
    )


def sensor_from_row(row: Any, to_datetime: ToDatetime) -> Sensor:
    """A sensor from ``(key, data, written_at, version)``."""
    key, data, written_at, version = row
    return Sensor(
        key=str(key),
        data=json.loads(data),
        written_at=to_datetime(written_at),
        version=int(version),
    )


def run_from_document(document: str) -> Run:
    """A run from its stored JSON."""
    # Stored runs went through utc_run on the way in, so they are UTC already.
    return Run.model_validate_json(document)


def events_from_documents(documents: Iterable[str], log: logging.Logger) -> list[Event]:
    """Events from their stored JSON, in the given order, skipping rows that cannot be read.

    One row this version cannot read (a newer version's event type, a raw write) must not
    blind every reader: alert forwarding, ``interlock events``.
    """
    events: list[Event] = []
    for document in documents:
        try:
            events.append(Event.from_json(document))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            log.warning("skipping an unreadable event row: %s", type(exc).__name__)
    return events
