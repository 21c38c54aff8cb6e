"""The Store port: everything Interlock persists, behind one interface every backend implements.

Semantics every backend must honour (the contract tests in ``tests/core/storage`` check them):

* All times are timezone-aware UTC ``datetime`` values; backends return them the same way.
* Configs are kept per ``(pipeline_id, hash)``; one of them is *current* per pipeline. Older
  versions stay readable by hash, so a run attempt keeps the config it started with.
* Sensor writes replace the document and get a per-pipeline version, strictly increasing
  across writes to any key of that pipeline (never reused, also across processes).
* ``get_sensors`` returns all sensors of a pipeline from one consistent read.
* ``create_run`` is create-if-absent; ``update_run`` is compare-and-set on ``Run.version``.
  Exactly one of several concurrent writers with the same expected version wins.
* ``put_marker`` is put-if-absent: exactly one concurrent writer creates a marker.
* Events are append-only and come back in ``(at, id)`` order.
* ``create_run_with_events`` / ``update_run_with_events`` append the events only when the run
  write wins; by default right after it, on PostgreSQL in the same transaction.
* ``update_runs_with_events`` is that for many runs: each its own compare-and-set (a lost one
  is skipped, the others are written); one transaction where the backend can.
* Nothing here may assume SQLite, DynamoDB or PostgreSQL specifics.
"""

import abc
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from interlock_core.events import Event, EventType
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor


class StoreError(RuntimeError):
    """A backend failed (I/O, connection); the operation may be retried."""


def utc(value: datetime) -> datetime:
    """Return ``value`` as a UTC datetime, the form every backend stores and returns.

    Raises:
        ValueError: ``value`` is naive (a store cannot know which instant it means).
    """
    if value.tzinfo is UTC:
        return value
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"the store needs timezone-aware datetimes, got naive {value!r}")
    # Normalise the tzinfo object too (pydantic parses "Z" into its own TzInfo), so callers
    # can rely on ``tzinfo is UTC``; replace() is the cheap way when the offset is already 0.
    return value.replace(tzinfo=UTC) if not offset else value.astimezone(UTC)


def utc_run(run: Run) -> Run:
    """Return ``run`` with every top-level datetime field at UTC offset zero (see :func:`utc`).

    Datetimes already at offset zero are kept as they are, whatever their tzinfo object
    (pydantic's own UTC included): converting them would cost more than reading the run.

    Raises:
        ValueError: a datetime field is naive.
    """
    changes = {}
    for name, value in run.__dict__.items():
        if isinstance(value, datetime) and value.tzinfo is not UTC:
            offset = value.utcoffset()
            if offset is None or offset:
                changes[name] = utc(value)
    return run.model_copy(update=changes) if changes else run


def encode_document(value: Any, what: str) -> str:
    """Encode a stored document (config, sensor data, marker data, rerun detail) as strict JSON.

    Backends use this so they accept and reject the same documents: whatever one of them
    stores, every other one can store too.

    Args:
        value: the document.
        what: names the document in the error message.

    Raises:
        ValueError: the document has values JSON cannot hold (objects, NaN, infinity).
    """
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc


def check_limit(limit: int | None) -> int | None:
    """``limit`` of a listing, checked.

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return limit


def unique_keys(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Marker keys without repeats, in first-seen order (a batch claims each key once)."""
    return list(dict.fromkeys((str(pipeline_id), str(name)) for pipeline_id, name in keys))


class EventFields(Protocol):
    """What :func:`select_events` filters on: an :class:`Event` or a backend's event row."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> EventType: ...
    @property
    def pipeline_id(self) -> str: ...
    @property
    def period(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...


E = TypeVar("E", bound=EventFields)


def select_events(
    rows: Iterable[E],
    pipeline_id: str | None = None,
    types: Collection[EventType] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    period: str | None = None,
    after_id: str | None = None,
    limit: int | None = None,
) -> list[E]:
    """:meth:`Store.query_events` done in Python, for backends that filter after reading.

    Returns the rows matching every given filter in ``(at, id)`` order, the newest ``limit``
    of them when ``limit`` is given. ``rows`` must have UTC ``at`` values.

    Raises:
        ValueError: ``limit`` is negative, or a time is naive.
    """
    check_limit(limit)
    wanted = None if types is None else {EventType(kind) for kind in types}
    start = None if since is None else utc(since)
    end = None if until is None else utc(until)
    matches = [
        row
        for row in rows
        if (pipeline_id is None or row.pipeline_id == pipeline_id)
        and (wanted is None or row.type in wanted)
        and (start is None or row.at >= start)
        and (end is None or row.at < end)
        and (period is None or row.period == period)
        and (after_id is None or row.id > after_id)
    ]
    matches.sort(key=lambda row: (row.at, row.id))
    if limit is not None:
        matches = matches[len(matches) - limit :] if limit else []
    return matches


class RunUpdate(NamedTuple):
    """One compare-and-set of :meth:`Store.update_runs_with_events`: store ``run`` if the
    stored version is ``expected_version``, and append ``events`` if it was stored."""

    run: Run
    expected_version: int
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class StoredConfig:
    """A pipeline config as applied: the validated document, its hash and when it was applied."""

    pipeline_id: str
    document: dict[str, Any]
    hash: str
    applied_at: datetime
    source: str = ""


@dataclass(frozen=True)
class ConfigChange:
    """What an ``apply_configs`` call did to one pipeline: created, updated, unchanged, removed."""

    pipeline_id: str
    action: str
    hash: str | None = None


@dataclass(frozen=True)
class RerunRecord:
    """One entry in the rerun ledger (budgets count these)."""

    pipeline_id: str
    period: str
    seq: int
    reason: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Marker:
    """A put-if-absent flag, used for dedup (``SLA_WARNING`` once per period, …)."""

    pipeline_id: str
    name: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None


class Store(abc.ABC):
    """Persistence for configs, sensors, runs, the rerun ledger, markers and events."""

    url: str = ""

    # -- configs ---------------------------------------------------------------------------
    @abc.abstractmethod
    def apply_configs(
        self,
        configs: Mapping[str, tuple[dict[str, Any], str, str]],
        now: datetime,
        *,
        remove_missing: bool = False,
    ) -> list[ConfigChange]:
        """Write configs atomically (all or nothing).

        Args:
            configs: pipeline id -> (document, hash, source) for every config to make current.
            now: the apply time.
            remove_missing: also delete current configs whose id is not in ``configs``.

        Returns:
            One change per pipeline touched (``created``, ``updated``, ``unchanged``,
            ``removed``), sorted by pipeline id. Unchanged hashes are no-ops.
        """

    @abc.abstractmethod
    def remove_config(self, pipeline_id: str, now: datetime) -> bool:
        """Make a pipeline have no current config. Returns False when it had none."""

    @abc.abstractmethod
    def get_config(self, pipeline_id: str, config_hash: str | None = None) -> StoredConfig | None:
        """The current config of a pipeline, or the version with ``config_hash``."""

    @abc.abstractmethod
    def list_configs(self) -> list[StoredConfig]:
        """Every current config, sorted by pipeline id."""

    # -- sensors ---------------------------------------------------------------------------
    @abc.abstractmethod
    def put_sensor(self, pipeline_id: str, key: str, data: dict[str, Any], now: datetime) -> Sensor:
        """Write (replace) a sensor; returns it with its new version and ``written_at=now``."""

    @abc.abstractmethod
    def get_sensors(self, pipeline_id: str) -> dict[str, Sensor]:
        """All sensors of a pipeline, by key, in one consistent read."""

    @abc.abstractmethod
    def sensors_since(self, pipeline_id: str, version: int) -> list[Sensor]:
        """Sensors of a pipeline whose version is greater than ``version``, by version."""

    @abc.abstractmethod
    def sensor_versions(self) -> dict[str, int]:
        """The latest sensor version of every pipeline that has sensors (cheap; for pollers)."""

    def subscribe_sensor_writes(self, callback: Callable[[str], None]) -> Callable[[], None] | None:
        """Have ``callback(pipeline_id)`` called soon after any process writes a sensor.

        Returns:
            A function that ends the subscription, or None when the backend cannot notify
            (the default): the runtime then polls :meth:`sensor_versions`.
        """
        return None

    # -- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: Run) -> Run | None:
        """Create a run if none exists for its (pipeline, period).

        Returns:
            The stored run (``version`` 1), or None when one already existed.
        """

    @abc.abstractmethod
    def get_run(self, pipeline_id: str, period: str) -> Run | None:
        """The run for (pipeline, period), or None."""

    @abc.abstractmethod
    def update_run(self, run: Run, expected_version: int) -> Run | None:
        """Compare-and-set: store ``run`` only if the stored version is ``expected_version``.

        Returns:
            The stored run with ``version = expected_version + 1``, or None on a conflict
            (the run changed underneath, or does not exist).
        """

    def create_run_with_events(self, run: Run, events: Iterable[Event]) -> Run | None:
        """:meth:`create_run`, then append ``events`` if it created the run.

        Backends that can (PostgreSQL) commit both in one transaction, so a crash between
        them cannot lose the events; the others append right after the write.
        """
        created = self.create_run(run)
        if created is not None:
            self.append_events(events)
        return created

    def update_run_with_events(
        self, run: Run, expected_version: int, events: Iterable[Event]
    ) -> Run | None:
        """:meth:`update_run`, then append ``events`` if the compare-and-set won.

        Backends that can (PostgreSQL) commit both in one transaction, so a crash between
        them cannot lose the events; the others append right after the write.
        """
        stored = self.update_run(run, expected_version)
        if stored is not None:
            self.append_events(events)
        return stored

    @abc.abstractmethod
    def list_runs(
        self,
        pipeline_id: str | None = None,
        statuses: Collection[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs filtered by pipeline and status, newest period first."""

    @abc.abstractmethod
    def due_runs(self, now: datetime, limit: int = 100) -> list[Run]:
        """Runs with ``due_at <= now`` (non-null), earliest due first."""

    # -- rerun ledger ----------------------------------------------------------------------
    @abc.abstractmethod
    def append_rerun(
        self,
        pipeline_id: str,
        period: str,
        reason: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> RerunRecord:
        """Append to the rerun ledger; ``seq`` is 1, 2, … per (pipeline, period), race-free."""

    @abc.abstractmethod
    def count_reruns(self, pipeline_id: str, period: str, reasons: Collection[str]) -> int:
        """How many ledger entries for (pipeline, period) have one of ``reasons``."""

    @abc.abstractmethod
    def list_reruns(self, pipeline_id: str, period: str) -> list[RerunRecord]:
        """The ledger of (pipeline, period), by ``seq``."""

    # -- markers ---------------------------------------------------------------------------
    @abc.abstractmethod
    def put_marker(
        self,
        pipeline_id: str,
        name: str,
        now: datetime,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """Create a marker if absent (or expired). True when this call created it."""

    @abc.abstractmethod
    def get_marker(self, pipeline_id: str, name: str, now: datetime | None = None) -> Marker | None:
        """A marker, or None (also when expired at ``now``, by default the current time)."""

    def purge_expired_markers(self, now: datetime) -> int:
        """Delete markers whose ``expires_at`` has passed; returns how many.

        Backends with native expiry (DynamoDB TTL) may leave this to the database.
        """
        return 0

    # -- events ----------------------------------------------------------------------------
    @abc.abstractmethod
    def append_events(self, events: Iterable[Event]) -> None:
        """Append events to the log."""

    @abc.abstractmethod
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
        """Events matching every given filter, oldest first.

        ``since`` is inclusive, ``until`` exclusive; ``after_id`` returns only events whose id
        sorts after it (for ``--follow``). ``limit`` keeps the newest ``limit`` matches.
        """

    # -- lifecycle -------------------------------------------------------------------------
    def is_initialized(self) -> bool:
        """False when the storage has no Interlock schema yet (a read-only command then says
        what to run instead of showing an empty store); backends that create it on open are
        always initialised."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections."""

    # -- batched markers (appended: other helpers append their methods after this) ---------
    def put_markers(
        self,
        keys: Iterable[tuple[str, str]],
        now: datetime,
        *,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> set[tuple[str, str]]:
        """:meth:`put_marker` for many ``(pipeline_id, name)`` keys at once.

        Each key is put-if-absent (or expired) on its own: of several concurrent callers
        claiming the same key, exactly one gets it back. Backends that can commit the whole
        batch in one transaction (SQLite, PostgreSQL, memory); DynamoDB commits chunks of at
        most 100 (``TransactWriteItems``). This default makes one :meth:`put_marker` call per
        key, which is correct but not batched.

        Args:
            keys: the markers to create; a key given twice counts once.
            now: the creation time.
            data: the data of every marker created.
            expires_at: when every marker created expires (None: never).

        Returns:
            The keys this call created.
        """
        created: set[tuple[str, str]] = set()
        for pipeline_id, name in unique_keys(keys):
            if self.put_marker(pipeline_id, name, now, data, expires_at):
                created.add((pipeline_id, name))
        return created

    # -- added for issue #13 -----------------------------------------------------------------
    def config_hashes(self) -> dict[str, str]:
        """The hash of every current config by pipeline id, without the documents.

        A controller lists this every pass and fetches only the documents whose hash it has
        not parsed yet. Backends answer it without reading or decoding documents; this
        default (for stores outside this package) falls back on :meth:`list_configs`.
        """
        return {config.pipeline_id: config.hash for config in self.list_configs()}

    def config_sources(self) -> dict[str, tuple[str, str]]:
        """``(hash, source)`` of every current config by pipeline id, without the documents.

        An apply needs the documents only of what it writes; a re-apply of 10 000 unchanged
        files decoded every stored document again. This default (for stores outside this
        package) falls back on :meth:`list_configs`.
        """
        return {config.pipeline_id: (config.hash, config.source) for config in self.list_configs()}

    def marker_keys(self, prefix: str, now: datetime) -> set[tuple[str, str]] | None:
        """The ``(pipeline_id, name)`` of every marker whose name starts with ``prefix`` and
        that has not expired at ``now``, in one read; None when the backend cannot list
        markers (then ask :meth:`get_marker` per key, as this default makes callers do).

        A re-apply asks this once for every file's source marker instead of one read per
        file. Backends that list cheaply (SQLite, memory) answer it.
        """
        return None

    # -- grouped run writes (issue #13, second pass) ---------------------------------------
    def update_runs_with_events(self, updates: Iterable[RunUpdate]) -> list[Run | None]:
        """:meth:`update_run_with_events` for many runs, in order.

        Each update is a compare-and-set of its own: one whose run changed underneath (or is
        gone) is skipped and answers None, the others are written. A run named twice sees the
        first write's version. SQLite, PostgreSQL and memory commit the whole group in one
        transaction (one fsync on SQLite instead of one per run), so a crash writes all of it
        or none; this default (DynamoDB, stores outside this package) writes one run at a
        time, which is correct but not grouped.

        Args:
            updates: the runs to store, each with its expected version and its events.

        Returns:
            For each update, in order: the stored run (``version = expected_version + 1``),
            or None when its compare-and-set lost.
        """
        return [
            self.update_run_with_events(update.run, update.expected_version, update.events)
            for update in updates
        ]
