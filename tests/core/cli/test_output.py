"""Tables: whole rows for pipes and files, fitted rich tables for terminals (item 1)."""

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from interlock_core import cli as cli_module
from interlock_core import cli_format as fmt
from interlock_core.cli import main
from interlock_core.events import EventType
from interlock_core.runs import NextAction, Run, RunStatus
from tests.core.cli.conftest import PERIOD, Cli

# A job run id as long as the ones some job types return (40 characters).
RUN_ID = "spark-application-1700000000000-0001-abcd"[:40]
LONG_MESSAGE = (
    "late data arrived for orders after the run had already succeeded: the upstream sensor "
    "was rewritten with a newer count, so the published tables may be stale; consider a "
    "rerun with --reason late-data once the producer confirms the backfill is complete"
)


def _narrow(cli: Cli, *args: str, columns: int = 40) -> str:
    """Run a command with stdout not a terminal and a narrow COLUMNS; return stdout."""
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "INTERLOCK_STORE": None}
    env["INTERLOCK_PIPELINES"] = None
    result = CliRunner().invoke(
        main, ["--store", cli.store_url, *args], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _running_run(cli: Cli, message: str = LONG_MESSAGE) -> None:
    now = datetime.now(UTC)
    run = Run(
        pipeline_id="orders",
        period=PERIOD,
        status=RunStatus.RUNNING,
        opened_at=now,
        attempt_started_at=now,
        updated_at=now,
        next_action=NextAction.POLL,
        due_at=now,
        job_run_id=RUN_ID,
        message=message,
    )
    assert cli.store().create_run(run) is not None


def test_events_to_a_pipe_keep_every_row_on_one_line(ready_cli: Cli) -> None:
    ready_cli.engine().publish(
        EventType.LATE_DATA_ARRIVAL, "orders", LONG_MESSAGE + "\nsecond\tline", period=PERIOD
    )
    out = _narrow(ready_cli, "events")
    late = [line for line in out.splitlines() if "LATE_DATA_ARRIVAL" in line]  # `| grep`
    assert len(late) == 1
    assert late[0].endswith(LONG_MESSAGE + " second line")
    assert late[0].split()[2:5] == ["LATE_DATA_ARRIVAL", "orders", PERIOD]
    assert "\t" not in out
    assert "…" not in out
    assert all(line == line.rstrip() for line in out.splitlines())
    # Every row is one line: a header plus four events.
    assert len(out.splitlines()) == 5


def test_status_to_a_file_keeps_run_ids_and_messages_whole(ready_cli: Cli) -> None:
    _running_run(ready_cli)
    header, row = _narrow(ready_cli, "status").splitlines()
    assert header.split()[:4] == ["pipeline", "period", "status", "attempt"]
    assert row.split()[:4] == ["orders", PERIOD, "RUNNING", "1"]
    assert f" {RUN_ID} " in row
    assert row.endswith(LONG_MESSAGE)  # not clipped at 80 characters either
    # Columns line up: each header starts where its values start.
    assert row.index(RUN_ID) == header.index("job run id")


def test_evaluate_and_apply_to_a_pipe_are_plain(cli: Cli) -> None:
    from tests.core.cli.conftest import ORDERS

    cli.write("orders.yaml", ORDERS)
    applied = _narrow(cli, "apply", str(cli.pipelines), columns=20).splitlines()
    assert applied[0].split() == ["pipeline", "change", "hash"]
    assert applied[1].split()[:2] == ["orders", "created"]
    assert applied[2] == "1 created"

    env = {"COLUMNS": "30", "INTERLOCK_STORE": None, "INTERLOCK_PIPELINES": None}
    args = ["--store", cli.store_url, "evaluate", "orders", "--period", PERIOD]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1  # not ready
    lines = result.stdout.splitlines()
    assert lines[0] == f"orders {PERIOD}: NOT READY (0 of 2 rules pass)"
    upstream = next(line for line in lines if line.startswith("upstream"))
    assert upstream.split()[:6] == ["upstream", "equals", "status", "ready", "-", "FAIL"]
    assert upstream.endswith('sensor "upstream" not found')


def test_empty_cells_are_a_dash_in_plain_output() -> None:
    grid = fmt.Grid((fmt.Column("a"), fmt.Column("b"), fmt.Column("c", wrap=True)))
    grid.add_row("x", "", "free text")
    grid.add_row("longer", "y", "")
    assert fmt.render_plain(grid) == ["a       b  c", "x       -  free text", "longer  y  -"]


# ----------------------------------------------------------------------------- terminals


def _on_a_terminal(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, columns: int, *args: str
) -> list[str]:
    monkeypatch.setattr(fmt, "stdout_is_terminal", lambda: True)
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "INTERLOCK_STORE": None}
    env["INTERLOCK_PIPELINES"] = None
    result = CliRunner().invoke(
        main, ["--store", cli.store_url, *args], env=env, catch_exceptions=False
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.stdout.splitlines()


def test_a_terminal_table_wraps_only_free_text(
    ready_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _running_run(ready_cli, "short message that wraps at word boundaries only")
    # The identifiers and times take 116 columns, the rest is left to `next` and `message`.
    lines = _on_a_terminal(ready_cli, monkeypatch, 130, "status")
    assert all(len(line) <= 130 for line in lines)
    assert len(lines) > 2
    text = "\n".join(lines)
    for identifier in ("orders", PERIOD, "RUNNING", RUN_ID):
        assert identifier in text  # on one line, not folded
    # The message wrapped (it does not fit) and no word of it was broken.
    words = " ".join(line[lines[0].index("message") :] for line in lines).split()
    assert words[0] == "message"
    assert " ".join(words[1:]) == "short message that wraps at word boundaries only"


def test_a_terminal_too_narrow_for_the_identifiers_gets_a_wider_table(
    ready_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _running_run(ready_cli)
    lines = _on_a_terminal(ready_cli, monkeypatch, 40, "status")
    text = "\n".join(lines)
    for identifier in ("orders", PERIOD, "RUNNING", RUN_ID, "job run id"):
        assert identifier in text
    assert max(len(line) for line in lines) > 40


def test_a_terminal_events_table_keeps_types_whole(
    ready_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready_cli.engine().publish(
        EventType.POST_RUN_SENSOR_MISSING, "orders", LONG_MESSAGE, period=PERIOD
    )
    lines = _on_a_terminal(ready_cli, monkeypatch, 100, "events")
    assert all(len(line) <= 100 for line in lines)
    assert any("POST_RUN_SENSOR_MISSING" in line for line in lines)
    assert sum("CONFIG_APPLIED" in line for line in lines) == 3
    rows = [line for line in lines if re.match(r"\d{4}-\d{2}-\d{2} ", line)]
    assert len(rows) == 4  # the message wraps onto continuation lines, the rows stay four


def test_fit_widths_gives_spare_room_to_free_text() -> None:
    grid = fmt.Grid((fmt.Column("id"), fmt.Column("message", wrap=True)))
    grid.add_row("abcdefghij", "one two three four five six seven")
    rows = [list(row) for row in grid.rows]
    assert fmt.fit_widths(grid, rows, 100) == [10, 33]  # everything fits
    assert fmt.fit_widths(grid, rows, 25) == [10, 13]  # the message wraps
    assert fmt.fit_widths(grid, rows, 5) == [10, 7]  # never below the longest word


def test_fit_widths_completes_the_cheapest_free_text_column_first() -> None:
    grid = fmt.Grid(
        (fmt.Column("id"), fmt.Column("next", wrap=True), fmt.Column("message", wrap=True))
    )
    grid.add_row("x", "poll at 2026-03-04 08:00:00Z", "a b c d e f g h i j k l m n o p q r s t")
    rows = [list(row) for row in grid.rows]
    # least: id 2, next 10, message 7; 30 spare: `next` (18 short) is made whole first.
    assert fmt.fit_widths(grid, rows, 2 + 10 + 7 + 4 + 30) == [2, 28, 19]


def test_follow_prints_the_events_columns(ready_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_pause", stop)
    table = ready_cli("events").stdout.splitlines()
    followed = ready_cli("events", "--follow").stdout.splitlines()
    assert [line.split() for line in followed] == [line.split() for line in table]
    # The columns start where their headers start, however the widths were chosen.
    header = followed[0]
    for row in followed[1:]:
        assert row[header.index("type") :].startswith("CONFIG_APPLIED")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "p00001",
        "a b~",
        "tab\there",
        "bell\x07",
        "\x7f",
        "café",
        "日本語",
        "e\u0301",
        "🙂",
        "\u200b",
    ],
)
def test_text_width_is_rich_cell_len(text: str) -> None:
    from rich.cells import cell_len

    assert fmt.text_width(text) == cell_len(text)
