"""Exit statuses: 2 for a bad option or argument, 1 for refusals and runtime errors, and
evaluate's 0/1/2 (item 3). Every error is one ``error:`` line on stderr."""

import pytest

from interlock_core.cli import json_type_name
from tests.core.cli.conftest import PERIOD, Cli

OWNER = "airflow:dag/run-1"


def _error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["events", "--period", "2026-13-01"],
        ["events", "--period", "yesterday"],
        ["events", "--since", "recently"],
        ["events", "--since", "-2h"],
        ["events", "--type", "NOPE"],
        ["emit", "orders", "counts", "--period", "March"],
        ["emit", "orders", "counts", "--data", "null"],
        ["emit", "orders", "counts", "--data", "{"],
        ["emit", "orders", "counts", "novalue"],
        ["evaluate", "orders", "--period", "2026-02-30"],
        ["evaluate", "orders", "--at", "noon"],
        ["rerun", "orders", "March"],
        ["report", "orders", "2026-02-30", "success"],
        ["resolve", "orders", "20261301", "--failed"],
        ["claim", "inventory", "March", "--owner", OWNER],
    ],
)
def test_bad_options_and_arguments_exit_2(ready_cli: Cli, args: list[str]) -> None:
    result = ready_cli(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    _error_line(result.stderr)
    assert ready_cli.store().list_runs() == []


def test_a_bad_period_is_named(ready_cli: Cli) -> None:
    result = ready_cli("events", "--period", "2026-13-01")
    assert _error_line(result.stderr) == (
        "error: invalid period '2026-13-01': month must be in 1..12"
    )


def test_bad_input_wins_over_a_missing_store(cli: Cli) -> None:
    """A usage error is reported before the store is looked at."""
    assert cli("events", "--since", "recently").exit_code == 2
    assert cli("events", "--period", "x").exit_code == 2
    assert cli("status", "--limit", "0").exit_code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["claim", "orders", PERIOD, "--owner", OWNER], "has a job"),
        (["report", "inventory", PERIOD, "success"], "no run for inventory"),
        (["rerun", "inventory", PERIOD], "no run for inventory"),
        (["resolve", "inventory", PERIOD, "--failed"], "no run for inventory"),
        (["emit", "nope", "k", "a=1"], "unknown pipeline"),
        (["status", "--store", "bogus://x"], "unsupported store URL"),
    ],
)
def test_refusals_and_runtime_errors_exit_1_in_one_style(
    ready_cli: Cli, args: list[str], message: str
) -> None:
    result = ready_cli(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in _error_line(result.stderr)


def test_a_refused_rerun_with_json_also_says_why_on_stderr(ready_cli: Cli) -> None:
    result = ready_cli("rerun", "inventory", PERIOD, "--json")
    assert result.exit_code == 1
    assert '"accepted": false' in result.stdout
    assert _error_line(result.stderr) == f"error: no run for inventory {PERIOD}"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "number"),
        (1.5, "number"),
        ("x", "string"),
        ([], "array"),
        ({}, "object"),
    ],
)
def test_json_type_name(value: object, name: str) -> None:
    assert json_type_name(value) == name
