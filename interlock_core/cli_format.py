"""Renderers for the ``interlock`` command: tables for people, plain dicts for ``--json``.

Nothing here touches the store or the engine; every function turns a result the engine
returned into text or into a JSON-ready dict, so the command functions in ``cli`` stay thin
and the output can be tested without a store.

Tables are built as a :class:`Grid` (columns and cells) and drawn in one of two ways:

* to a terminal, as a rich table fitted to the terminal's width: identifier columns (pipeline,
  period, status, type, ids, times) are never wrapped or cut, only free text (messages,
  reasons, values) wraps; when even that does not fit, the table is drawn wider than the
  terminal rather than breaking an identifier;
* to a pipe or a file, as plain aligned text with no width limit: one row per line, every
  value in full, no colour, no tabs, so ``interlock events | grep TYPE`` sees whole rows.
"""

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click
from pydantic.alias_generators import to_camel
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from interlock_core.config.models import Rule
from interlock_core.engine import Readiness
from interlock_core.events import Event, EventType
from interlock_core.rules import RuleResult
from interlock_core.runs import Run, RunStatus
from interlock_core.sensors import Sensor
from interlock_core.storage.base import ConfigChange

STATUS_STYLES: dict[RunStatus, str] = {
    RunStatus.WAITING: "yellow",
    RunStatus.SUBMITTING: "cyan",
    RunStatus.RUNNING: "cyan",
    RunStatus.CLAIMED: "cyan",
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.VALIDATION_EXHAUSTED: "red",
    RunStatus.TIMED_OUT: "red",
    RunStatus.UNCERTAIN: "bold red",
}

ACTION_STYLES = {"created": "green", "updated": "yellow", "unchanged": "dim", "removed": "red"}

# On a terminal, long values would make a table unreadable; pipes and --json get them whole.
_MAX_CELL = 80
# On a terminal, a free-text column may be narrowed to this even if one of its words is
# longer (that word is then folded); identifiers are never narrowed.
_MIN_FREE_TEXT = 20
# Columns are separated by two spaces, in both renderings.
_GAP = 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def make_console(width: int | None = None) -> Console:
    """A console on the current stdout (created per call, so test runners can capture it).

    Rich drops colour by itself when stdout is not a terminal and honours ``NO_COLOR`` and
    ``COLUMNS``.

    Args:
        width: draw this wide instead of the terminal's width.
    """
    return Console(highlight=False, soft_wrap=False, width=width)


def stdout_is_terminal() -> bool:
    """True when stdout is a terminal (a person is reading), False for pipes and files."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # no stdout, or a closed one
        return False


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """One table column.

    Attributes:
        name: the header.
        wrap: free text, which may wrap on a terminal; False for identifiers, which never do.
        clip: on a terminal, cut values longer than 80 characters (pipes get them whole).
    """

    name: str
    wrap: bool = False
    clip: bool = False


@dataclass
class Grid:
    """A table before it is drawn: what :func:`show` prints for a terminal or a pipe."""

    columns: tuple[Column, ...]
    rows: list[tuple[Text, ...]] = field(default_factory=list)

    def add_row(self, *cells: str | Text) -> None:
        """Append a row; one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        self.rows.append(tuple(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


def _single_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


def plain_cell(cell: str | Text) -> str:
    """A cell as it appears in plain output: one line, ``-`` when empty."""
    text = _single_line(cell.plain if isinstance(cell, Text) else cell).strip()
    return text or "-"


def text_width(text: str) -> int:
    """The terminal cells ``text`` takes (rich's ``cell_len``): printable ASCII is one cell a
    character, so only other text goes through rich's width table (10 000 rows of
    ``interlock apply`` output spent ~0.1 s there)."""
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def plain_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Cells left-aligned to ``widths`` (the last cell is never padded)."""
    parts = [
        cell + " " * max(0, width - text_width(cell))
        for cell, width in zip(cells[:-1], widths, strict=False)
    ]
    parts.extend(cells[len(parts) :])
    return (" " * _GAP).join(parts).rstrip()


def render_plain(grid: Grid) -> list[str]:
    """The grid as aligned plain text: a header, then one line per row, nothing cut."""
    header = [column.name for column in grid.columns]
    rows = [[plain_cell(cell) for cell in row] for row in grid.rows]
    widths = [max(text_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [plain_line(row, widths) for row in [header, *rows]]


def _terminal_cells(grid: Grid) -> list[list[Text]]:
    rows: list[list[Text]] = []
    for row in grid.rows:
        cells: list[Text] = []
        for column, cell in zip(grid.columns, row, strict=True):
            if column.clip and len(cell.plain) > _MAX_CELL:
                cell = cell[: _MAX_CELL - 1] + Text("…")
            cells.append(cell)
        rows.append(cells)
    return rows


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _measure(column: Column, values: Sequence[str]) -> tuple[int, int]:
    """The least and the full width of a column on a terminal (its header included)."""
    lines = [column.name, *(line for value in values for line in value.splitlines())]
    full = max(cell_len(line) for line in lines)
    if not column.wrap:
        return full, full
    words = max(_longest_word(line) for line in lines)
    return min(full, max(_longest_word(column.name), min(words, _MIN_FREE_TEXT))), full


def fit_widths(grid: Grid, rows: Sequence[Sequence[Text]], available: int) -> list[int]:
    """Column widths for a terminal ``available`` characters wide.

    Identifier columns get their full width. Free-text columns share what is left, each at
    least its longest word (or 20) and at most its longest value; the result is wider than
    ``available`` when the identifiers alone do not fit.
    """
    measured = [
        _measure(column, [row[index].plain for row in rows])
        for index, column in enumerate(grid.columns)
    ]
    least = [low for low, _ in measured]
    full = [high for _, high in measured]
    widths = list(least)
    spare = available - _GAP * (len(widths) - 1) - sum(widths)
    # Whole columns first, the cheapest first (a short `next` rather than a long message);
    # what is left goes a character at a time to the narrowest column that wants more.
    while spare > 0:
        wanting = [i for i, width in enumerate(widths) if width < full[i]]
        if not wanting:
            break
        cheapest = min(wanting, key=lambda i: full[i] - widths[i])
        if full[cheapest] - widths[cheapest] <= spare:
            spare -= full[cheapest] - widths[cheapest]
            widths[cheapest] = full[cheapest]
            continue
        narrowest = min(wanting, key=lambda i: widths[i])
        widths[narrowest] += 1
        spare -= 1
    return widths


def render_rich(grid: Grid, available: int) -> tuple[Table, int]:
    """The grid as a rich table fitted to ``available`` columns, and the width it needs."""
    rows = _terminal_cells(grid)
    widths = fit_widths(grid, rows, available)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column, width in zip(grid.columns, widths, strict=True):
        table.add_column(column.name, width=width, no_wrap=not column.wrap, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table, sum(widths) + _GAP * (len(widths) - 1)


def show(renderable: Grid | Text | str, *, terminal: bool | None = None) -> None:
    """Print a table or a line on stdout, for a terminal or for a pipe (see the module doc).

    Args:
        renderable: what to print.
        terminal: draw for a terminal (True) or a pipe (False); None asks stdout.
    """
    if terminal is None:
        terminal = stdout_is_terminal()
    if not terminal:
        if isinstance(renderable, Grid):
            for line in render_plain(renderable):
                click.echo(line)
        else:
            click.echo(renderable.plain if isinstance(renderable, Text) else renderable)
        return
    console = make_console()
    if isinstance(renderable, Grid):
        table, needed = render_rich(renderable, console.width)
        if needed > console.width:
            # Wider than the terminal rather than an identifier broken in two.
            console = make_console(needed)
        console.print(table)
    else:
        console.print(renderable)


# ----------------------------------------------------------------------------- values


def format_time(value: datetime | None) -> str:
    """``2026-03-04 08:00:00Z`` (UTC, seconds), or an empty string."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` (the form ``Event.to_dict`` uses), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """``value`` with datetimes (at any depth) turned into RFC 3339 strings."""
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON on one line (stable for diffs and tests)."""
    return json.dumps(jsonable(value), sort_keys=True, default=str)


def show_value(value: Any) -> str:
    """A rule value or sensor field as a table cell: JSON for data, ``-`` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, str):
        return value
    return json.dumps(jsonable(value), default=str)


def status_text(status: RunStatus) -> Text:
    """A run status, coloured by how it is doing."""
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


def run_status_label(run: Run) -> str:
    """The status as people read it: a dry run's passed gate is ``DRY_RUN``, not a success
    (no job ran; once dryRun is off the period runs for real)."""
    if run.is_dry_run_pass:
        return "DRY_RUN"
    return run.status.value


# ----------------------------------------------------------------------------- runs


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as JSON: every field of the record, camelCase keys, RFC 3339 times.

    A dry run's pass shows ``"status": "DRY_RUN"`` as in the table: a script (or adapter)
    waiting for ``SUCCEEDED`` must not take it for a delivered period.
    """
    document = run.model_dump(mode="python")
    document["status"] = run_status_label(run)
    return {to_camel(name): jsonable(value) for name, value in document.items()}


def next_action(run: Run) -> str:
    """``poll at 2026-03-04 08:05:00Z``, ``poll``, or an empty string."""
    if run.next_action is None:
        return ""
    if run.due_at is None:
        return run.next_action.value
    return f"{run.next_action.value} at {format_time(run.due_at)}"


def runs_table(runs: Sequence[Run]) -> Grid:
    """The ``interlock status`` table."""
    grid = Grid(
        (
            Column("pipeline"),
            Column("period"),
            Column("status"),
            Column("attempt"),
            Column("next", wrap=True),
            Column("job run id"),
            Column("updated"),
            Column("message", wrap=True, clip=True),
        )
    )
    for run in runs:
        grid.add_row(
            run.pipeline_id,
            run.period,
            Text(run_status_label(run), style=STATUS_STYLES.get(run.status, ""))
            if run.dry_run
            else status_text(run.status),
            str(run.attempt),
            next_action(run),
            run.job_run_id or run.owner or "",
            format_time(run.updated_at),
            run.message,
        )
    return grid


def run_line(run: Run, *, new_attempt: bool = False) -> str:
    """One line about a run: ``gold 2026-03-04: RUNNING (attempt 2) — message``.

    Args:
        run: the run.
        new_attempt: the run was just reopened: say ``(new attempt N)``.
    """
    attempt = f"new attempt {run.attempt}" if new_attempt else f"attempt {run.attempt}"
    text = f"{run.pipeline_id} {run.period}: {run_status_label(run)} ({attempt})"
    if run.owner:
        text += f", owner {run.owner}"
    if run.message:
        text += f" — {run.message}"
    return text


# ----------------------------------------------------------------------------- evaluate


def rule_to_dict(result: RuleResult, rule: Rule | None) -> dict[str, Any]:
    """One rule of an evaluation as JSON (``expected`` is the configured value)."""
    return {
        "key": result.key,
        "check": result.check,
        "field": result.field,
        "expected": jsonable(rule.value) if rule is not None else None,
        "actual": jsonable(result.actual),
        "passed": result.passed,
        "reason": result.reason,
    }


def readiness_to_dict(readiness: Readiness, rules: Sequence[Rule | None]) -> dict[str, Any]:
    """The ``interlock evaluate --json`` document."""
    return {
        "pipelineId": readiness.pipeline_id,
        "period": readiness.period,
        "ready": readiness.ready,
        "excluded": readiness.excluded,
        "rules": [
            rule_to_dict(result, rule)
            for result, rule in zip(readiness.evaluation.results, rules, strict=True)
        ],
        "run": run_to_dict(readiness.run) if readiness.run is not None else None,
    }


def rules_table(readiness: Readiness, rules: Sequence[Rule | None]) -> Grid:
    """The ``interlock evaluate`` rule table."""
    grid = Grid(
        (
            Column("rule"),
            Column("check"),
            Column("field"),
            Column("expected", wrap=True, clip=True),
            Column("actual", wrap=True, clip=True),
            Column("result"),
            Column("reason", wrap=True),
        )
    )
    for result, rule in zip(readiness.evaluation.results, rules, strict=True):
        grid.add_row(
            result.key,
            result.check,
            result.field or "-",
            show_value(rule.value if rule is not None else None),
            show_value(result.actual),
            Text("pass", style="green") if result.passed else Text("FAIL", style="red"),
            result.reason,
        )
    return grid


def readiness_header(readiness: Readiness) -> Text:
    """``gold-revenue 2026-03-04: READY (3 of 3 rules pass)``."""
    results = readiness.evaluation.results
    passing = sum(1 for result in results if result.passed)
    verdict = (
        Text("READY", style="bold green")
        if readiness.ready
        else Text("NOT READY", style="bold red")
    )
    return Text.assemble(
        f"{readiness.pipeline_id} {readiness.period}: ",
        verdict,
        f" ({passing} of 1 rule passes)"
        if len(results) == 1
        else f" ({passing} of {len(results)} rules pass)",
    )


def next_tick_line(pipeline_id: str, tick: Mapping[str, str]) -> str:
    """``next tick: 2026-03-05 08:00 Europe/Berlin (opens the run for 2026-03-04; ...)``."""
    return (
        f"next tick: {tick['local']} {tick['timezone']} (opens the run for {tick['period']}; "
        f"`interlock open {pipeline_id}` opens one now)"
    )


# ----------------------------------------------------------------------------- events


EVENT_COLUMNS = (
    Column("at"),
    Column("type"),
    Column("pipeline"),
    Column("period"),
    Column("attempt"),
    Column("message", wrap=True),
)


def events_table(events: Sequence[Event]) -> Grid:
    """The ``interlock events`` table."""
    grid = Grid(EVENT_COLUMNS)
    for event in events:
        grid.add_row(*event_cells(event))
    return grid


def event_cells(event: Event) -> tuple[str, str, str, str, str, str]:
    """The cells of one event row (also used by ``events --follow``)."""
    return (
        format_time(event.at),
        event.type.value,
        event.pipeline_id or "-",
        event.period or "-",
        "" if event.attempt is None else str(event.attempt),
        event.message,
    )


class EventStream:
    """The ``events`` table one row at a time, for ``events --follow``: the same columns
    and plain layout as ``events``, with widths fixed up front (a wider value widens its
    column from then on; nothing is ever cut).

    Args:
        pipeline_ids: the pipelines whose events may come (sizes the pipeline column).
        first: events already known, which size the columns too.
    """

    def __init__(self, pipeline_ids: Iterable[str], first: Sequence[Event] = ()) -> None:
        rows = [[plain_cell(cell) for cell in event_cells(event)] for event in first]
        self._widths = [
            len("2026-03-04 08:00:00Z"),
            max(len(kind.value) for kind in EventType),
            max([len("pipeline"), *(len(name) for name in pipeline_ids)]),
            len("2026-03-04T08"),
            len("attempt"),
        ]
        for row in rows:
            self._widen(row)

    def _widen(self, cells: Sequence[str]) -> None:
        for index, width in enumerate(self._widths):
            self._widths[index] = max(width, cell_len(cells[index]))

    def header(self) -> str:
        """The header line."""
        return plain_line([column.name for column in EVENT_COLUMNS], self._widths)

    def line(self, event: Event) -> str:
        """One event as a row."""
        cells = [plain_cell(cell) for cell in event_cells(event)]
        self._widen(cells)
        return plain_line(cells, self._widths)


# ----------------------------------------------------------------------------- apply, emit


def changes_table(changes: Sequence[ConfigChange]) -> Grid:
    """The ``interlock apply`` table of what happened to each pipeline."""
    grid = Grid((Column("pipeline"), Column("change"), Column("hash")))
    for change in sorted(changes, key=lambda c: c.pipeline_id):
        grid.add_row(
            change.pipeline_id,
            Text(change.action, style=ACTION_STYLES.get(change.action, "")),
            (change.hash or "")[:12],
        )
    return grid


def change_to_dict(change: ConfigChange) -> dict[str, Any]:
    """One applied change as JSON."""
    return {"pipelineId": change.pipeline_id, "action": change.action, "hash": change.hash}


def sensor_to_dict(pipeline_id: str, sensor: Sensor) -> dict[str, Any]:
    """A stored sensor as JSON."""
    return {
        "pipelineId": pipeline_id,
        "key": sensor.key,
        "version": sensor.version,
        "writtenAt": iso_time(sensor.written_at),
        "data": sensor.data,
    }
