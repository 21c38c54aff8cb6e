"""Subcommands that live outside the core, loaded only when used (``interlock aws ...``).

Packages register click commands under the entry-point group ``interlock.commands``
(``aws = "aws_runtime.cli:aws"`` in pyproject.toml). The core never imports them statically:
``interlock --help`` lists their names and loads one module only to show its one-line help or
to run it, and nothing here imports boto3.
"""

import importlib
from importlib.metadata import entry_points

import click

ENTRY_POINT_GROUP = "interlock.commands"
# Commands of this distribution, found even when its entry-point metadata is stale (an
# editable install made before the entry point existed).
BUILTIN = {"aws": "aws_runtime.cli:aws"}


def plugin_targets() -> dict[str, str]:
    """Command name -> ``module:attribute`` of every registered plugin command."""
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


def _unavailable(name: str, why: str) -> click.Command:
    def explain() -> None:
        raise click.ClickException(f"interlock {name} {why}")

    return click.Command(
        name,
        callback=explain,
        help=f"(unavailable: {why})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
