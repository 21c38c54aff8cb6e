"""The in-process Store: for tests, simulations and the demo; nothing survives the process.

Every document goes in and out through the same JSON encoding the persistent backends use, so
this store accepts and rejects exactly what they do, and callers can never reach (and mutate)
the stored state through a dict they passed in or got back.
"""

import json
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor
from interlock_core.storage.base import (
    ConfigChange,
    Marker,
    RerunRecord,
    RunUpdate,
    Store,
    StoredConfig,
    check_limit,
    encode_document,
    select_events,
    unique_keys,
    utc,
    utc_run,
)


@dataclass(frozen=True)
class _ConfigVersion:
    document: str
    source: str
    applied_at: datetime


@dataclass(frozen=True)
class _SensorRow:
    data: str
    written_at: datetime
    version: int


@dataclass(frozen=True)
class _RunRow:
    """A run's JSON with the fields queries filter on, so queries parse only what they return."""

    json: str
    version: int
    status: RunStatus
    due_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> "_RunRow":
        return cls(run.model_dump_json(), run.version, run.status, run.due_at)


@dataclass(frozen=True)
class _RerunRow:
    seq: int
    reason: str
    at: datetime
    detail: str


@dataclass(frozen=True)
class _MarkerRow:
    created_at: datetime
    data: str
    expires_at: datetime | None


@dataclass(frozen=True)
class _EventRow:
    """An event with its query fields unpacked and its JSON, which is what gets returned."""

    id: str
    type: EventType
    pipeline_id: str
    period: str | None
    at: datetime
    json: str


def _decode(text: str) -> Any:
    return json.loads(text)


class MemoryStore(Store):
    """A thread-safe Store kept in dicts, guarded by one lock.

    Args:
        url: what ``url`` reports (``memory://`` or ``memory://name``).
    """

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._config_versions: dict[tuple[str, str], _ConfigVersion] = {}
        self._current: dict[str, str] = {}
        self._sensors: dict[str, dict[str, _SensorRow]] = {}
        self._sensor_counters: dict[str, int] = {}
        self._runs: dict[tuple[str, str], _RunRow] = {}
        self._reruns: dict[tuple[str, str], list[_RerunRow]] = {}
        self._markers: dict[tuple[str, str], _MarkerRow] = {}
        self._events: list[_EventRow] = []
        self._event_ids: set[str] = set()

    # -- configs ---------------------------------------------------------------------------
    def apply_configs(
        self,
        configs: Mapping[str, tuple[dict[str, Any], str, str]],
        now: datetime,
        *,
        remove_missing: bool = False,
    ) -> list[ConfigChange]:
        """See :meth:`Store.apply_configs`."""
        applied_at = utc(now)
        # Encode everything before touching state: a bad document must leave no trace.
        encoded = {
            pipeline_id: (encode_document(document, f"config {pipeline_id!r}"), config_hash, src)
            for pipeline_id, (document, config_hash, src) in configs.items()
        }
        changes: list[ConfigChange] = []
        with self._lock:
            for pipeline_id in sorted(encoded):
                document, config_hash, source = encoded[pipeline_id]
                current = self._current.get(pipeline_id)
                if current == config_hash:
                    changes.append(ConfigChange(pipeline_id, "unchanged", config_hash))
                    continue
                self._config_versions[(pipeline_id, config_hash)] = _ConfigVersion(
                    document, source, applied_at
                )
                self._current[pipeline_id] = config_hash
                action = "created" if current is None else "updated"
                changes.append(ConfigChange(pipeline_id, action, config_hash))
            if remove_missing:
                for pipeline_id in sorted(set(self._current) - set(encoded)):
                    removed = self._current.pop(pipeline_id)
                    changes.append(ConfigChange(pipeline_id, "removed", removed))
        return sorted(changes, key=lambda change: change.pipeline_id)

    def remove_config(self, pipeline_id: str, now: datetime) -> bool:
        """See :meth:`Store.remove_config`."""
        utc(now)
        with self._lock:
            return self._current.pop(pipeline_id, None) is not None

    def get_config(self, pipeline_id: str, config_hash: str | None = None) -> StoredConfig | None:
        """See :meth:`Store.get_config`."""
        with self._lock:
            if config_hash is None:
                config_hash = self._current.get(pipeline_id)
                if config_hash is None:
                    return None
            version = self._config_versions.get((pipeline_id, config_hash))
        if version is None:
            return None
        return _stored_config(pipeline_id, config_hash, version)

    def list_configs(self) -> list[StoredConfig]:
        """See :meth:`Store.list_configs`."""
        with self._lock:
            rows = [
                (pipeline_id, config_hash, self._config_versions[(pipeline_id, config_hash)])
                for pipeline_id, config_hash in sorted(self._current.items())
            ]
        return [_stored_config(*row) for row in rows]

    # -- sensors ---------------------------------------------------------------------------
    def put_sensor(self, pipeline_id: str, key: str, data: dict[str, Any], now: datetime) -> Sensor:
        """See :meth:`Store.put_sensor`."""
        written_at = utc(now)
        encoded = encode_document(data, f"sensor {key!r}")
        with self._lock:
            version = self._sensor_counters.get(pipeline_id, 0) + 1
            self._sensor_counters[pipeline_id] = version
            self._sensors.setdefault(pipeline_id, {})[key] = _SensorRow(
                encoded, written_at, version
            )
        return Sensor(key=key, data=_decode(encoded), written_at=written_at, version=version)

    def get_sensors(self, pipeline_id: str) -> dict[str, Sensor]:
        """See :meth:`Store.get_sensors`."""
        with self._lock:
            rows = dict(self._sensors.get(pipeline_id, {}))
        return {key: _sensor(key, rows[key]) for key in sorted(rows)}

    def sensors_since(self, pipeline_id: str, version: int) -> list[Sensor]:
        """See :meth:`Store.sensors_since`."""
        with self._lock:
            rows = [
                (key, row)
                for key, row in self._sensors.get(pipeline_id, {}).items()
                if row.version > version
            ]
        rows.sort(key=lambda item: item[1].version)
        return [_sensor(key, row) for key, row in rows]

    def sensor_versions(self) -> dict[str, int]:
        """See :meth:`Store.sensor_versions`."""
        with self._lock:
            return dict(sorted(self._sensor_counters.items()))

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run | None:
        """See :meth:`Store.create_run`."""
        row = _RunRow.of(utc_run(run.evolve(version=1)))
        key = (run.pipeline_id, run.period)
        with self._lock:
            if key in self._runs:
                return None
            self._runs[key] = row
        return _run(row)

    def get_run(self, pipeline_id: str, period: str) -> Run | None:
        """See :meth:`Store.get_run`."""
        with self._lock:
            row = self._runs.get((pipeline_id, period))
        return None if row is None else _run(row)

    def update_run(self, run: Run, expected_version: int) -> Run | None:
        """See :meth:`Store.update_run`."""
        row = _RunRow.of(utc_run(run.evolve(version=expected_version + 1)))
        key = (run.pipeline_id, run.period)
        with self._lock:
            current = self._runs.get(key)
            if current is None or current.version != expected_version:
                return None
            self._runs[key] = row
        return _run(row)

    def list_runs(
        self,
        pipeline_id: str | None = None,
        statuses: Collection[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """See :meth:`Store.list_runs`."""
        check_limit(limit)
        wanted = None if statuses is None else {RunStatus(status) for status in statuses}
        with self._lock:
            rows = [
                (key, row)
                for key, row in self._runs.items()
                if (pipeline_id is None or key[0] == pipeline_id)
                and (wanted is None or row.status in wanted)
            ]
        # Newest period first, then pipeline id ascending: a stable order for equal periods.
        rows.sort(key=lambda item: item[0][0])
        rows.sort(key=lambda item: item[0][1], reverse=True)
        if limit is not None:
            rows = rows[:limit]
        return [_run(row) for _, row in rows]

    def due_runs(self, now: datetime, limit: int = 100) -> list[Run]:
        """See :meth:`Store.due_runs`."""
        check_limit(limit)
        instant = utc(now)
        with self._lock:
            due = [
                (row.due_at, key, row)
                for key, row in self._runs.items()
                if row.due_at is not None and row.due_at <= instant
            ]
        due.sort(key=lambda item: (item[0], item[1]))
        return [_run(row) for _, _, row in due[:limit]]

    # -- rerun ledger ----------------------------------------------------------------------
    def append_rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> RerunRecord:
        """See :meth:`Store.append_rerun`."""
        at = utc(now)
        encoded = encode_document(detail or {}, "rerun detail")
        with self._lock:
            ledger = self._reruns.setdefault((pipeline_id, period), [])
            row = _RerunRow(len(ledger) + 1, reason, at, encoded)
            ledger.append(row)
        return _rerun(pipeline_id, period, row)

    def count_reruns(self, pipeline_id: str, period: str, reasons: Collection[str]) -> int:
        """See :meth:`Store.count_reruns`."""
        wanted = set(reasons)
        with self._lock:
            ledger = self._reruns.get((pipeline_id, period), [])
            return sum(1 for row in ledger if row.reason in wanted)

    def list_reruns(self, pipeline_id: str, period: str) -> list[RerunRecord]:
        """See :meth:`Store.list_reruns`."""
        with self._lock:
            ledger = list(self._reruns.get((pipeline_id, period), []))
        return [_rerun(pipeline_id, period, row) for row in ledger]

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
        created_at = utc(now)
        expires = None if expires_at is None else utc(expires_at)
        encoded = encode_document(data or {}, f"marker {name!r} data")
        with self._lock:
            existing = self._markers.get((pipeline_id, name))
            if existing is not None and not _expired(existing, created_at):
                return False
            self._markers[(pipeline_id, name)] = _MarkerRow(created_at, encoded, expires)
            return True

    def purge_expired_markers(self, now: datetime) -> int:
        """See :meth:`Store.purge_expired_markers`."""
        instant = utc(now)
        with self._lock:
            expired = [key for key, row in self._markers.items() if _expired(row, instant)]
            for key in expired:
                del self._markers[key]
        return len(expired)

    def config_sources(self) -> dict[str, tuple[str, str]]:
        """See :meth:`Store.config_sources`."""
        with self._lock:
            return {
                pipeline_id: (config_hash, self._config_versions[(pipeline_id, config_hash)].source)
                for pipeline_id, config_hash in sorted(self._current.items())
            }

    def marker_keys(self, prefix: str, now: datetime) -> set[tuple[str, str]] | None:
        """See :meth:`Store.marker_keys`."""
        instant = utc(now)
        with self._lock:
            return {
                key
                for key, row in self._markers.items()
                if key[1].startswith(prefix) and not _expired(row, instant)
            }

    def get_marker(self, pipeline_id: str, name: str, now: datetime | None = None) -> Marker | None:
        """See :meth:`Store.get_marker`."""
        instant = datetime.now(UTC) if now is None else utc(now)
        with self._lock:
            row = self._markers.get((pipeline_id, name))
        if row is None or _expired(row, instant):
            return None
        return Marker(pipeline_id, name, row.created_at, _decode(row.data), row.expires_at)

    # -- events ----------------------------------------------------------------------------
    def append_events(self, events: Iterable[Event]) -> None:
        """See :meth:`Store.append_events`; an event whose id is already stored is skipped."""
        rows = [
            _EventRow(event.id, event.type, event.pipeline_id, event.period, utc(event.at), text)
            for event in events
            for text in (event.to_json(),)
        ]
        with self._lock:
            for row in rows:
                if row.id in self._event_ids:
                    continue
                self._event_ids.add(row.id)
                self._events.append(row)

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
        """See :meth:`Store.query_events`."""
        with self._lock:
            rows = list(self._events)
        matches = select_events(rows, pipeline_id, types, since, until, period, after_id, limit)
        return [Event.from_json(row.json) for row in matches]

    # -- batched markers -------------------------------------------------------------------
    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        """See :meth:`Store.put_markers`; the whole batch under the store's lock."""
        created_at = utc(now)
        expires = None if expires_at is None else utc(expires_at)
        encoded = encode_document(data or {}, "marker data")
        wanted = unique_keys(keys)
        created: set[tuple[str, str]] = set()
        with self._lock:
            for key in wanted:
                existing = self._markers.get(key)
                if existing is None or _expired(existing, created_at):
                    self._markers[key] = _MarkerRow(created_at, encoded, expires)
                    created.add(key)
        return created

    def config_hashes(self) -> dict[str, str]:
        """See :meth:`Store.config_hashes`."""
        with self._lock:
            return dict(sorted(self._current.items()))

    def update_runs_with_events(self, updates: Iterable[RunUpdate]) -> list[Run | None]:
        """See :meth:`Store.update_runs_with_events`; the whole group under the store's lock."""
        # Encoded before taking the lock: a run that cannot be encoded writes nothing.
        prepared = [
            (
                (update.run.pipeline_id, update.run.period),
                _RunRow.of(utc_run(update.run.evolve(version=update.expected_version + 1))),
                update.expected_version,
                [
                    _EventRow(e.id, e.type, e.pipeline_id, e.period, utc(e.at), e.to_json())
                    for e in update.events
                ],
            )
            for update in updates
        ]
        won: list[_RunRow | None] = []
        with self._lock:
            for key, row, expected_version, events in prepared:
                current = self._runs.get(key)
                if current is None or current.version != expected_version:
                    won.append(None)
                    continue
                self._runs[key] = row
                for event in events:
                    if event.id not in self._event_ids:
                        self._event_ids.add(event.id)
                        self._events.append(event)
                won.append(row)
        return [None if row is None else _run(row) for row in won]


def _stored_config(pipeline_id: str, config_hash: str, version: _ConfigVersion) -> StoredConfig:
    return StoredConfig(
        pipeline_id=pipeline_id,
        document=_decode(version.document),
        hash=config_hash,
        applied_at=version.applied_at,
        source=version.source,
    )


def _sensor(key: str, row: _SensorRow) -> Sensor:
    return Sensor(key=key, data=_decode(row.data), written_at=row.written_at, version=row.version)


def _run(row: _RunRow) -> Run:
    # Stored runs went through utc_run on the way in, so they are UTC already.
    return Run.model_validate_json(row.json)


def _rerun(pipeline_id: str, period: str, row: _RerunRow) -> RerunRecord:
    return RerunRecord(pipeline_id, period, row.seq, row.reason, row.at, _decode(row.detail))


def _expired(row: _MarkerRow, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now
