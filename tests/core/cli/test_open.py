"""``interlock open``, and the next tick that ``evaluate`` and ``status`` show."""

import datetime as dt
import json

from interlock_core.runs import RunStatus
from tests.core.cli.conftest import Cli

# The CLI runs on the system clock: periods are placed relative to today.
TODAY = dt.datetime.now(dt.UTC).date()
CRON = """\
pipeline: {id: gold, owner: test}
schedule:
  cron: "0 8 * * *"
  timezone: Asia/Tokyo
  trigger: {key: upstream, check: equals, field: status, value: ready}
validation: {trigger: ALL, rules: []}
job:
  type: command
  config: {command: ["true"]}
"""
SENSOR_DRIVEN = """\
pipeline: {id: orders, owner: test}
schedule:
  timezone: UTC
  trigger: {key: upstream, check: exists}
  exclude: {dates: [%s]}
"""


def _day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def _setup(cli: Cli) -> None:
    cli.write("gold.yaml", CRON)
    cli.write("orders.yaml", SENSOR_DRIVEN % _day(-3))
    assert cli("apply", str(cli.pipelines)).exit_code == 0


def test_open_a_range_names_each_period(cli: Cli) -> None:
    _setup(cli)
    assert cli("open", "orders", _day(-2)).exit_code == 0
    result = cli("open", "orders", "--from", _day(-4), "--to", _day(-1))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"opened {_day(-4)}: WAITING for its gate" in lines
    assert f"opened {_day(-1)}: WAITING for its gate" in lines
    assert f"exists {_day(-2)}: WAITING (attempt 1), left alone" in lines
    assert f"skipped {_day(-3)}: excluded (excluded date {_day(-3)})" in lines
    assert "orders: 2 opened, 1 already had a run, 1 skipped" in lines
    statuses = {run.period: run.status.value for run in cli.engine().status("orders")}
    assert statuses == {_day(-4): "WAITING", _day(-2): "WAITING", _day(-1): "WAITING"}


def test_open_json(cli: Cli) -> None:
    _setup(cli)
    result = cli("open", "orders", "--from", _day(-3), "--to", _day(-2), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [run["period"] for run in document["opened"]] == [_day(-2)]
    assert document["opened"][0]["origin"] == "manual"
    assert [skip["period"] for skip in document["excluded"]] == [_day(-3)]
    assert document["existing"] == [] and document["unscheduled"] == []


def test_open_refuses_the_future_and_opens_nothing(cli: Cli) -> None:
    _setup(cli)
    result = cli("open", "orders", "--from", _day(-1), "--to", _day(2))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {_day(1)} has not begun yet")
    assert "nothing was opened" in result.stderr
    assert cli.engine().status("orders") == []


def test_open_usage_errors(cli: Cli) -> None:
    _setup(cli)
    both = cli("open", "orders", _day(-1), "--from", _day(-2), "--to", _day(-1))
    assert both.exit_code == 2 and "either PERIOD or --from/--to" in both.stderr
    half = cli("open", "orders", "--from", _day(-2))
    assert half.exit_code == 2 and "both --from and --to" in half.stderr
    bad = cli("open", "orders", "yesterday")
    assert bad.exit_code == 2 and "invalid period" in bad.stderr
    unknown = cli("open", "nope", _day(-1))
    assert unknown.exit_code == 1 and "unknown pipeline 'nope'" in unknown.stderr


def test_open_without_a_period_opens_a_cron_pipeline_now(cli: Cli) -> None:
    _setup(cli)
    result = cli("open", "gold")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("opened ")
    [run] = cli.engine().status("gold")
    assert run.status.value == "WAITING" and run.origin.value == "manual"


def test_evaluate_and_status_say_when_the_next_tick_is(cli: Cli) -> None:
    _setup(cli)
    result = cli("evaluate", "gold")
    assert result.exit_code == 1
    assert "run: none yet" in result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("next tick: ")]
    assert " 08:00 Asia/Tokyo (opens the run for " in line
    assert "`interlock open gold` opens one now" in line
    tick = json.loads(cli("evaluate", "gold", "--json").stdout)["nextTick"]
    assert tick["timezone"] == "Asia/Tokyo" and tick["local"].endswith(" 08:00")
    assert dt.datetime.fromisoformat(tick["at"]) > dt.datetime.now(dt.UTC)

    status = cli("status", "gold")
    assert status.exit_code == 0
    assert "no runs yet for gold" in status.stdout
    assert f"gold: no run yet; {line}" in status.stdout
    everything = cli("status").stdout
    assert f"gold: no run yet; {line}" in everything
    assert "orders: no run yet" not in everything  # sensor-driven: no tick to announce

    # Once a run exists, evaluate shows it and no tick.
    assert cli("open", "gold").exit_code == 0
    [run] = cli.engine().status("gold")
    assert "next tick" not in cli("evaluate", "gold", "--period", run.period).stdout
    assert "next tick" not in cli("status").stdout
    document = json.loads(cli("evaluate", "gold", "--period", run.period, "--json").stdout)
    assert "nextTick" not in document


def test_status_of_an_unknown_pipeline_fails_like_evaluate(cli: Cli) -> None:
    _setup(cli)
    status = cli("status", "gold-revenu")
    assert status.exit_code == 1
    assert status.stdout == ""
    assert status.stderr == "error: unknown pipeline 'gold-revenu' (apply its config first)\n"
    evaluate = cli("evaluate", "gold-revenu")
    assert evaluate.stderr.startswith("error: unknown pipeline 'gold-revenu'")
    assert cli("status", "gold-revenu", "--json").exit_code == 1


def test_a_finished_run_is_left_alone_with_the_way_to_reopen_it(cli: Cli) -> None:
    _setup(cli)
    engine = cli.engine()
    [run] = engine.open_runs("orders", _day(-2)).opened
    exhausted = run.evolve(status=RunStatus.VALIDATION_EXHAUSTED, next_action=None, due_at=None)
    assert engine.store.update_run(exhausted, run.version) is not None
    result = cli("open", "orders", _day(-2))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        f"exists {_day(-2)}: VALIDATION_EXHAUSTED (attempt 1), left alone "
        f"(`interlock rerun orders {_day(-2)}` reopens it)"
    )
