"""Subcommands that live outside the core, loaded only when used (``interlock aws ...``).

Packages register click commands under the entry-point group ``interlock.commands``
(``aws = "aws_runtime.cli:aws"`` in pyproject.toml). The core never imports them statically:
``interlock --help`` lists their names and loads one module only to show its one-line help or
to run it, and nothing here imports boto3.
"""

import importlib
import importlib.util

import click

ENTRY_POINT_GROUP = "interlock.commands"
# Commands of this distribution, found even when its entry-point metadata is stale (an
# editable install made before the entry point existed).
BUILTIN = {"aws": "aws_runtime.cli:aws"}
# Their one-line help, so ``interlock --help`` lists them without importing them (importing
# ``aws_runtime.cli`` costs pydantic and the DynamoDB store). A test keeps each line equal to
# the command's own.
BUILTIN_SHORT_HELP = {
    "aws": "Set up and deploy the AWS runtime (DynamoDB, Lambda, Step Functions).",
}


def plugin_targets() -> dict[str, str]:
    """Command name -> ``module:attribute`` of every registered plugin command."""
    # Imported here: scanning installed distributions costs ~20 ms, and a built-in command
    # such as ``interlock emit`` never needs it (only --help and unknown commands do).
    from importlib.metadata import entry_points

    targets = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        targets[entry.name] = entry.value
    return targets


def load_plugin(name: str) -> click.Command | None:
    """Import and return the plugin command ``name``, or None when there is none.

    A plugin whose module cannot be imported becomes a command that explains why, so
    ``interlock aws`` without the AWS extra says what to install instead of "no such command".
    """
    target = plugin_targets().get(name)
    if target is None:
        return None
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        return _unavailable(name, f"needs {missing!r}: pip install 'interlock[{name}]'")
    command = getattr(module, attribute, None)
    if not isinstance(command, click.Command):
        return _unavailable(name, f"{target} is not a click command")
    return command


def listing_command(name: str) -> click.Command | None:
    """A stand-in for a built-in plugin command, carrying only its one-line help, for
    ``interlock --help``; None when the command must be loaded to be described (not ours,
    or its module is not installed, whose listing says what to install)."""
    help_text = BUILTIN_SHORT_HELP.get(name)
    target = plugin_targets().get(name)
    if help_text is None or target is None or target != BUILTIN.get(name):
        return None
    if importlib.util.find_spec(target.partition(":")[0].partition(".")[0]) is None:
        return None
    return click.Command(name, help=help_text)


def _unavailable(name: str, why: str) -> click.Command:
    def explain() -> None:
        raise click.ClickException(f"interlock {name} {why}")

    return click.Command(
        name,
        callback=explain,
        help=f"(unavailable: {why})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
