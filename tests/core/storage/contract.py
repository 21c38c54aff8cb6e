"""The Store contract: every backend's test module subclasses ``StoreContract``.

A subclass supplies a ``store`` fixture returning a fresh, empty store, e.g.::

    class TestDynamoDBStore(StoreContract):
        @pytest.fixture
        def store(self) -> Iterator[Store]:
            ...
"""

import math
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from interlock_core.events import Event, EventType
from interlock_core.runs import NextAction, Run, RunOrigin, RunStatus
from interlock_core.storage import ConfigChange, Store
from interlock_core.storage.base import RunUpdate

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def at(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def make_run(
    pipeline_id: str = "p",
    period: str = "2026-03-01",
    status: RunStatus = RunStatus.WAITING,
    due_at: datetime | None = None,
    **changes: Any,
) -> Run:
    """A minimal valid run."""
    return Run(
        pipeline_id=pipeline_id,
        period=period,
        status=status,
        opened_at=T0,
        attempt_started_at=T0,
        updated_at=T0,
        due_at=due_at,
        **changes,
    )


def make_event(
    kind: EventType = EventType.RUN_OPENED,
    minutes: float = 0,
    pipeline_id: str = "p",
    period: str | None = "2026-03-01",
    **changes: Any,
) -> Event:
    """An event at T0 + ``minutes``."""
    return Event(
        type=kind,
        pipeline_id=pipeline_id,
        period=period,
        attempt=changes.pop("attempt", 1),
        at=at(minutes),
        message=changes.pop("message", f"{kind.value} for {pipeline_id}"),
        **changes,
    )


def is_utc(value: datetime | None) -> bool:
    """True for an aware datetime at UTC (any tzinfo object that says offset 0, name UTC)."""
    return (
        value is not None
        and value.tzinfo is not None
        and value.utcoffset() == timedelta(0)
        and value.tzname() == "UTC"
    )


class StoreContract:
    """Behaviour every Store backend must show; subclasses provide the ``store`` fixture."""

    # -- configs ---------------------------------------------------------------------------
    def test_apply_creates_configs_sorted_by_pipeline(self, store: Store) -> None:
        changes = store.apply_configs(
            {"b": ({"id": "b"}, "hb1", "b.yaml"), "a": ({"id": "a"}, "ha1", "a.yaml")}, T0
        )
        assert changes == [ConfigChange("a", "created", "ha1"), ConfigChange("b", "created", "hb1")]
        config = store.get_config("a")
        assert config is not None
        assert (config.pipeline_id, config.document, config.hash, config.source) == (
            "a",
            {"id": "a"},
            "ha1",
            "a.yaml",
        )
        assert config.applied_at == T0
        assert is_utc(config.applied_at)

    def test_apply_same_hash_is_a_no_op(self, store: Store) -> None:
        store.apply_configs({"a": ({"v": 1}, "h1", "a.yaml")}, T0)
        changes = store.apply_configs({"a": ({"v": 1}, "h1", "moved/a.yaml")}, at(5))
        assert changes == [ConfigChange("a", "unchanged", "h1")]
        config = store.get_config("a")
        assert config is not None
        assert config.applied_at == T0
        assert config.source == "a.yaml"

    def test_apply_new_hash_updates_and_keeps_the_old_version_readable(self, store: Store) -> None:
        store.apply_configs({"a": ({"v": 1}, "h1", "a.yaml")}, T0)
        changes = store.apply_configs({"a": ({"v": 2}, "h2", "a.yaml")}, at(5))
        assert changes == [ConfigChange("a", "updated", "h2")]
        current = store.get_config("a")
        assert current is not None
        assert (current.document, current.hash, current.applied_at) == ({"v": 2}, "h2", at(5))
        old = store.get_config("a", "h1")
        assert old is not None
        assert (old.document, old.hash, old.applied_at) == ({"v": 1}, "h1", T0)
        assert store.get_config("a", "h3") is None
        assert store.get_config("b", "h1") is None

    def test_reapplying_an_older_hash_makes_it_current_again(self, store: Store) -> None:
        store.apply_configs({"a": ({"v": 1}, "h1", "")}, T0)
        store.apply_configs({"a": ({"v": 2}, "h2", "")}, at(1))
        changes = store.apply_configs({"a": ({"v": 1}, "h1", "")}, at(2))
        assert changes == [ConfigChange("a", "updated", "h1")]
        current = store.get_config("a")
        assert current is not None
        assert (current.document, current.applied_at) == ({"v": 1}, at(2))

    def test_apply_reports_mixed_changes_sorted(self, store: Store) -> None:
        store.apply_configs(
            {"c": ({"v": 1}, "c1", ""), "a": ({"v": 1}, "a1", ""), "d": ({"v": 1}, "d1", "")}, T0
        )
        changes = store.apply_configs(
            {"d": ({"v": 1}, "d1", ""), "b": ({"v": 1}, "b1", ""), "a": ({"v": 2}, "a2", "")},
            at(1),
            remove_missing=True,
        )
        assert changes == [
            ConfigChange("a", "updated", "a2"),
            ConfigChange("b", "created", "b1"),
            ConfigChange("c", "removed", "c1"),
            ConfigChange("d", "unchanged", "d1"),
        ]
        assert [config.pipeline_id for config in store.list_configs()] == ["a", "b", "d"]
        assert store.get_config("c") is None
        removed = store.get_config("c", "c1")
        assert removed is not None
        assert removed.document == {"v": 1}

    def test_apply_without_remove_missing_keeps_other_configs(self, store: Store) -> None:
        store.apply_configs({"a": ({}, "a1", ""), "b": ({}, "b1", "")}, T0)
        changes = store.apply_configs({"a": ({}, "a1", "")}, at(1))
        assert changes == [ConfigChange("a", "unchanged", "a1")]
        assert [config.pipeline_id for config in store.list_configs()] == ["a", "b"]

    def test_remove_missing_with_no_configs_removes_everything(self, store: Store) -> None:
        store.apply_configs({"a": ({}, "a1", ""), "b": ({}, "b1", "")}, T0)
        changes = store.apply_configs({}, at(1), remove_missing=True)
        assert changes == [ConfigChange("a", "removed", "a1"), ConfigChange("b", "removed", "b1")]
        assert store.list_configs() == []

    def test_list_configs_sorted_and_current_only(self, store: Store) -> None:
        ids = ["m", "a", "z", "b-2", "b-10"]
        store.apply_configs({pid: ({"id": pid}, f"{pid}1", "") for pid in ids}, T0)
        store.apply_configs({"m": ({"id": "m", "v": 2}, "m2", "")}, at(1))
        configs = store.list_configs()
        assert [config.pipeline_id for config in configs] == sorted(ids)
        by_id = {config.pipeline_id: config for config in configs}
        assert by_id["m"].hash == "m2"
        assert by_id["m"].document == {"id": "m", "v": 2}

    def test_config_hashes_name_the_current_version_of_each_pipeline(self, store: Store) -> None:
        assert store.config_hashes() == {}
        store.apply_configs({pid: ({"id": pid}, f"{pid}1", "") for pid in ["m", "a", "z"]}, T0)
        store.apply_configs({"m": ({"id": "m", "v": 2}, "m2", "")}, at(1))
        store.remove_config("z", at(2))
        hashes = store.config_hashes()
        assert hashes == {"a": "a1", "m": "m2"}
        assert list(hashes) == ["a", "m"]
        assert hashes == {config.pipeline_id: config.hash for config in store.list_configs()}

    def test_config_sources_name_the_current_version_and_its_file(self, store: Store) -> None:
        assert store.config_sources() == {}
        store.apply_configs({pid: ({"id": pid}, f"{pid}1", f"/{pid}.yaml") for pid in "maz"}, T0)
        store.apply_configs({"m": ({"id": "m", "v": 2}, "m2", "/other.yaml")}, at(1))
        store.remove_config("z", at(2))
        sources = store.config_sources()
        assert sources == {"a": ("a1", "/a.yaml"), "m": ("m2", "/other.yaml")}
        assert list(sources) == ["a", "m"]
        listed = {c.pipeline_id: (c.hash, c.source) for c in store.list_configs()}
        assert sources == listed

    def test_marker_keys_list_unexpired_markers_by_name_prefix(self, store: Store) -> None:
        store.put_marker("a", "config-source#1#x", T0)
        store.put_marker("b", "config-source#2#y", T0)
        store.put_marker("a", "first-applied", T0)
        store.put_marker("c", "config-source#3#z", T0, expires_at=at(1))
        store.put_marker("d", "config_source%", T0)  # LIKE wildcards match only themselves
        keys = store.marker_keys("config-source#", at(2))
        if keys is None:  # a backend that cannot list: callers ask get_marker per key
            assert type(store).marker_keys is Store.marker_keys
            return
        assert keys == {("a", "config-source#1#x"), ("b", "config-source#2#y")}
        assert ("c", "config-source#3#z") in (store.marker_keys("config-source#", T0) or set())
        assert store.marker_keys("config_source%", T0) == {("d", "config_source%")}
        assert store.marker_keys("config-source#9", T0) == set()

    def test_run_writes_with_events_append_them_only_when_the_write_wins(
        self, store: Store
    ) -> None:
        opened = make_event(EventType.RUN_OPENED, 0)
        created = store.create_run_with_events(make_run(due_at=T0), [opened])
        assert created is not None and created.version == 1
        again = make_event(EventType.RUN_OPENED, 1)
        assert store.create_run_with_events(make_run(due_at=T0), [again]) is None
        moved = make_event(EventType.JOB_TRIGGERED, 2)
        updated = store.update_run_with_events(
            created.evolve(status=RunStatus.RUNNING), created.version, [moved]
        )
        assert updated is not None and updated.version == 2
        lost = make_event(EventType.JOB_FAILED, 3)
        assert store.update_run_with_events(created, created.version, [lost]) is None
        assert [event.id for event in store.query_events()] == [opened.id, moved.id]
        stored = store.get_run("p", "2026-03-01")
        assert stored is not None and stored.status == RunStatus.RUNNING
        assert store.due_runs(at(5)) == [stored]

    def test_remove_config(self, store: Store) -> None:
        store.apply_configs({"a": ({"v": 1}, "h1", "")}, T0)
        assert store.remove_config("a", at(1)) is True
        assert store.remove_config("a", at(2)) is False
        assert store.remove_config("never", at(2)) is False
        assert store.get_config("a") is None
        assert store.list_configs() == []
        old = store.get_config("a", "h1")
        assert old is not None
        assert old.document == {"v": 1}
        # Applying again after a removal is a creation.
        changes = store.apply_configs({"a": ({"v": 1}, "h1", "")}, at(3))
        assert changes == [ConfigChange("a", "created", "h1")]

    def test_apply_is_all_or_nothing(self, store: Store) -> None:
        store.apply_configs({"a": ({"v": 1}, "a1", "")}, T0)
        bad: dict[str, Any] = {"when": object()}
        # "z" sorts last, so a backend writing in order has already written "a" and "b".
        with pytest.raises(ValueError, match="'z'"):
            store.apply_configs(
                {"a": ({"v": 2}, "a2", ""), "b": ({"v": 1}, "b1", ""), "z": (bad, "z1", "")},
                at(1),
                remove_missing=True,
            )
        current = store.get_config("a")
        assert current is not None
        assert current.hash == "a1"
        assert store.get_config("a", "a2") is None
        assert store.get_config("b") is None
        assert [config.pipeline_id for config in store.list_configs()] == ["a"]

    def test_apply_rejects_non_finite_numbers(self, store: Store) -> None:
        with pytest.raises(ValueError, match="not JSON"):
            store.apply_configs({"a": ({"x": math.nan}, "a1", "")}, T0)
        assert store.list_configs() == []

    def test_get_config_of_unknown_pipeline(self, store: Store) -> None:
        assert store.get_config("nope") is None
        assert store.list_configs() == []

    # -- sensors ---------------------------------------------------------------------------
    def test_sensor_versions_increase_per_pipeline_across_keys(self, store: Store) -> None:
        first = store.put_sensor("p", "a", {"n": 1}, T0)
        second = store.put_sensor("p", "b", {"n": 2}, at(1))
        third = store.put_sensor("p", "a", {"n": 3}, at(2))
        other = store.put_sensor("q", "a", {"n": 1}, at(3))
        assert [first.version, second.version, third.version] == [1, 2, 3]
        assert other.version == 1
        assert (third.key, third.data, third.written_at) == ("a", {"n": 3}, at(2))
        assert is_utc(third.written_at)
        assert store.sensor_versions() == {"p": 3, "q": 1}

    def test_sensor_versions_of_an_empty_store(self, store: Store) -> None:
        assert store.sensor_versions() == {}
        assert store.get_sensors("p") == {}
        assert store.sensors_since("p", 0) == []

    def test_put_sensor_replaces_the_document(self, store: Store) -> None:
        store.put_sensor("p", "a", {"status": "ready", "count": 10}, T0)
        store.put_sensor("p", "a", {"count": 11}, at(1))
        sensors = store.get_sensors("p")
        assert list(sensors) == ["a"]
        assert sensors["a"].data == {"count": 11}
        assert sensors["a"].version == 2
        assert sensors["a"].written_at == at(1)

    def test_get_sensors_returns_every_key_of_the_pipeline_only(self, store: Store) -> None:
        store.put_sensor("p", "b", {"v": "b"}, T0)
        store.put_sensor("p", "a#2026-03-01", {"v": "a"}, T0)
        store.put_sensor("q", "c", {"v": "c"}, T0)
        sensors = store.get_sensors("p")
        assert sorted(sensors) == ["a#2026-03-01", "b"]
        assert sensors["b"].key == "b"
        assert sensors["a#2026-03-01"].data == {"v": "a"}
        assert all(is_utc(sensor.written_at) for sensor in sensors.values())

    def test_sensors_since(self, store: Store) -> None:
        store.put_sensor("p", "a", {"n": 1}, T0)  # v1, later replaced by v4
        store.put_sensor("p", "b", {"n": 2}, T0)  # v2
        store.put_sensor("p", "c", {"n": 3}, T0)  # v3
        store.put_sensor("p", "a", {"n": 4}, T0)  # v4
        store.put_sensor("q", "z", {"n": 1}, T0)
        assert [(s.key, s.version) for s in store.sensors_since("p", 0)] == [
            ("b", 2),
            ("c", 3),
            ("a", 4),
        ]
        assert [(s.key, s.version) for s in store.sensors_since("p", 2)] == [("c", 3), ("a", 4)]
        assert store.sensors_since("p", 4) == []
        assert store.sensors_since("p", 4) == store.sensors_since("p", 100)
        assert store.sensors_since("p", 3)[0].data == {"n": 4}

    def test_get_sensors_is_one_consistent_read(self, store: Store) -> None:
        # The writer writes a, b, a, b, ... with n = 0, 0, 1, 1, ...; a snapshot taken at any
        # moment sees a.n == b.n or a.n == b.n + 1. A read that fetches keys one by one can
        # see an old "a" next to a newer "b" (b.n > a.n) or a far newer "a".
        rounds = 150
        store.put_sensor("p", "a", {"n": 0}, T0)
        store.put_sensor("p", "b", {"n": 0}, T0)
        done = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for n in range(1, rounds + 1):
                    store.put_sensor("p", "a", {"n": n}, T0)
                    store.put_sensor("p", "b", {"n": n}, T0)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        reads = 0
        bad: list[tuple[int, int, int, int]] = []
        while not done.is_set() or reads == 0:
            sensors = store.get_sensors("p")
            a, b = sensors["a"], sensors["b"]
            if (a.data["n"] - b.data["n"]) not in (0, 1) or abs(a.version - b.version) != 1:
                bad.append((a.data["n"], b.data["n"], a.version, b.version))
            reads += 1
        writer.join()
        assert errors == []
        assert bad == []
        final = store.get_sensors("p")
        assert (final["a"].data, final["b"].data) == ({"n": rounds}, {"n": rounds})
        assert store.sensor_versions() == {"p": 2 * rounds + 2}

    def test_sensor_data_must_be_json(self, store: Store) -> None:
        with pytest.raises(ValueError, match="not JSON"):
            store.put_sensor("p", "a", {"when": object()}, T0)
        with pytest.raises(ValueError, match="not JSON"):
            store.put_sensor("p", "a", {"x": math.inf}, T0)
        assert store.get_sensors("p") == {}
        assert store.sensor_versions() == {}

    # -- runs ------------------------------------------------------------------------------
    def test_create_run_is_create_if_absent(self, store: Store) -> None:
        created = store.create_run(make_run(version=7, message="first"))
        assert created is not None
        assert created.version == 1
        assert created.message == "first"
        assert store.create_run(make_run(message="second")) is None
        stored = store.get_run("p", "2026-03-01")
        assert stored == created
        # Another period or pipeline is another run.
        assert store.create_run(make_run(period="2026-03-02")) is not None
        assert store.create_run(make_run(pipeline_id="q")) is not None

    def test_get_missing_run(self, store: Store) -> None:
        assert store.get_run("p", "2026-03-01") is None

    def test_update_run_is_compare_and_set(self, store: Store) -> None:
        created = store.create_run(make_run())
        assert created is not None
        moved = store.update_run(
            created.evolve(status=RunStatus.SUBMITTING, lease_owner="c1"), created.version
        )
        assert moved is not None
        assert (moved.version, moved.status, moved.lease_owner) == (2, RunStatus.SUBMITTING, "c1")
        assert store.get_run("p", "2026-03-01") == moved
        # A writer still holding version 1 loses and changes nothing.
        stale = store.update_run(created.evolve(status=RunStatus.CLAIMED, owner="x"), 1)
        assert stale is None
        assert store.get_run("p", "2026-03-01") == moved
        # A version from the future loses too.
        assert store.update_run(moved.evolve(message="ahead"), 5) is None
        third = store.update_run(moved.evolve(status=RunStatus.RUNNING), 2)
        assert third is not None
        assert third.version == 3

    def test_update_of_a_missing_run_does_not_create_it(self, store: Store) -> None:
        assert store.update_run(make_run(), 0) is None
        assert store.update_run(make_run(), 1) is None
        assert store.get_run("p", "2026-03-01") is None
        assert store.list_runs() == []

    def test_run_round_trips_every_field(self, store: Store) -> None:
        run = make_run(
            attempt=3,
            origin=RunOrigin.RERUN,
            config_hash="abc",
            next_action=NextAction.POLL,
            due_at=at(5),
            window_ends_at=at(60),
            token="tok",
            lease_owner="ctl-1",
            lease_expires_at=at(1),
            submit_failures=2,
            job_run_id="job-9",
            job_metadata={"url": "http://x", "nested": {"ids": [1, 2]}},
            submitted_at=at(0.5),
            owner="airflow:dag/run",
            claimed_at=at(0.25),
            message="polling",
            last_sensor_version=12,
            last_reasons=['sensor "a" not found'],
            trigger_arrived_at=at(-1),
            baseline={"rows": 10},
            dry_run=True,
        )
        created = store.create_run(run)
        assert created is not None
        assert created == run.evolve(version=1)
        stored = store.get_run("p", "2026-03-01")
        assert stored == created
        assert stored is not None
        assert stored.job_metadata == {"url": "http://x", "nested": {"ids": [1, 2]}}

    def test_due_runs(self, store: Store) -> None:
        store.create_run(make_run(period="d3", due_at=at(3)))
        store.create_run(make_run(period="d1", due_at=at(1)))
        store.create_run(make_run(period="d2", due_at=at(2)))
        store.create_run(make_run(period="later", due_at=at(10)))
        store.create_run(make_run(period="never", due_at=None))
        store.create_run(make_run(pipeline_id="q", period="d2", due_at=at(2)))
        due = store.due_runs(at(3))
        # Earliest due first; equal due times by (pipeline, period); due_at == now is due.
        assert [(r.pipeline_id, r.period) for r in due] == [
            ("p", "d1"),
            ("p", "d2"),
            ("q", "d2"),
            ("p", "d3"),
        ]
        assert [r.period for r in store.due_runs(at(3), limit=2)] == ["d1", "d2"]
        assert store.due_runs(at(0)) == []
        assert store.due_runs(at(3), limit=0) == []
        assert len(store.due_runs(at(1000))) == 5
        assert all(is_utc(r.due_at) for r in due)

    def test_due_runs_follow_updates(self, store: Store) -> None:
        created = store.create_run(make_run(due_at=at(1)))
        assert created is not None
        assert len(store.due_runs(at(1))) == 1
        later = store.update_run(created.evolve(due_at=at(30)), 1)
        assert later is not None
        assert store.due_runs(at(29)) == []
        assert store.update_run(later.evolve(due_at=None), 2) is not None
        assert store.due_runs(at(10_000)) == []

    def test_due_runs_compare_exact_instants(self, store: Store) -> None:
        store.create_run(make_run(due_at=T0 + timedelta(microseconds=500)))
        assert store.due_runs(T0 + timedelta(microseconds=499)) == []
        assert len(store.due_runs(T0 + timedelta(microseconds=500))) == 1

    def test_list_runs_filters_and_order(self, store: Store) -> None:
        store.create_run(make_run("p", "2026-03-01", RunStatus.SUCCEEDED))
        store.create_run(make_run("p", "2026-03-03", RunStatus.WAITING))
        store.create_run(make_run("p", "2026-03-02", RunStatus.FAILED))
        store.create_run(make_run("q", "2026-03-02", RunStatus.WAITING))
        store.create_run(make_run("a", "2026-03-02", RunStatus.RUNNING))
        keys = [(r.pipeline_id, r.period) for r in store.list_runs()]
        assert keys == [
            ("p", "2026-03-03"),
            ("a", "2026-03-02"),
            ("p", "2026-03-02"),
            ("q", "2026-03-02"),
            ("p", "2026-03-01"),
        ]
        assert [r.period for r in store.list_runs("p")] == [
            "2026-03-03",
            "2026-03-02",
            "2026-03-01",
        ]
        assert [r.pipeline_id for r in store.list_runs(statuses=[RunStatus.WAITING])] == [
            "p",
            "q",
        ]
        assert [
            r.period for r in store.list_runs("p", statuses={RunStatus.SUCCEEDED, RunStatus.FAILED})
        ] == ["2026-03-02", "2026-03-01"]
        assert [r.period for r in store.list_runs("p", limit=2)] == ["2026-03-03", "2026-03-02"]
        assert store.list_runs(statuses=[]) == []
        assert store.list_runs("nope") == []
        assert store.list_runs(limit=0) == []

    def test_negative_limits_are_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="limit"):
            store.list_runs(limit=-1)
        with pytest.raises(ValueError, match="limit"):
            store.due_runs(T0, limit=-1)
        with pytest.raises(ValueError, match="limit"):
            store.query_events(limit=-1)

    # -- rerun ledger ----------------------------------------------------------------------
    def test_rerun_ledger(self, store: Store) -> None:
        first = store.append_rerun("p", "d1", "data-drift", T0, {"field": "count"})
        second = store.append_rerun("p", "d1", "manual:fix", at(1))
        third = store.append_rerun("p", "d1", "data-drift", at(2))
        other_period = store.append_rerun("p", "d2", "late-data", at(3))
        other_pipeline = store.append_rerun("q", "d1", "data-drift", at(4))
        assert [first.seq, second.seq, third.seq] == [1, 2, 3]
        assert other_period.seq == 1
        assert other_pipeline.seq == 1
        assert (first.pipeline_id, first.period, first.reason, first.at, first.detail) == (
            "p",
            "d1",
            "data-drift",
            T0,
            {"field": "count"},
        )
        assert second.detail == {}
        assert store.list_reruns("p", "d1") == [first, second, third]
        assert all(is_utc(record.at) for record in store.list_reruns("p", "d1"))
        assert store.count_reruns("p", "d1", ["data-drift"]) == 2
        assert store.count_reruns("p", "d1", {"data-drift", "late-data", "manual:fix"}) == 3
        assert store.count_reruns("p", "d1", ["late-data"]) == 0
        assert store.count_reruns("p", "d1", []) == 0
        assert store.count_reruns("p", "d2", ["late-data"]) == 1
        assert store.list_reruns("p", "d9") == []

    # -- markers ---------------------------------------------------------------------------
    def test_marker_put_if_absent(self, store: Store) -> None:
        assert store.put_marker("p", "SLA_WARNING#d1", T0, {"by": "first"}) is True
        assert store.put_marker("p", "SLA_WARNING#d1", at(1), {"by": "second"}) is False
        marker = store.get_marker("p", "SLA_WARNING#d1", now=at(2))
        assert marker is not None
        assert (marker.pipeline_id, marker.name, marker.created_at, marker.data) == (
            "p",
            "SLA_WARNING#d1",
            T0,
            {"by": "first"},
        )
        assert marker.expires_at is None
        assert is_utc(marker.created_at)
        # Markers are per pipeline.
        assert store.put_marker("q", "SLA_WARNING#d1", T0) is True
        assert store.get_marker("p", "other", now=T0) is None

    def test_marker_expiry(self, store: Store) -> None:
        assert store.put_marker("p", "m", T0, {"n": 1}, expires_at=at(60)) is True
        assert store.put_marker("p", "m", at(59), {"n": 2}) is False
        live = store.get_marker("p", "m", now=at(59))
        assert live is not None
        assert (live.data, live.expires_at) == ({"n": 1}, at(60))
        assert is_utc(live.expires_at)
        # Expired at expires_at exactly.
        assert store.get_marker("p", "m", now=at(60)) is None
        assert store.put_marker("p", "m", at(60), {"n": 3}) is True
        replaced = store.get_marker("p", "m", now=at(61))
        assert replaced is not None
        assert (replaced.data, replaced.created_at, replaced.expires_at) == ({"n": 3}, at(60), None)
        assert store.put_marker("p", "m", at(10_000), {"n": 4}) is False

    def test_expired_markers_are_purged(self, store: Store) -> None:
        store.put_marker("p", "old", T0, expires_at=at(60))
        store.put_marker("p", "later", T0, expires_at=at(600))
        store.put_marker("p", "forever", T0)
        assert store.purge_expired_markers(at(60)) == 1
        assert store.purge_expired_markers(at(60)) == 0
        assert store.get_marker("p", "later", now=at(61)) is not None
        assert store.get_marker("p", "forever", now=at(10_000)) is not None
        assert store.put_marker("p", "old", at(61)) is True  # gone, so it can be created again

    def test_get_marker_defaults_to_the_current_time(self, store: Store) -> None:
        past = datetime(2020, 1, 1, tzinfo=UTC)
        future = datetime.now(UTC) + timedelta(days=365)
        store.put_marker("p", "expired", past - timedelta(days=1), expires_at=past)
        store.put_marker("p", "live", past, expires_at=future)
        assert store.get_marker("p", "expired") is None
        assert store.get_marker("p", "live") is not None

    # -- batched markers -------------------------------------------------------------------
    def test_put_markers_claims_only_absent_keys(self, store: Store) -> None:
        assert store.put_marker("p", "alerted#1", T0) is True
        keys = [("p", "alerted#1"), ("p", "alerted#2"), ("q", "alerted#1"), ("p", "alerted#2")]
        assert store.put_markers(keys, at(1), expires_at=at(60)) == {
            ("p", "alerted#2"),
            ("q", "alerted#1"),
        }
        assert store.put_markers(keys, at(2), expires_at=at(60)) == set()
        kept = store.get_marker("p", "alerted#1", now=at(3))
        assert kept is not None
        assert (kept.created_at, kept.expires_at) == (T0, None)
        claimed = store.get_marker("q", "alerted#1", now=at(3))
        assert claimed is not None
        assert (claimed.created_at, claimed.expires_at, claimed.data) == (at(1), at(60), {})
        assert is_utc(claimed.created_at)
        assert is_utc(claimed.expires_at)

    def test_put_markers_replaces_expired_markers_only(self, store: Store) -> None:
        assert store.put_markers([("p", "a"), ("p", "b")], T0, expires_at=at(60)) == {
            ("p", "a"),
            ("p", "b"),
        }
        assert store.put_marker("p", "c", T0) is True
        keys = [("p", "a"), ("p", "b"), ("p", "c")]
        assert store.put_markers(keys, at(59), data={"n": 2}) == set()
        assert store.put_markers(keys, at(60), data={"n": 3}) == {("p", "a"), ("p", "b")}
        replaced = store.get_marker("p", "a", now=at(10_000))
        assert replaced is not None
        assert (replaced.created_at, replaced.expires_at, replaced.data) == (at(60), None, {"n": 3})
        # A marker put_markers created is one put_marker sees, and the other way round.
        assert store.put_marker("p", "a", at(10_001)) is False

    def test_put_markers_of_nothing_claims_nothing(self, store: Store) -> None:
        assert store.put_markers([], T0) == set()
        assert store.put_markers(iter(()), T0, expires_at=at(1)) == set()

    def test_put_markers_batch_larger_than_a_transaction(self, store: Store) -> None:
        # DynamoDB writes 100 keys per transaction and retries a chunk without the keys
        # that exist: taken keys scattered over several chunks must all be left alone.
        keys = [(f"p{n % 7}", f"alerted#{n:04d}") for n in range(250)]
        taken = keys[::9]
        for pipeline_id, name in taken:
            assert store.put_marker(pipeline_id, name, T0) is True
        claimed = store.put_markers(keys, at(1), expires_at=at(60))
        assert claimed == set(keys) - set(taken)
        assert store.put_markers(keys, at(2), expires_at=at(60)) == set()

    def test_put_markers_keeps_odd_names_apart(self, store: Store) -> None:
        # Controller events have pipeline id "", names may look like numbers or hold quotes.
        keys = [("", "alerted#x"), ("p", "123"), ("p", "0123"), ("p", 'it\'s "q" é'), ("p", "")]
        assert store.put_markers(keys, T0) == set(keys)
        for pipeline_id, name in keys:
            assert store.get_marker(pipeline_id, name, now=at(1)) is not None
            assert store.put_marker(pipeline_id, name, at(1)) is False

    def test_put_markers_refuses_naive_times_and_writes_nothing(self, store: Store) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            store.put_markers([("p", "a")], datetime(2026, 3, 1, 8))
        with pytest.raises(ValueError, match="timezone-aware"):
            store.put_markers([("p", "a")], T0, expires_at=datetime(2026, 3, 1, 9))
        assert store.get_marker("p", "a", now=T0) is None

    # -- events ----------------------------------------------------------------------------
    def test_events_come_back_in_time_then_id_order(self, store: Store) -> None:
        late = make_event(minutes=5, id="0000000000005-b")
        early = make_event(minutes=1, id="0000000000009-z")
        tie_b = make_event(minutes=3, id="0000000000003-b")
        tie_a = make_event(minutes=3, id="0000000000003-a")
        store.append_events([late, early])
        store.append_events([tie_b, tie_a])
        assert [e.id for e in store.query_events()] == [early.id, tie_a.id, tie_b.id, late.id]

    def test_event_round_trip(self, store: Store) -> None:
        event = Event(
            type=EventType.JOB_FAILED,
            pipeline_id="gold",
            period="2026-03-01T07",
            attempt=2,
            at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=PLUS2),
            message="job failed: exit 3",
            detail={"exit": 3, "category": "PERMANENT", "tags": ["a", "b"], "x": {"y": None}},
        )
        system = Event(EventType.CONFIG_APPLIED, "", None, None, T0, "applied", {})
        store.append_events([event, system])
        got = store.query_events()
        assert got == [event, system]
        assert got[0].at == datetime(2026, 3, 1, 7, 30, 15, 123456, tzinfo=UTC)
        assert is_utc(got[0].at)
        assert got[0].detail == event.detail
        assert got[0].to_json() == event.to_json()
        assert (got[1].period, got[1].attempt, got[1].pipeline_id) == (None, None, "")

    def test_event_filters(self, store: Store) -> None:
        events = [
            make_event(EventType.RUN_OPENED, 0, "p", "d1"),
            make_event(EventType.JOB_TRIGGERED, 1, "p", "d1"),
            make_event(EventType.JOB_FAILED, 2, "p", "d1"),
            make_event(EventType.RUN_OPENED, 3, "q", "d1"),
            make_event(EventType.SLA_BREACH, 4, "p", "d2"),
            make_event(EventType.CONFIG_APPLIED, 5, "", None),
        ]
        store.append_events(reversed(events))
        ids = [e.id for e in events]

        def query(**filters: Any) -> list[str]:
            return [e.id for e in store.query_events(**filters)]

        assert query() == ids
        assert query(pipeline_id="p") == [ids[0], ids[1], ids[2], ids[4]]
        assert query(pipeline_id="") == [ids[5]]
        assert query(types=[EventType.RUN_OPENED]) == [ids[0], ids[3]]
        assert query(types={EventType.RUN_OPENED, EventType.SLA_BREACH}) == [
            ids[0],
            ids[3],
            ids[4],
        ]
        assert query(types=[]) == []
        assert query(since=at(2)) == ids[2:]
        assert query(until=at(2)) == ids[:2]
        assert query(since=at(1), until=at(4)) == ids[1:4]
        assert query(since=at(1).astimezone(PLUS2), until=at(1.5).astimezone(PLUS2)) == [ids[1]]
        assert query(period="d1") == ids[:4]
        assert query(after_id=ids[2]) == ids[3:]
        assert query(after_id=ids[5]) == []
        assert query(pipeline_id="p", types=[EventType.RUN_OPENED], period="d1") == [ids[0]]
        assert query(pipeline_id="p", since=at(1), period="d1") == [ids[1], ids[2]]

    def test_event_limit_keeps_the_newest_oldest_first(self, store: Store) -> None:
        events = [make_event(minutes=m) for m in range(10)]
        store.append_events(events)
        ids = [e.id for e in events]
        assert [e.id for e in store.query_events(limit=3)] == ids[7:]
        assert [e.id for e in store.query_events(limit=100)] == ids
        assert store.query_events(limit=0) == []
        assert [e.id for e in store.query_events(until=at(5), limit=2)] == ids[3:5]
        assert [e.id for e in store.query_events(after_id=ids[2], limit=2)] == ids[8:]

    def test_append_events_skips_known_ids_and_empty_batches(self, store: Store) -> None:
        event = make_event()
        store.append_events([event])
        store.append_events([event, event])
        store.append_events([])
        assert store.query_events() == [event]

    # -- time ------------------------------------------------------------------------------
    def test_naive_datetimes_are_refused(self, store: Store) -> None:
        naive = datetime(2026, 3, 1, 8)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.put_sensor("p", "a", {}, naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.apply_configs({"a": ({}, "h", "")}, naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.create_run(make_run(due_at=naive))
        with pytest.raises(ValueError, match="timezone-aware"):
            store.put_marker("p", "m", naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.due_runs(naive)
        assert store.get_sensors("p") == {}
        assert store.list_configs() == []
        assert store.list_runs() == []

    def test_other_offsets_come_back_as_utc(self, store: Store) -> None:
        local = T0.astimezone(PLUS2)
        store.apply_configs({"a": ({}, "h", "")}, local)
        sensor = store.put_sensor("p", "a", {}, local)
        run = store.create_run(
            Run(
                pipeline_id="p",
                period="d1",
                status=RunStatus.WAITING,
                opened_at=local,
                attempt_started_at=local,
                updated_at=local,
                due_at=local,
            )
        )
        store.put_marker("p", "m", local, expires_at=local + timedelta(hours=1))
        record = store.append_rerun("p", "d1", "manual", local)
        config = store.get_config("a")
        marker = store.get_marker("p", "m", now=local)
        stored_run = store.get_run("p", "d1")
        assert config is not None
        assert marker is not None
        assert run is not None
        assert stored_run is not None
        values = [
            config.applied_at,
            sensor.written_at,
            store.get_sensors("p")["a"].written_at,
            run.opened_at,
            run.due_at,
            stored_run.opened_at,
            stored_run.attempt_started_at,
            stored_run.updated_at,
            stored_run.due_at,
            marker.created_at,
            marker.expires_at,
            record.at,
            store.list_reruns("p", "d1")[0].at,
        ]
        assert all(is_utc(value) for value in values), values
        assert all(value == T0 for value in values if value != marker.expires_at)
        assert store.due_runs(local)[0].due_at == T0

    # -- isolation -------------------------------------------------------------------------
    def test_callers_cannot_mutate_stored_documents(self, store: Store) -> None:
        document: dict[str, Any] = {"rules": [{"key": "a"}]}
        store.apply_configs({"a": (document, "h", "")}, T0)
        document["rules"].append({"key": "b"})
        config = store.get_config("a")
        assert config is not None
        config.document["rules"].clear()
        again = store.get_config("a")
        assert again is not None
        assert again.document == {"rules": [{"key": "a"}]}

        data: dict[str, Any] = {"stats": {"rows": 1}}
        returned = store.put_sensor("p", "s", data, T0)
        data["stats"]["rows"] = 2
        returned.data["stats"]["rows"] = 3
        store.get_sensors("p")["s"].data["stats"]["rows"] = 4
        store.sensors_since("p", 0)[0].data["stats"]["rows"] = 5
        assert store.get_sensors("p")["s"].data == {"stats": {"rows": 1}}

        metadata: dict[str, Any] = {"ids": [1]}
        run = store.create_run(make_run(job_metadata=metadata, last_reasons=["r"]))
        assert run is not None
        metadata["ids"].append(2)
        run.job_metadata["ids"].append(3)
        run.last_reasons.append("x")
        fetched = store.get_run("p", "2026-03-01")
        assert fetched is not None
        fetched.job_metadata["ids"].append(4)
        stored = store.get_run("p", "2026-03-01")
        assert stored is not None
        assert (stored.job_metadata, stored.last_reasons) == ({"ids": [1]}, ["r"])

        marker_data: dict[str, Any] = {"n": [1]}
        store.put_marker("p", "m", T0, marker_data)
        marker_data["n"].append(2)
        marker = store.get_marker("p", "m", now=T0)
        assert marker is not None
        marker.data["n"].append(3)
        marker_again = store.get_marker("p", "m", now=T0)
        assert marker_again is not None
        assert marker_again.data == {"n": [1]}

        detail: dict[str, Any] = {"n": [1]}
        record = store.append_rerun("p", "d1", "manual", T0, detail)
        detail["n"].append(2)
        record.detail["n"].append(3)
        store.list_reruns("p", "d1")[0].detail["n"].append(4)
        assert store.list_reruns("p", "d1")[0].detail == {"n": [1]}

        event_detail: dict[str, Any] = {"n": [1]}
        store.append_events([make_event(detail=event_detail)])
        event_detail["n"].append(2)
        store.query_events()[0].detail["n"].append(3)
        assert store.query_events()[0].detail == {"n": [1]}

    # -- grouped run writes (issue #13, second pass) -----------------------------------------
    def test_update_runs_writes_each_run_and_skips_a_lost_compare_and_set(
        self, store: Store
    ) -> None:
        runs = [store.create_run(make_run(f"p{i}", due_at=T0)) for i in range(3)]
        assert all(run is not None for run in runs)
        first, second, third = (run for run in runs if run is not None)
        moved = store.update_run(second.evolve(message="another controller"), second.version)
        assert moved is not None
        events = [make_event(EventType.JOB_TRIGGERED, i, pipeline_id=f"p{i}") for i in range(3)]
        claimed = [
            run.evolve(status=RunStatus.SUBMITTING, lease_owner="c1", due_at=at(2))
            for run in (first, second, third)
        ]
        stored = store.update_runs_with_events(
            [RunUpdate(run, 1, (event,)) for run, event in zip(claimed, events, strict=True)]
        )
        assert [run.pipeline_id if run else None for run in stored] == ["p0", None, "p2"]
        assert [run.version for run in stored if run] == [2, 2]
        assert store.get_run("p0", first.period) == stored[0]
        assert store.get_run("p1", second.period) == moved  # skipped, not overwritten
        assert store.get_run("p2", third.period) == stored[2]
        # Only the winners' events are appended.
        assert [event.id for event in store.query_events()] == [events[0].id, events[2].id]
        assert store.due_runs(at(1)) == [moved]
        assert [run.pipeline_id for run in store.due_runs(at(2))] == ["p1", "p0", "p2"]

    def test_update_runs_of_one_run_twice_sees_the_first_write(self, store: Store) -> None:
        created = store.create_run(make_run(due_at=T0))
        assert created is not None
        submitting = created.evolve(status=RunStatus.SUBMITTING, lease_owner="c1")
        running = created.evolve(status=RunStatus.RUNNING, job_run_id="j1")
        stale = created.evolve(status=RunStatus.FAILED)
        stored = store.update_runs_with_events(
            [RunUpdate(submitting, 1), RunUpdate(running, 2), RunUpdate(stale, 1)]
        )
        assert [run.version if run else None for run in stored] == [2, 3, None]
        final = store.get_run("p", created.period)
        assert final is not None and (final.status, final.version) == (RunStatus.RUNNING, 3)

    def test_update_runs_of_missing_runs_and_of_nothing(self, store: Store) -> None:
        assert store.update_runs_with_events([]) == []
        assert store.update_runs_with_events([RunUpdate(make_run(), 1)]) == [None]
        assert store.get_run("p", "2026-03-01") is None
        assert store.query_events() == []
