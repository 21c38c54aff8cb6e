"""Skipping idle minutes (tests/scenarios/quiet.py) changes nothing a replay sees, and the
guard that proves it on every scenario (``check_skips``) does catch a wrong skip."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from interlock_core.storage import MemoryStore
from tests.scenarios import harness
from tests.scenarios.harness import ScenarioPlayer
from tests.scenarios.quiet import WriteCounter
from tests.scenarios.test_scenarios import FILES

LONG = [p for p in FILES if p.stem.startswith(("05-", "17-", "18-", "22-"))]


def _events(player: ScenarioPlayer) -> list[tuple[Any, ...]]:
    return [
        (e.type.value, e.pipeline_id, e.period, e.attempt, e.at, e.message)
        for e in player.engine.events()
    ]


@pytest.mark.parametrize("path", LONG, ids=[p.stem for p in LONG])
def test_skipping_idle_minutes_publishes_the_same_events_at_the_same_instants(path: Path) -> None:
    every_minute = ScenarioPlayer(path)
    every_minute.play()
    skipping = ScenarioPlayer(path, skip_idle=True)
    skipping.play()
    assert skipping.skipped_passes > 100  # these scenarios span hours or days
    assert _events(skipping) == _events(every_minute)
    assert skipping.runner.submissions == every_minute.runner.submissions
    assert skipping.clock.now() == every_minute.clock.now()


def test_the_guard_fails_a_skip_that_would_miss_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # A next_wake that sleeps through the 08:00 cron tick of scenario 39.
    monkeypatch.setattr(
        harness, "next_wake", lambda engine, after, *_: after + dt.timedelta(days=1)
    )
    path = next(p for p in FILES if p.stem.startswith("39-"))
    with pytest.raises(AssertionError, match="next_wake said nothing could happen before"):
        ScenarioPlayer(path, check_skips=True).play()


def test_the_write_counter_counts_changes_not_refusals() -> None:
    store = MemoryStore()
    counter = WriteCounter(store)
    now = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    store.put_sensor("p", "k", {"a": 1}, now)
    assert counter.writes == 1
    assert store.purge_expired_markers(now) == 0
    assert counter.writes == 1  # nothing purged, nothing changed
    assert store.put_marker("p", "m", now) is True
    assert counter.writes == 2
    assert store.put_marker("p", "m", now) is False  # already there: a refusal
    assert counter.writes == 2
