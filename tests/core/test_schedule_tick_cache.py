"""Cron ticks cached per (cron, zone, UTC day): the same ticks as computing them afresh (DST
days included), shared between pipelines, and bounded without a cliff."""

import datetime as dt

import pytest

from interlock_core import schedule
from interlock_core.config.models import Pipeline


def cron_pipeline(cron: str, zone: str, pipeline_id: str = "p") -> Pipeline:
    return Pipeline.model_validate(
        {
            "pipeline": {"id": pipeline_id},
            "schedule": {"cron": cron, "timezone": zone},
            "job": {"type": "command", "config": {"command": ["true"]}},
        }
    )


@pytest.mark.parametrize("cron", ["0 * * * *", "*/20 * * * *", "30 2 * * *", "30 1 * * *"])
@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
@pytest.mark.parametrize(
    "start",
    [
        dt.datetime(2026, 3, 7, 22, 13, tzinfo=dt.UTC),  # across spring-forward (US)
        dt.datetime(2026, 10, 24, 5, 0, tzinfo=dt.UTC),  # across fall-back (EU)
        dt.datetime(2026, 4, 4, 0, 0, tzinfo=dt.UTC),  # Lord Howe's half-hour change
    ],
)
def test_cached_ticks_equal_ticks_computed_afresh(cron: str, zone: str, start: dt.datetime) -> None:
    pipeline = cron_pipeline(cron, zone)
    for hours in (1, 7, 30, 49, 95):
        end = start + dt.timedelta(hours=hours, minutes=17)
        fresh = schedule._cron_ticks_between(
            pipeline.id, cron, pipeline.schedule.tz, start, end, 10**6
        )
        assert schedule.cron_ticks(pipeline, start, end) == fresh
        assert schedule.cron_ticks(pipeline, start, end) == fresh  # from the cache now


def test_pipelines_with_the_same_cron_and_zone_share_chunks() -> None:
    schedule._TICK_CHUNKS.clear()
    start = dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=2)
    first = schedule.cron_ticks(cron_pipeline("7 * * * *", "Asia/Tokyo", "a"), start, end)
    chunks = len(schedule._TICK_CHUNKS)
    second = schedule.cron_ticks(cron_pipeline("7 * * * *", "Asia/Tokyo", "b"), start, end)
    assert first == second and len(schedule._TICK_CHUNKS) == chunks == 3


def test_the_chunk_cache_is_bounded_and_evicts_least_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schedule._TICK_CHUNKS.clear()
    monkeypatch.setattr(schedule, "_TICK_CHUNKS_CAPACITY", [5])
    pipeline = cron_pipeline("0 6 * * *", "UTC")
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    schedule.cron_ticks(pipeline, day, day + dt.timedelta(hours=12))
    kept = next(iter(schedule._TICK_CHUNKS))
    for index in range(1, 20):
        start = day + dt.timedelta(days=index)
        schedule.cron_ticks(pipeline, start, start + dt.timedelta(hours=12))
        schedule.cron_ticks(pipeline, day, day + dt.timedelta(hours=12))  # used: stays
        assert len(schedule._TICK_CHUNKS) <= 5
    assert kept in schedule._TICK_CHUNKS
    schedule.reserve_tick_cache(100)
    assert schedule._TICK_CHUNKS_CAPACITY[0] >= 400


def test_a_range_with_too_many_ticks_still_fails_with_the_range_in_the_message() -> None:
    pipeline = cron_pipeline("* * * * *", "UTC")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="more than 100 cron ticks between 2026-01-01T00:00"):
        schedule.cron_ticks(pipeline, start, start + dt.timedelta(hours=3), limit=100)
