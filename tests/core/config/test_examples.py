"""The shipped examples: they load, and gold-revenue is the seed's config byte for byte."""

import calendar as cal
import datetime as dt
from pathlib import Path

import pytest

from interlock_core.config import Granularity, load_calendars, load_pipeline, load_pipelines

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "examples" / "pipelines"
CALENDARS = ROOT / "examples" / "calendars"
# shared/ lies beside the repository (in development and in CI).
SEED_README = next(
    (
        parent / "shared" / "reference" / "seed-interlock-README.txt"
        for parent in ROOT.parents
        if (parent / "shared" / "reference" / "seed-interlock-README.txt").exists()
    ),
    None,
)


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    assert load_pipeline(path).id == path.stem


def test_example_directory_has_no_errors_or_warnings() -> None:
    result = load_pipelines(PIPELINES)
    assert result.errors == []
    assert result.warnings == []
    assert sorted(result.pipelines) == [
        "gold-orders-daily",
        "gold-revenue",
        "silver-orders-hourly",
        "warehouse-inventory",
    ]
    assert list(result.calendars) == ["us-federal"]


def test_examples_cover_the_documented_shapes() -> None:
    result = load_pipelines(PIPELINES)
    hourly = result.pipelines["silver-orders-hourly"]
    assert hourly.schedule.cron is None
    assert hourly.granularity == Granularity.HOURLY
    assert hourly.schedule.trigger is not None
    assert hourly.job is not None
    assert hourly.job.type == "command"
    post = result.pipelines["gold-orders-daily"]
    assert post.post_run is not None
    assert post.post_run.drift_threshold == 50
    assert post.schedule.exclude.calendars == ["us-federal"]
    jobless = result.pipelines["warehouse-inventory"]
    assert not jobless.has_job


def seed_block() -> bytes:
    if SEED_README is None:
        pytest.skip("the seed README (shared/reference) is not beside the repository")
    lines = SEED_README.read_text().splitlines()
    start = lines.index("Pipeline Configuration") + 2
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("  maxRetries:")) + 1
    return ("\n".join(lines[start:end]) + "\n").encode()


def test_gold_revenue_is_the_seed_config_byte_for_byte() -> None:
    block = seed_block()
    assert block.startswith(b"pipeline:\n  id: gold-revenue\n")
    assert (PIPELINES / "gold-revenue.yaml").read_bytes() == block


def observed(day: dt.date) -> dt.date:
    if day.weekday() == cal.SATURDAY:
        return day - dt.timedelta(days=1)
    if day.weekday() == cal.SUNDAY:
        return day + dt.timedelta(days=1)
    return day


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    days = [d for d in cal.Calendar().itermonthdates(year, month) if d.month == month]
    matching = [d for d in days if d.weekday() == weekday]
    return matching[n]  # n = -1: the last one


def federal_holidays(year: int) -> set[dt.date]:
    return {
        observed(dt.date(year, 1, 1)),
        nth_weekday(year, 1, cal.MONDAY, 2),
        nth_weekday(year, 2, cal.MONDAY, 2),
        nth_weekday(year, 5, cal.MONDAY, -1),
        observed(dt.date(year, 6, 19)),
        observed(dt.date(year, 7, 4)),
        nth_weekday(year, 9, cal.MONDAY, 0),
        nth_weekday(year, 10, cal.MONDAY, 1),
        observed(dt.date(year, 11, 11)),
        nth_weekday(year, 11, cal.THURSDAY, 3),
        observed(dt.date(year, 12, 25)),
    }


def test_us_federal_calendar_has_the_observed_holidays() -> None:
    calendar = load_calendars(CALENDARS)["us-federal"]
    expected = federal_holidays(2026) | federal_holidays(2027) | federal_holidays(2028)
    expected = {day for day in expected if day.year in (2026, 2027)}
    assert set(calendar.dates) == expected
    assert len(calendar.dates) == 23  # 11 + 11 + New Year's Day 2028 observed on 2027-12-31
    assert calendar.days == []
    assert dt.date(2026, 7, 3) in calendar.dates
    assert dt.date(2027, 6, 18) in calendar.dates
    assert dt.date(2027, 12, 24) in calendar.dates
