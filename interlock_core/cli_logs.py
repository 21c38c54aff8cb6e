"""``interlock logs``: a command job's output, or where a remote job can be read (DESIGN.md §10).

Registered on the ``interlock`` group by ``interlock_core.cli``.
"""

import codecs
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interlock_core.cli import (
    CliError,
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
    from interlock_core.engine import Interlock
    from interlock_core.job_logs import JobLocation
else:
    fmt = lazy_module("interlock_core.cli_format")

FOLLOW_INTERVAL_SECONDS = 0.25
READ_CHUNK = 64 * 1024


@click.command("logs")
@click.argument("pipeline")
@click.argument("period", callback=check_period)
@click.option(
    "--attempt", type=click.IntRange(min=1), help="Which attempt (default: the current one)."
)
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing a command job's output until it ends."
)
@json_option
@store_option
@pipelines_option
@click.pass_context
def logs_command(
    ctx: click.Context,
    pipeline: str,
    period: str,
    attempt: int | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Show the output of a run's command job, or the run id and link of a remote job.

    A command job's output is read from this machine (the controller that ran it keeps it).
    For airflow, databricks and the AWS job types: the job's id in its service and a link to
    its page (the Airflow UI, the Databricks run, the AWS console). Exit 1 when the attempt
    has no job or its output is not here.
    """
    engine = _engine(ctx, read_only=True)
    from interlock_core.job_logs import locate_job

    location = locate_job(engine, pipeline, period, attempt)
    if as_json:
        click.echo(fmt.dumps(location.to_dict()))
        return
    if location.job_type != "command":
        for line in remote_lines(location):
            click.echo(line)
        return
    log_file = location.log_file
    if log_file is None or not log_file.is_file():
        raise CliError(
            f"no output of {location.job_type} job {location.run_id} here "
            f"({log_file or 'no log file recorded'}): the controller that ran it keeps it on "
            "its machine"
        )
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = _copy(log_file, 0, decoder)
    if follow:
        _follow(engine, location, log_file, offset, decoder)
    click.echo(decoder.decode(b"", final=True), nl=False)


def remote_lines(location: "JobLocation") -> list[str]:
    """What ``logs`` prints for a job that runs elsewhere."""
    lines = [
        f"{location.pipeline_id} {location.period} attempt {location.attempt}: "
        f"{location.job_type} job {location.run_id}"
    ]
    lines += [f"{label}: {url}" for label, url in location.links]
    lines += location.notes
    return lines


def _copy(log_file: Path, offset: int, decoder: codecs.IncrementalDecoder) -> int:
    """Write the file's bytes from ``offset`` to stdout; returns the new offset (a character
    cut at the end of what is written so far waits in ``decoder`` for its other bytes)."""
    with log_file.open("rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(READ_CHUNK):
            click.echo(decoder.decode(chunk), nl=False)
            offset += len(chunk)
    return offset


def _follow(
    engine: "Interlock",
    location: "JobLocation",
    log_file: Path,
    offset: int,
    decoder: codecs.IncrementalDecoder,
) -> None:
    """Print what the job appends until it ends (then what is left), or until Ctrl-C."""
    from interlock_core.job_logs import command_job_finished

    try:
        while True:
            finished = command_job_finished(engine, location)
            offset = _copy(log_file, offset, decoder)
            if finished:
                return
            _pause(FOLLOW_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        sys.stdout.flush()


def _pause(seconds: float) -> None:
    """Sleep between reads of ``logs --follow`` (a seam for tests)."""
    time.sleep(seconds)
