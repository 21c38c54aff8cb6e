"""A run's stored document, and a run a SQL store just wrote, without the pydantic schema.

``run_document`` must write exactly what ``model_dump_json`` writes; ``written_run`` must
return what a read of the document returns; the kept runs a read serves by document must never
outlive their document (an update, another writer's row).
"""

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from interlock_core import lifecycle
from interlock_core.config.models import Pipeline
from interlock_core.runs import NextAction, Run, RunOrigin, RunStatus, run_document
from interlock_core.storage import SQLiteStore
from interlock_core.storage.base import utc_run
from interlock_core.storage.sql_rows import run_from_document, written_run
from tests.core.storage.contract import PLUS2, T0, at, make_run


def _every_field_set() -> Run:
    return make_run(
        status=RunStatus.FAILED,
        due_at=at(5),
        attempt=3,
        version=7,
        origin=RunOrigin.LATE_TRIGGER,
        config_hash="abc",
        next_action=NextAction.CHECK_CLAIM,
        window_ends_at=at(60).astimezone(PLUS2),
        token="t-1",
        lease_owner="w",
        lease_expires_at=at(1),
        submit_failures=2,
        job_run_id="j-9",
        job_metadata={"url": "http://x", "n": 1, "f": 1.5, "nested": {"a": [1, "b", None]}},
        submitted_at=at(2),
        poll_deadline=at(3),
        owner="me",
        claimed_at=at(4),
        claim_deadline=at(6),
        finished_at=at(7),
        succeeded_at=at(8),
        failure_category="job",
        message='boom \u00e9 "quoted" \n',
        last_evaluated_at=at(9),
        last_sensor_version=4,
        last_reasons=["a: missing", "b: 0 < 1"],
        gate_passed_at=at(10),
        trigger_arrived_at=at(11),
        baseline={"rows": 10, "ok": True},
        dry_run=True,
    )


def test_run_document_writes_what_model_dump_json_writes() -> None:
    for run in (make_run(), _every_field_set(), utc_run(_every_field_set())):
        assert run_document(run) == run.model_dump_json()
        assert Run.model_validate_json(run_document(run)) == Run.model_validate_json(
            run.model_dump_json()
        )


def test_run_document_writes_infinities_and_nans_as_null_as_model_dump_json_does() -> None:
    # ``Infinity`` is not JSON: PostgreSQL's json column refuses it, and SQLite would read back
    # inf where a run written before read back None.
    run = make_run(
        job_metadata={"score": float("inf"), "nested": [float("nan"), -float("inf")]},
        baseline={"rows": float("nan")},
    )
    assert run_document(run) == run.model_dump_json()
    assert "Infinity" not in run_document(run) and "NaN" not in run_document(run)


def test_a_newly_opened_run_equals_the_validated_one() -> None:
    pipeline = Pipeline.model_validate(
        {"pipeline": {"id": "p"}, "schedule": {"trigger": {"key": "k", "check": "exists"}}}
    )
    run = lifecycle.open_run(
        pipeline, "h", "2026-03-01", RunOrigin.TRIGGER, T0, at(60), trigger_arrived_at=T0
    )
    assert run == Run.model_validate(run.model_dump())
    assert run_document(run) == Run.model_validate(run.model_dump()).model_dump_json()


def test_written_run_is_what_a_read_returns() -> None:
    plain = utc_run(make_run(due_at=at(1), last_reasons=["x: missing"]))
    document = run_document(plain)
    written = written_run(plain, document)
    assert written == plain and written is not plain
    assert written.last_reasons is not plain.last_reasons
    assert written == Run.model_validate_json(document)
    # Dicts may hold what JSON does not keep (a tuple, a datetime): read back, not kept.
    odd = utc_run(make_run(job_metadata={"pair": (1, 2), "at": T0}))
    document = run_document(odd)
    returned = written_run(odd, document)
    assert returned is not odd
    assert returned == Run.model_validate_json(document)
    assert returned.job_metadata == {"pair": [1, 2], "at": "2026-03-01T08:00:00Z"}


def _parsing_refused(*args: object, **kwargs: object) -> Run:
    raise AssertionError("a kept run's document was parsed")


def test_a_read_serves_a_kept_run_only_for_its_very_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    other = SQLiteStore(tmp_path / "s.db")
    try:
        created = store.create_run(make_run(due_at=at(1)))
        assert created is not None
        with monkeypatch.context() as patched:  # the same document: kept, not parsed
            patched.setattr(Run, "model_validate_json", _parsing_refused)
            assert store.get_run("p", "2026-03-01") == created
        # An update is a new document: the read parses it and sees the change.
        updated = other.update_run(created.evolve(message="changed"), created.version)
        assert updated is not None
        read = store.get_run("p", "2026-03-01")
        assert read is not None and read.message == "changed" and read.version == 2
        # Another process's row (no kept run at all): parsed as ever.
        with contextlib.closing(sqlite3.connect(tmp_path / "s.db")) as conn, conn:
            conn.execute("UPDATE runs SET document = replace(document, '\"changed\"', '\"raw\"')")
        read = store.get_run("p", "2026-03-01")
        assert read is not None and read.message == "raw"
    finally:
        store.close()
        other.close()


def test_datetimes_read_back_at_utc_whichever_way_they_came() -> None:
    run = utc_run(make_run(due_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=PLUS2)))
    assert run.due_at == at(0)
    assert run_from_document(run_document(run)).due_at == at(0)


def test_a_kept_run_is_never_shared_with_a_reader(tmp_path: Path) -> None:
    # Reads have always returned runs of their own (the memory store parses every read): a
    # caller changing a list of the run it got must change no other read's run.
    store = SQLiteStore(tmp_path / "s.db")
    try:
        opened = make_run(due_at=at(1), last_reasons=["a: missing"])
        created = store.create_run(opened)
        assert created is not None
        created.last_reasons.append("changed by the writer")
        first = store.get_run("p", "2026-03-01")
        assert first is not None and first.last_reasons == ["a: missing"]
        first.last_reasons.append("changed by a reader")
        first.job_metadata["k"] = "v"
        (listed,) = store.list_runs("p")
        assert listed.last_reasons == ["a: missing"] and listed.job_metadata == {}
        assert opened.last_reasons == ["a: missing"]
    finally:
        store.close()


def test_a_run_with_a_zoned_datetime_is_read_back_at_utc_not_kept(tmp_path: Path) -> None:
    # London in winter is at offset zero, so utc_run keeps it; a kept run would then add days
    # in London time (an hour off once summer time starts) where a read gives UTC.
    london = dt.datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Europe/London"))
    store = SQLiteStore(tmp_path / "s.db")
    try:
        created = store.create_run(make_run(due_at=london))
        read = store.get_run("p", "2026-03-01")
        for run in (created, read):
            assert run is not None and run.due_at is not None
            assert run.due_at.utcoffset() == dt.timedelta(0)
            later = run.due_at + dt.timedelta(days=60)
            assert later == dt.datetime(2026, 4, 30, 8, 0, tzinfo=dt.UTC)
    finally:
        store.close()
