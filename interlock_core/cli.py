"""The ``interlock`` command (DESIGN.md §10).

``main`` is a click group; every command is a subcommand of it. The group turns a
:class:`ConfigError` raised by any command into its messages and exit status 1, and any other
unexpected exception into one line and exit status 1, so a user never sees a traceback
unless ``--debug`` is given.
"""

from pathlib import Path
from typing import Any

import click

from interlock_core.config import ConfigError, PipelineSet, load_pipeline_files, load_pipelines


class InterlockGroup(click.Group):
    """A click group that reports errors as messages, not tracebacks (unless ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating unexpected exceptions into an exit status of 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ConfigError as exc:
            if ctx.params.get("debug"):
                raise
            for issue in exc.issues:
                click.echo(f"error: {issue}", err=True)
            ctx.exit(1)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(
                f"error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True
            )
            ctx.exit(1)


@click.group(cls=InterlockGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Interlock: run data pipelines only when their preconditions are met."""
    ctx.ensure_object(dict)["debug"] = debug


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check pipeline files and directories of pipeline files.

    Every error is printed as FILE:LINE: FIELD: MESSAGE. Exit status 0 when everything loads
    (warnings included), 1 on any error.
    """
    results: list[PipelineSet] = []
    files = [path for path in paths if not path.is_dir()]
    for path in paths:
        if path.is_dir():
            try:
                results.append(load_pipelines(path))
            except ConfigError as exc:
                results.append(PipelineSet(errors=[exc]))
    if files:
        results.append(load_pipeline_files(files))
    valid = sum(len(result.pipelines) for result in results)
    bad_files = sum(len(result.errors) for result in results)
    issues = 0
    for result in results:
        for warning in result.warnings:
            click.echo(f"warning: {warning}")
        for error in result.errors:
            for issue in error.issues:
                issues += 1
                click.echo(str(issue))
        for pipeline_id, source in sorted(result.sources.items()):
            click.echo(f"ok: {source} ({pipeline_id})")
    if bad_files:
        click.echo(
            f"{_plural(issues, 'error')} in {_plural(bad_files, 'file')}; "
            f"{_plural(valid, 'pipeline')} valid"
        )
        ctx.exit(1)
    click.echo(f"{_plural(valid, 'pipeline')} valid")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
