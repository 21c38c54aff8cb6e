"""Renderers for the ``interlock`` command: rich tables for people, plain dicts for ``--json``.

Nothing here touches the store or the engine; every function turns a result the engine
returned into text or into a JSON-ready dict, so the command functions in ``cli`` stay thin
and the output can be tested without a store.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic.alias_generators import to_camel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from interlock_core.config.models import Rule
from interlock_core.engine import Readiness
from interlock_core.events import Event
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

# Long messages would make a table unreadable; the full text is in --json.
_MAX_CELL = 80


def make_console() -> Console:
    """A console on the current stdout (created per call, so test runners can capture it).

    Rich drops colour by itself when stdout is not a terminal and honours ``NO_COLOR`` and
    ``COLUMNS``.
    """
    return Console(highlight=False, soft_wrap=False)


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


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def status_text(status: RunStatus) -> Text:
    """A run status, coloured by how it is doing."""
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


# ----------------------------------------------------------------------------- runs


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as JSON: every field of the record, camelCase keys, RFC 3339 times."""
    document = run.model_dump(mode="python")
    return {to_camel(name): jsonable(value) for name, value in document.items()}


def next_action(run: Run) -> str:
    """``poll at 2026-03-04 08:05:00Z``, ``poll``, or an empty string."""
    if run.next_action is None:
        return ""
    if run.due_at is None:
        return run.next_action.value
    return f"{run.next_action.value} at {format_time(run.due_at)}"


# Identifiers stay whole; free text (messages, reasons) takes the wrapping.
_NO_WRAP = frozenset(
    {"pipeline", "period", "status", "attempt", "type", "at", "rule", "check", "result"}
)


def _column(table: Table, name: str) -> None:
    table.add_column(name, overflow="fold", no_wrap=name in _NO_WRAP)


def runs_table(runs: Sequence[Run]) -> Table:
    """The ``interlock status`` table."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in (
        "pipeline",
        "period",
        "status",
        "attempt",
        "next",
        "job run id",
        "updated",
        "message",
    ):
        _column(table, column)
    for run in runs:
        table.add_row(
            run.pipeline_id,
            run.period,
            status_text(run.status),
            str(run.attempt),
            next_action(run),
            run.job_run_id or run.owner or "",
            format_time(run.updated_at),
            _clip(run.message),
        )
    return table


def run_line(run: Run) -> str:
    """One line about a run: ``gold 2026-03-04: RUNNING (attempt 2) — message``."""
    text = f"{run.pipeline_id} {run.period}: {run.status.value} (attempt {run.attempt})"
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


def rules_table(readiness: Readiness, rules: Sequence[Rule | None]) -> Table:
    """The ``interlock evaluate`` rule table."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("rule", "check", "field", "expected", "actual", "result", "reason"):
        _column(table, column)
    for result, rule in zip(readiness.evaluation.results, rules, strict=True):
        table.add_row(
            result.key,
            result.check,
            result.field or "-",
            _clip(show_value(rule.value if rule is not None else None)),
            _clip(show_value(result.actual)),
            Text("pass", style="green") if result.passed else Text("FAIL", style="red"),
            result.reason,
        )
    return table


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
        f" ({passing} of {len(results)} rules pass)",
    )


# ----------------------------------------------------------------------------- events


def events_table(events: Sequence[Event]) -> Table:
    """The ``interlock events`` table."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("at", "type", "pipeline", "period", "attempt", "message"):
        _column(table, column)
    for event in events:
        table.add_row(*event_cells(event))
    return table


def event_cells(event: Event) -> tuple[str, str, str, str, str, str]:
    """The cells of one event row (also used, tab-joined, by ``events --follow``)."""
    return (
        format_time(event.at),
        event.type.value,
        event.pipeline_id or "-",
        event.period or "-",
        "" if event.attempt is None else str(event.attempt),
        event.message,
    )


# ----------------------------------------------------------------------------- apply, emit


def changes_table(changes: Sequence[ConfigChange]) -> Table:
    """The ``interlock apply`` table of what happened to each pipeline."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("pipeline", "change", "hash"):
        table.add_column(column)
    for change in sorted(changes, key=lambda c: c.pipeline_id):
        table.add_row(
            change.pipeline_id,
            Text(change.action, style=ACTION_STYLES.get(change.action, "")),
            (change.hash or "")[:12],
        )
    return table


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
