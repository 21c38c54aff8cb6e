"""``interlock evaluate``: the rule table, exit codes 0/1/2, --at and --json."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from interlock_core.cli import CliUsageError, parse_since, parse_time
from tests.core.cli.conftest import PERIOD, Cli


def test_not_ready_then_ready(ready_cli: Cli) -> None:
    result = ready_cli("evaluate", "orders", "--period", PERIOD)
    assert result.exit_code == 1
    assert f"orders {PERIOD}: NOT READY (0 of 2 rules pass)" in result.stdout
    assert 'sensor "upstream" not found' in result.stdout
    assert "FAIL" in result.stdout
    assert "run: none yet" in result.stdout

    ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    ready_cli("emit", "orders", "counts", "count=12", "--period", PERIOD)
    result = ready_cli("evaluate", "orders", "--period", PERIOD)
    assert result.exit_code == 1
    assert "NOT READY (1 of 2 rules pass)" in result.stdout
    assert f"run: orders {PERIOD}: WAITING (attempt 1)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("counts"))
    assert row.split()[:6] == ["counts", "gte", "count", "1000", "12", "FAIL"]

    ready_cli("emit", "orders", "counts", "count=1204", "--period", PERIOD)
    result = ready_cli("evaluate", "orders", "--period", PERIOD)
    assert result.exit_code == 0, result.stderr
    assert "READY (2 of 2 rules pass)" in result.stdout
    assert "NOT READY" not in result.stdout


def test_json_shape(ready_cli: Cli) -> None:
    ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    result = ready_cli("evaluate", "orders", "--period", PERIOD, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == {"pipelineId", "period", "ready", "excluded", "rules", "run"}
    assert document["pipelineId"] == "orders"
    assert document["period"] == PERIOD
    assert document["ready"] is False
    assert document["excluded"] is None
    assert document["rules"] == [
        {
            "key": "upstream",
            "check": "equals",
            "field": "status",
            "expected": "ready",
            "actual": "ready",
            "passed": True,
            "reason": 'status is "ready"',
        },
        {
            "key": "counts",
            "check": "gte",
            "field": "count",
            "expected": 1000,
            "actual": None,
            "passed": False,
            "reason": 'sensor "counts" not found',
        },
    ]
    run = document["run"]
    assert run["pipelineId"] == "orders"
    assert run["status"] == "WAITING"
    assert run["attempt"] == 1
    assert run["openedAt"].endswith("Z")


def test_at_evaluates_at_that_instant(ready_cli: Cli) -> None:
    assert ready_cli("emit", "fresh", "heartbeat", "beat=1").exit_code == 0
    now = datetime.now(UTC)
    soon = (now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert ready_cli("evaluate", "fresh", "--at", soon).exit_code == 0
    stale = ready_cli("evaluate", "fresh", "--at", late, "--json")
    assert stale.exit_code == 1
    assert json.loads(stale.stdout)["period"] == (now + timedelta(hours=3)).date().isoformat()
    # Before the write: the write time is in the future, so the age check fails.
    past = ready_cli("evaluate", "fresh", "--at", "2000-01-01T00:00:00", "--json")
    assert past.exit_code == 1
    assert json.loads(past.stdout)["period"] == "2000-01-01"
    assert "future" in json.loads(past.stdout)["rules"][0]["reason"]


def test_at_without_offset_is_utc(ready_cli: Cli) -> None:
    ready_cli("emit", "fresh", "heartbeat", "beat=1")
    naive = ready_cli("evaluate", "fresh", "--at", "2030-01-01T23:30:00", "--json")
    offset = ready_cli("evaluate", "fresh", "--at", "2030-01-02T01:30:00+02:00", "--json")
    assert naive.exit_code == offset.exit_code == 1
    assert json.loads(naive.stdout) == json.loads(offset.stdout)
    assert json.loads(naive.stdout)["period"] == "2030-01-01"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown pipeline 'nope'"),
        (["orders", "--period", "2026-13-01"], "invalid period"),
        (["orders", "--period", "tomorrow"], "invalid period"),
        (["orders", "--at", "yesterday"], "--at: invalid time"),
    ],
)
def test_errors_exit_2(ready_cli: Cli, args: list[str], message: str) -> None:
    result = ready_cli("evaluate", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_store_error_exits_2(cli: Cli) -> None:
    from click.testing import CliRunner

    from interlock_core.cli import main

    result = CliRunner().invoke(
        main, ["--store", "bogus://x", "evaluate", "orders"], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unsupported store URL")


def test_excluded_period_is_not_ready(ready_cli: Cli) -> None:
    ready_cli.write(
        "weekday.yaml",
        """\
pipeline: {id: weekday}
schedule: {timezone: UTC, exclude: {weekends: true}}
validation: {trigger: ALL, rules: []}
""",
    )
    assert ready_cli("apply", str(ready_cli.pipelines)).exit_code == 0
    assert ready_cli("evaluate", "weekday", "--period", "2026-03-04").exit_code == 0  # Wednesday
    saturday = ready_cli("evaluate", "weekday", "--period", "2026-03-07")
    assert saturday.exit_code == 1
    assert "excluded:" in saturday.stdout
    document = json.loads(
        ready_cli("evaluate", "weekday", "--period", "2026-03-07", "--json").stdout
    )
    assert document["excluded"]
    assert document["ready"] is False


def test_parse_time() -> None:
    assert parse_time("2026-03-04T08:00:00") == datetime(2026, 3, 4, 8, tzinfo=UTC)
    assert parse_time("2026-03-04T08:00:00Z") == datetime(2026, 3, 4, 8, tzinfo=UTC)
    assert parse_time("2026-03-04T10:00:00+02:00") == datetime(2026, 3, 4, 8, tzinfo=UTC)
    assert parse_time("2026-03-04") == datetime(2026, 3, 4, tzinfo=UTC)
    with pytest.raises(CliUsageError):
        parse_time("08:00")


def test_parse_since() -> None:
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert parse_since("1d", now) == datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert parse_since("2026-03-01T00:00:00Z", now) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(CliUsageError):
        parse_since("-2h", now)
    with pytest.raises(CliUsageError):
        parse_since("recently", now)


def test_a_single_rule_is_counted_in_the_singular(ready_cli: Cli) -> None:
    result = ready_cli("evaluate", "inventory", "--period", PERIOD)
    assert f"inventory {PERIOD}: NOT READY (0 of 1 rule passes)" in result.stdout
    ready_cli("emit", "inventory", "stock", "status=done", "--period", PERIOD)
    assert (
        "READY (1 of 1 rule passes)"
        in ready_cli("evaluate", "inventory", "--period", PERIOD).stdout
    )
