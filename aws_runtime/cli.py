"""``interlock aws ...``: the AWS runtime's set-up commands.

Loaded by the core CLI only when ``interlock aws`` is used (entry point
``interlock.commands: aws``). Nothing here imports boto3 at module level, so listing the
command costs no AWS import; without boto3, every ``aws`` command says what to install.
"""

import importlib.util
import json

import click

from interlock_core.storage.dynamodb import create_tables, default_client, parse_url

INSTALL_HINT = "the AWS commands need boto3: pip install 'interlock[aws]'"


def _store_url(ctx: click.Context, value: str | None) -> str:
    """The ``--store`` of the command, else the one given to ``interlock`` itself."""
    if value:
        return value
    parent = ctx.find_root()
    settings = parent.obj
    url = getattr(settings, "store", None) or ""
    if not url.startswith("dynamodb://"):
        raise click.UsageError(
            "name the tables with --store dynamodb://CONTROL?events=EVENTS&region=R "
            f"(or INTERLOCK_STORE); got {url or 'nothing'!r}"
        )
    return url


@click.group(name="aws", invoke_without_command=True)
@click.pass_context
def aws(ctx: click.Context) -> None:
    """Set up and deploy the AWS runtime (DynamoDB, Lambda, Step Functions)."""
    if importlib.util.find_spec("boto3") is None:
        raise click.ClickException(INSTALL_HINT)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@aws.command(name="create-tables")
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="dynamodb://CONTROL?events=EVENTS&region=R[&endpoint=URL] (default: the group's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def create_tables_command(ctx: click.Context, store_url: str | None, as_json: bool) -> None:
    """Create the control and events tables (stream, indexes, TTL); idempotent.

    For DynamoDB Local, moto or a development account; deployed stacks create their own.
    """
    url = _store_url(ctx, store_url)
    try:
        options = parse_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    client = default_client(options["region"], options["endpoint"])
    result = create_tables(client, options["control_table"], options["events_table"])
    if as_json:
        click.echo(json.dumps({"store": url, "tables": result}, sort_keys=True))
        return
    for table, action in result.items():
        click.echo(f"{table}: {action}")


# The deployment commands (package, deploy, apply) live in their own module.
from aws_runtime.deploy_cli import register as _register_deploy_commands  # noqa: E402

_register_deploy_commands(aws)
