"""``interlock open``: open gated runs by hand (DESIGN.md §10).

Registered on the ``interlock`` group by ``interlock_core.cli``.
"""

from typing import TYPE_CHECKING, Any

import click

from interlock_core.cli import (
    CliUsageError,
    _engine,
    check_period,
    json_option,
    pipelines_option,
    store_option,
)
from interlock_core.lazy import lazy_module

# Imported when the command runs, not when ``interlock --help`` lists it (issue 13).
if TYPE_CHECKING:
    from interlock_core import cli_format as fmt
    from interlock_core.opening import OpenResult
    from interlock_core.runs import Run
else:
    fmt = lazy_module("interlock_core.cli_format")


@click.command("open")
@click.argument("pipeline")
@click.argument("period", required=False, callback=check_period)
@click.option("--from", "first", callback=check_period, metavar="P", help="First period.")
@click.option("--to", "last", callback=check_period, metavar="P", help="Last period (inclusive).")
@json_option
@store_option
@pipelines_option
@click.pass_context
def open_command(
    ctx: click.Context,
    pipeline: str,
    period: str | None,
    first: str | None,
    last: str | None,
    as_json: bool,
) -> None:
    """Open gated runs for PERIOD, or for every period from --from to --to.

    For catch-up after downtime, a backfill, or running today's period before its tick. Each
    run opens WAITING and starts its job only when its gate passes (`interlock run` evaluates
    it). Without PERIOD: the period the next tick would open, once it has begun, else the
    current one. Excluded periods are skipped, future periods refused, existing runs left
    alone. Exit 0; 1 when refused (a future period, an unknown pipeline: nothing is opened);
    2 on bad usage.
    """
    if period is not None and (first is not None or last is not None):
        raise CliUsageError("give either PERIOD or --from/--to, not both")
    if (first is None) != (last is None):
        raise CliUsageError("give both --from and --to (the range is inclusive)")
    engine = _engine(ctx)
    result = engine.open_runs(pipeline, period, first=first, last=last)
    if as_json:
        click.echo(fmt.dumps(open_result_to_dict(result)))
        return
    for line in open_result_lines(result):
        click.echo(line)


def _existing_line(run: "Run") -> str:
    line = f"exists {run.period}: {run.status.value} (attempt {run.attempt}), left alone"
    if run.is_terminal:
        line += f" (`interlock rerun {run.pipeline_id} {run.period}` reopens it)"
    return line


def open_result_to_dict(result: "OpenResult") -> dict[str, Any]:
    """The ``interlock open --json`` document."""
    return {
        "pipelineId": result.pipeline_id,
        "opened": [fmt.run_to_dict(run) for run in result.opened],
        "existing": [fmt.run_to_dict(run) for run in result.existing],
        "excluded": [{"period": s.period, "reason": s.reason} for s in result.excluded],
        "unscheduled": [{"period": s.period, "reason": s.reason} for s in result.unscheduled],
    }


def open_result_lines(result: "OpenResult") -> list[str]:
    """One line per period, then a summary."""
    lines = [f"opened {run.period}: WAITING for its gate" for run in result.opened]
    lines += [_existing_line(run) for run in result.existing]
    lines += [f"skipped {s.period}: excluded ({s.reason})" for s in result.excluded]
    lines += [f"skipped {s.period}: {s.reason}" for s in result.unscheduled]
    counts = [
        f"{len(result.opened)} opened",
        f"{len(result.existing)} already had a run",
        f"{len(result.excluded) + len(result.unscheduled)} skipped",
    ]
    lines.append(f"{result.pipeline_id}: " + ", ".join(counts))
    if result.opened:
        lines.append(
            "each submits its job once its gate passes, while `interlock run` is running "
            f"(see `interlock status {result.pipeline_id}`)"
        )
    return lines
