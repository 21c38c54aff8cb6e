"""``interlock events``: table, JSON lines, filters, bad types and --follow."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from interlock_core import cli as cli_module
from interlock_core.cli import CliUsageError, parse_event_types
from interlock_core.events import EventType
from tests.core.cli.conftest import PERIOD, Cli


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_no_events(cli: Cli) -> None:
    cli.store()  # an existing, empty store
    result = cli("events")
    assert result.exit_code == 0
    assert result.stdout.strip() == "no events"
    assert cli("events", "--json").stdout == ""


def test_table_and_json_lines(ready_cli: Cli) -> None:
    ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    table = ready_cli("events")
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["at", "type", "pipeline", "period", "attempt", "message"]
    assert any(row.split()[2:6] == ["RUN_OPENED", "orders", PERIOD, "1"] for row in rows)
    assert sum("CONFIG_APPLIED" in row for row in rows) == 3

    events = _lines(ready_cli("events", "--json").stdout)
    assert len(events) == 4
    assert set(events[0]) == {
        "id",
        "type",
        "pipelineId",
        "period",
        "attempt",
        "at",
        "message",
        "detail",
    }
    assert [event["type"] for event in events][-1] == "RUN_OPENED"
    ids = [str(event["id"]) for event in events]
    assert ids == sorted(ids)  # oldest first


def test_filters(ready_cli: Cli) -> None:
    ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    ready_cli("emit", "inventory", "stock", "status=done", "--period", "2026-03-05")

    by_pipeline = _lines(ready_cli("events", "--pipeline", "inventory", "--json").stdout)
    assert {event["pipelineId"] for event in by_pipeline} == {"inventory"}
    assert len(by_pipeline) == 2

    by_type = _lines(ready_cli("events", "--type", "run_opened", "--json").stdout)
    assert [event["pipelineId"] for event in by_type] == ["orders", "inventory"]
    both = ready_cli("events", "--type", "RUN_OPENED", "--type", "CONFIG_APPLIED", "--json")
    assert len(_lines(both.stdout)) == 5

    by_period = _lines(ready_cli("events", "--period", "20260305", "--json").stdout)
    assert [event["pipelineId"] for event in by_period] == ["inventory"]

    assert len(_lines(ready_cli("events", "--since", "1h", "--json").stdout)) == 5
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ready_cli("events", "--since", future, "--json").stdout == ""

    newest = _lines(ready_cli("events", "--limit", "1", "--json").stdout)
    assert [event["pipelineId"] for event in newest] == ["inventory"]
    assert newest[0]["type"] == "RUN_OPENED"


def test_unknown_type_suggests_the_closest(ready_cli: Cli) -> None:
    result = ready_cli("events", "--type", "RUN_OPENNED")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: unknown event type 'RUN_OPENNED' (did you mean RUN_OPENED?)"
    )


def test_parse_event_types() -> None:
    assert parse_event_types(()) is None
    assert parse_event_types(["sla-breach, RUN_OPENED"]) == [
        EventType.SLA_BREACH,
        EventType.RUN_OPENED,
    ]
    with pytest.raises(CliUsageError, match="see the event catalogue"):
        parse_event_types(["zzz"])


def test_bad_since_and_limit(ready_cli: Cli) -> None:
    assert ready_cli("events", "--since", "recently").exit_code == 2
    assert ready_cli("events", "--limit", "0").exit_code == 2


@pytest.mark.parametrize("as_json", [False, True])
def test_follow_prints_new_events_until_ctrl_c(
    ready_cli: Cli, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    engine = ready_cli.engine()
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 1:
            engine.emit("orders", "upstream", {"status": "ready"}, PERIOD)
        elif len(pauses) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_pause", pause)
    args = ["events", "--pipeline", "orders", "--follow"] + (["--json"] if as_json else [])
    result = ready_cli(*args)

    assert result.exit_code == 0
    assert len(pauses) == 3
    assert all(0.5 <= seconds <= 1 for seconds in pauses)
    lines = result.stdout.splitlines()
    if as_json:
        assert [json.loads(line)["type"] for line in lines] == ["CONFIG_APPLIED", "RUN_OPENED"]
    else:
        # The columns of `events`: the header once, the config event already there, the run.
        assert len(lines) == 3
        assert lines[0].split() == ["at", "type", "pipeline", "period", "attempt", "message"]
        assert lines[1].split()[2:6] == ["CONFIG_APPLIED", "orders", "-", "-"]
        assert lines[2].split()[2:6] == ["RUN_OPENED", "orders", PERIOD, "1"]


def test_follow_from_an_empty_log(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.core.cli.conftest import ORDERS

    cli.write("orders.yaml", ORDERS)
    calls: list[int] = []

    def pause(_seconds: float) -> None:
        calls.append(1)
        if len(calls) == 1:
            cli("apply", str(cli.pipelines))
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_pause", pause)
    cli.store()  # an existing, empty store
    result = cli("events", "--follow", "--json")
    assert result.exit_code == 0
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["CONFIG_APPLIED"]


@pytest.mark.parametrize("since", ["2h", "2h ago", "1d", "90m", " 90m AGO ", "2026-03-04T08:00Z"])
def test_since_accepts_what_its_help_shows(ready_cli: Cli, since: str) -> None:
    result = ready_cli("events", "--since", since)
    assert result.exit_code == 0, result.stderr
    help_text = " ".join(ready_cli("events", "--help").stdout.split())
    assert "2h ago" in help_text and "2026-03-04T08:00Z" in help_text


def test_a_bad_since_names_both_accepted_forms(ready_cli: Cli) -> None:
    result = ready_cli("events", "--since", "30 minutes")
    assert result.exit_code == 2
    assert "neither a duration (2h, 1d, 90m, 2h ago) nor an ISO-8601 time" in result.stderr


def test_a_mistyped_pipeline_is_an_error_not_no_events(ready_cli: Cli) -> None:
    typo = ready_cli("events", "--pipeline", "ordres")
    assert typo.exit_code == 1
    assert typo.stdout == ""
    assert typo.stderr == (
        "error: unknown pipeline 'ordres' (apply its config first; did you mean orders?)\n"
    )
    assert ready_cli("events", "--pipeline", "ordres", "--json").exit_code == 1
    # A known pipeline with nothing matching still just has no events.
    quiet = ready_cli("events", "--pipeline", "orders", "--type", "JOB_FAILED")
    assert (quiet.exit_code, quiet.stdout.strip()) == (0, "no events")


@pytest.mark.parametrize(
    "args",
    [["evaluate", "ordres"], ["open", "ordres"], ["logs", "ordres", PERIOD], ["status", "ordres"]],
)
def test_every_command_suggests_the_closest_pipeline_id(ready_cli: Cli, args: list[str]) -> None:
    result = ready_cli(*args)
    assert result.exit_code != 0
    assert "unknown pipeline 'ordres'" in result.stderr
    assert "did you mean orders?" in result.stderr
