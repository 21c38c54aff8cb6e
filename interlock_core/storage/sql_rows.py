"""Row decoders and the event filter shared by the SQL stores (SQLite, PostgreSQL).

Both stores select the same columns in the same order; they differ only in how a time column
goes in and comes back (SQLite: integer microseconds; PostgreSQL: a ``timestamptz`` in the
session's zone) and in their SQL dialect, so each helper takes those as arguments.
"""

import json
import logging
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic_core

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, run_document
from interlock_core.sensors import Sensor
from interlock_core.storage.base import RunUpdate, StoredConfig, utc_run

ToDatetime = Callable[[Any], datetime]
FromDatetime = Callable[[datetime], Any]


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


# Runs this process wrote and kept as they were (see ``written_run``), by their whole document:
# a read of that very document returns the run instead of parsing it, so the emit that opens a
# run and then lists the waiting ones never builds the run model's schema. Content-addressed,
# so nothing goes stale: an update or another writer's row is a different document and is
# parsed. The oldest entries go beyond _KEPT_LIMIT.
_KEPT: dict[str, Run] = {}
_KEPT_LIMIT = 256
_KEPT_LOCK = threading.Lock()


def run_from_document(document: str) -> Run:
    """A run from its stored JSON."""
    kept = _KEPT.get(document)
    if kept is not None:
        return _own_copy(kept)
    # Stored runs went through utc_run on the way in, so they are UTC already.
    return Run.model_validate_json(document)


def written_run(stored: Run, document: str) -> Run:
    """The run a store just wrote (created or updated) as ``document``, as a read returns it.

    A copy of ``stored`` (lists of its own) when the document gives it back field for field:
    with no job metadata and no baseline, every field is a string, a number, an enum, a
    datetime at the fixed UTC offset or a list of strings, all of which JSON keeps exactly (a
    newly opened run); later reads of the same document return copies of it too. Otherwise
    the document is read back, so tuples, datetimes and the like inside those dicts (and a
    zone's datetimes) come back as a read returns them.
    Skipping the read spares building the run model's schema.
    """
    if not stored.job_metadata and stored.baseline is None and _fixed_utc(stored):
        with _KEPT_LOCK:
            _KEPT[document] = _own_copy(stored)
            while len(_KEPT) > _KEPT_LIMIT:
                del _KEPT[next(iter(_KEPT))]
        return _own_copy(stored)
    return run_from_document(document)


def _fixed_utc(run: Run) -> bool:
    """True when every datetime of ``run`` is at the fixed UTC offset a read gives back.

    ``utc_run`` keeps any datetime at offset zero, a zone's included (London in winter): kept,
    it would do that zone's arithmetic (60 days on lands an hour off in summer) where a read
    of its document gives UTC.
    """
    return all(
        not isinstance(value, datetime)
        or value.tzinfo is UTC
        or isinstance(value.tzinfo, pydantic_core.TzInfo)
        for value in run.__dict__.values()
    )


def _own_copy(run: Run) -> Run:
    """``run`` with lists and dicts of its own (a kept run has no job metadata and no
    baseline): every read returns a run no other read shares, as a parsed one is, so a caller
    changing its ``last_reasons`` changes neither the kept run nor the writer's."""
    return run.model_copy(update={"last_reasons": list(run.last_reasons), "job_metadata": {}})


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


@dataclass(frozen=True)
class EventColumns:
    """How one SQL store spells the event-log filter.

    Attributes:
        placeholder: the parameter marker (``?`` or ``%s``).
        at: the time column.
        to_time: a filter instant to the time column's parameter.
        types: the clause matching ``type`` against one parameter holding the type names.
        to_types: the sorted type names to that parameter.
    """

    placeholder: str
    at: str
    to_time: Callable[[datetime], Any]
    types: str
    to_types: Callable[[list[str]], Any]


def event_filter(
    columns: EventColumns,
    pipeline_id: str | None,
    types: Collection[EventType] | None,
    since: datetime | None,
    until: datetime | None,
    period: str | None,
    after_id: str | None,
) -> tuple[str, list[Any]]:
    """The ``WHERE`` condition and parameters of :meth:`Store.query_events`' filters.

    Only constant fragments are joined; every value travels as a parameter.
    """
    mark = columns.placeholder
    clauses: list[str] = []
    params: list[Any] = []
    if pipeline_id is not None:
        clauses.append(f"pipeline_id = {mark}")
        params.append(pipeline_id)
    if types is not None:
        clauses.append(columns.types)
        params.append(columns.to_types(sorted(EventType(kind).value for kind in types)))
    if since is not None:
        clauses.append(f"{columns.at} >= {mark}")
        params.append(columns.to_time(since))
    if until is not None:
        clauses.append(f"{columns.at} < {mark}")
        params.append(columns.to_time(until))
    if period is not None:
        clauses.append(f"period = {mark}")
        params.append(period)
    if after_id is not None:
        clauses.append(f"id > {mark}")
        params.append(after_id)
    return " AND ".join(clauses) or "TRUE", params


EncodedRunWrite = tuple[Run, str, int, list[tuple[Any, ...]]]


def run_values(stored: Run, document: str, from_datetime: FromDatetime) -> tuple[Any, ...]:
    """The run's indexed columns and document, in the order both run writes name them."""
    due_at = None if stored.due_at is None else from_datetime(stored.due_at)
    return (stored.status.value, stored.version, stored.attempt, due_at, stored.owner, document)


def event_rows(events: Iterable[Event], from_datetime: FromDatetime) -> list[tuple[Any, ...]]:
    """The events as rows of the ``events`` table, in its column order."""
    return [
        (
            event.id,
            from_datetime(event.at),
            event.type.value,
            event.pipeline_id,
            event.period,
            event.attempt,
            event.to_json(),
        )
        for event in events
    ]


def encode_run_writes(
    updates: Iterable[RunUpdate], from_datetime: FromDatetime
) -> list[EncodedRunWrite]:
    """Each run compare-and-set as (stored run, its document, the expected version, its
    event rows), encoded before the transaction opens: a run that cannot be encoded raises
    before anything is written."""
    encoded = []
    for update in updates:
        stored = utc_run(update.run.evolve(version=update.expected_version + 1))
        encoded.append(
            (
                stored,
                run_document(stored),
                update.expected_version,
                event_rows(update.events, from_datetime),
            )
        )
    return encoded
