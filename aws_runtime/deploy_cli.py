"""``interlock aws package | deploy | apply``: build, deploy and configure the AWS runtime.

Registered on the ``aws`` group of :mod:`aws_runtime.cli` by :func:`register`. Errors are one
``error: ...`` line each (exit 1), never a traceback.
"""

import os
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from aws_runtime import deploy as deployer
from aws_runtime.packaging import ARCHITECTURES, PYTHON_VERSIONS, PackageError, build_bundle
from interlock_core.config import ConfigError, PipelineSet

RUNTIME_PREFIX = "python"


def _fail(message: str) -> NoReturn:
    for line in message.splitlines():
        click.echo(f"error: {line}", err=True)
    raise SystemExit(1)


def _echo(text: str) -> None:
    click.echo(text)


def _store_url(ctx: click.Context, value: str | None) -> str:
    if value:
        return value
    url = str(getattr(ctx.find_root().obj, "store", None) or os.environ.get("INTERLOCK_STORE", ""))
    if not url.startswith("dynamodb://"):
        raise click.UsageError(
            "name the deployment with --stack-name, or its tables with --store "
            f"dynamodb://CONTROL?events=EVENTS&region=R; got {url or 'nothing'!r}"
        )
    return url


@click.command("package")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--arch", type=click.Choice(sorted(ARCHITECTURES)), default="arm64", show_default=True
)
@click.option(
    "--python", "python", type=click.Choice(PYTHON_VERSIONS), default="3.12", show_default=True
)
@click.option(
    "--wheels",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Install dependencies from this directory of wheels, offline (pip --find-links).",
)
def package_command(out: Path, arch: str, python: str, wheels: Path | None) -> None:
    """Build the Lambda bundle (code + dependencies for Lambda's platform), reproducibly."""
    started = time.monotonic()
    try:
        bundle = build_bundle(out, arch=arch, python=python, wheels=wheels)
    except PackageError as exc:
        _fail(str(exc))
    click.echo(
        f"wrote {bundle.path} ({bundle.size / 1e6:.1f} MB, {bundle.files} files, "
        f"{arch}, Python {python}) in {time.monotonic() - started:.1f} s"
    )


@click.command("deploy")
@click.option("--stack-name", required=True, help="The CloudFormation stack to create or update.")
@click.option("--bucket", required=True, help="S3 bucket for the bundle and the template.")
@click.option(
    "--package",
    "package_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A bundle from `interlock aws package` (default: build one now).",
)
@click.option(
    "--pipelines",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Apply this pipelines directory once the stack is up.",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="A template parameter (repeatable), e.g. GlueJobArns=ARN1,ARN2; an update keeps "
    "the previous value of every parameter not given.",
)
@click.option("--region", help="AWS region (default: the AWS configuration's).")
def deploy_command(
    stack_name: str,
    bucket: str,
    package_path: Path | None,
    pipelines: Path | None,
    parameters: tuple[str, ...],
    region: str | None,
) -> None:
    """Upload the bundle, create or update the stack, then apply --pipelines."""
    started = time.monotonic()
    try:
        values = deployer.parse_parameters(parameters)
        # Validate the pipelines before touching AWS: nothing is deployed on a bad file.
        pipeline_set = deployer.load_checked(pipelines) if pipelines else None
        bundle = _bundle_bytes(package_path, values)
        cfn = deployer.client("cloudformation", region)
        s3 = deployer.client("s3", region)
        region_name = region or cfn.meta.region_name
        stack_outputs = deployer.deploy_stack(
            cfn,
            s3,
            stack_name=stack_name,
            bucket=bucket,
            bundle=bundle,
            parameters=values,
            region=region_name,
            echo=_echo,
        )
        click.echo(f"deployed in {time.monotonic() - started:.1f} s")
        if pipeline_set is not None:
            _apply(pipeline_set, stack_outputs["StoreUrl"], stack_outputs, region)
    except (deployer.DeployError, PackageError) as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail("\n".join(str(issue) for issue in exc.issues) + "\nnothing was deployed")
    store = stack_outputs["StoreUrl"]
    click.echo(f"StoreUrl: {store}")
    click.echo("Use it with every interlock command, e.g.:")
    click.echo(f"  export INTERLOCK_STORE='{store}'")
    click.echo('  interlock status    # or: interlock --store "$INTERLOCK_STORE" events')
    click.echo(f"  interlock aws apply PIPELINES_DIR --stack-name {stack_name}")


def _bundle_bytes(package_path: Path | None, values: dict[str, str]) -> bytes:
    if package_path is not None:
        return package_path.read_bytes()
    defaults = deployer.template_parameters()
    arch = values.get("Architecture", str(defaults["Architecture"]["Default"]))
    runtime = values.get("PythonRuntime", str(defaults["PythonRuntime"]["Default"]))
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"interlock-bundle-{os.getpid()}.zip"  # noqa: S108
    try:
        bundle = build_bundle(out, arch=arch, python=runtime.removeprefix(RUNTIME_PREFIX))
        click.echo(f"built {bundle.path.name} ({bundle.size / 1e6:.1f} MB)")
        return out.read_bytes()
    finally:
        out.unlink(missing_ok=True)


@click.command("apply")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="The stack's StoreUrl (default: --store of interlock).",
)
@click.option("--stack-name", help="Read the StoreUrl and scheduler settings from this stack.")
@click.option("--region", help="AWS region (default: the AWS configuration's).")
@click.pass_context
def apply_command(
    ctx: click.Context,
    directory: Path,
    store_url: str | None,
    stack_name: str | None,
    region: str | None,
) -> None:
    """Validate every file, write the configs, reconcile one cron schedule per cron pipeline.

    Nothing is written when any file is invalid.
    """
    try:
        pipeline_set = deployer.load_checked(directory)
        cfn = deployer.client("cloudformation", region)
        if stack_name:
            values = deployer.outputs(cfn, stack_name)
            url = store_url or values.get("StoreUrl", "")
        else:
            url = _store_url(ctx, store_url)
            values = deployer.find_stack_by_store(cfn, url)
        _apply(pipeline_set, url, values, region)
    except deployer.DeployError as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail("\n".join(str(issue) for issue in exc.issues) + "\nnothing was applied")
    except ValueError as exc:
        _fail(f"{exc}; nothing was applied")


def _apply(
    pipeline_set: PipelineSet, store_url: str, values: dict[str, str], region: str | None
) -> None:
    deployment = deployer.deployment_of(values)
    scheduler = deployer.client("scheduler", region)
    result, schedules = deployer.apply_pipelines(pipeline_set, store_url, deployment, scheduler)
    for change in sorted(result.changes, key=lambda c: c.pipeline_id):
        click.echo(f"pipeline {change.pipeline_id}: {change.action}")
    for schedule in schedules:
        where = f" {schedule.expression} {schedule.timezone}" if schedule.expression else ""
        click.echo(f"schedule {schedule.name}: {schedule.action}{where}")
    counts: dict[str, int] = {}
    for item in [*result.changes, *schedules]:
        counts[item.action] = counts.get(item.action, 0) + 1
    click.echo(", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no changes")


def register(group: Any) -> None:
    """Add ``package``, ``deploy`` and ``apply`` to the ``aws`` group."""
    for command in (package_command, deploy_command, apply_command):
        group.add_command(command)
