"""The ``interlock`` command (DESIGN.md §10).

``main`` is a click group; every command is a subcommand of it and only translates between
the command line and the engine (``interlock_core.engine.Interlock``): no readiness logic
lives here. The group turns every error a command raises into one ``error: ...`` line on
stderr and a non-zero exit status, so a user never sees a traceback unless ``--debug`` is
given.

Exit statuses: 0 success; 1 an error or a refusal (``evaluate``: not ready); 2 a usage error:
a bad option or argument (an unknown ``--type``, a malformed ``--period``, ``--since``,
``--at`` or ``--data``, ...) — and for ``evaluate`` any error, so that 1 keeps meaning "not
ready". Refusals (``claim``, ``report``, ``rerun``, ``resolve``) print ``error: REASON`` on
stderr like every other error.

Read-only commands (``status``, ``events``, ``evaluate``) never create a store: a missing
SQLite file is an error (a wrong ``--store`` or working directory), unless ``--pipelines``
is given, whose apply writes the store.
"""

import atexit
import dataclasses
import difflib
import gc
import importlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from interlock_core import cli_plugins
from interlock_core.config.durations import parse_duration
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.events import Event, EventType
from interlock_core.lazy import lazy_module
from interlock_core.redaction import printable

# Start-up (issue 13): ``interlock --help`` imports neither pydantic, rich, the engine nor the
# loader; each command imports what it uses in its body (or through ``fmt`` on first use).
if TYPE_CHECKING:
    from rich.text import Text

    from interlock_core import cli_format as fmt
    from interlock_core.config.loader import PipelineSet
    from interlock_core.config.models import Rule
    from interlock_core.engine import Interlock
    from interlock_core.runs import Run
else:
    fmt = lazy_module("interlock_core.cli_format")

DEFAULT_STORE = "sqlite:///./interlock.db"
# ``ctx.meta`` key: the exit status a command's errors get (``evaluate`` uses 2, not 1).
ERROR_EXIT_KEY = "interlock.error_exit"
# ``ctx.meta`` key: set while ``--help`` lists the commands.
LISTING_KEY = "interlock.listing"
# 128 + SIGPIPE: what the shell reports for a tool whose reader closed the pipe.
BROKEN_PIPE_EXIT = 141
FOLLOW_INTERVAL_SECONDS = 0.75
FOLLOW_PAGE = 1000
DEFAULT_EVENT_LIMIT = 100
DEFAULT_STATUS_LIMIT = 50
PIPELINE_SUFFIXES = (".yaml", ".yml")
# The runtime settings file (alert routing); see interlock_core.alerts.routing, which is
# imported only when a settings file is checked (it pulls in the alert channels).
SETTINGS_FILE = "interlock.yaml"


class NoStoreError(Exception):
    """A read-only command found no store where ``--store`` points (exit 1; evaluate 2)."""


# Errors whose message is enough for the user; anything else also names its type. Named by
# module, so reporting an error never imports the engine: an instance of one of these classes
# exists only once its module was imported.
EXPECTED_ERRORS = (
    ("interlock_core.engine", "InterlockError"),
    ("interlock_core.lifecycle", "ClaimRefused"),
    ("interlock_core.storage.base", "StoreError"),
)


def is_expected_error(exc: Exception) -> bool:
    """Whether ``exc``'s message is enough for the user (no type name, no --debug hint)."""
    # ValueError also covers SensorError, json.JSONDecodeError and bad periods.
    if isinstance(exc, NoStoreError | ValueError):
        return True
    for module_name, name in EXPECTED_ERRORS:
        error_class = getattr(sys.modules.get(module_name), name, None)
        if isinstance(error_class, type) and isinstance(exc, error_class):
            return True
    return False


F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """An error a command reports itself; shown as one ``error:`` line, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: MESSAGE`` on stderr."""
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class CliUsageError(click.UsageError):
    """A bad argument that click cannot check by itself; one ``error:`` line, exit status 2."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: MESSAGE`` on stderr."""
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@dataclasses.dataclass
class Settings:
    """What the group options decide, shared by every subcommand through ``ctx.obj``."""

    store: str = DEFAULT_STORE
    pipelines: Path | None = None
    debug: bool = False
    engine: "Interlock | None" = None
    # The SQLite file this command created because none existed (a mistyped --store?).
    new_store: Path | None = None


class InterlockGroup(click.Group):
    """A click group that reports errors as one line, not tracebacks (unless ``--debug``).

    Commands from other packages (``interlock.commands`` entry points, e.g. ``aws``) are
    imported only when listed in help or invoked (see :mod:`interlock_core.cli_plugins`).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands and plugin commands, sorted."""
        return sorted({*super().list_commands(ctx), *cli_plugins.plugin_targets()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command, else a plugin command loaded now (while help lists the
        commands, a built-in plugin's stand-in that carries only its one-line help)."""
        command = super().get_command(ctx, cmd_name)
        if command is None and ctx.meta.get(LISTING_KEY):
            command = cli_plugins.listing_command(cmd_name)
        return command or cli_plugins.load_plugin(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help``, without importing plugin commands of ours."""
        ctx.meta[LISTING_KEY] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta.pop(LISTING_KEY, None)

    def main(self, args: Sequence[str] | None = None, *more: Any, **options: Any) -> Any:
        """Run as the ``interlock`` process (``args`` None: the process's own command line),
        or for a caller that passes ``args`` (tests, scripts), exactly as click does."""
        if args is None:
            # Only when this process is the command (console script, ``python -m``), never
            # for a library or test caller: see exit_without_final_collection.
            atexit.register(exit_without_final_collection)
        return super().main(args, *more, **options)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating its exceptions into messages and an exit status."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            _reader_went_away(ctx)
        except Exception as exc:
            _report_error(ctx, exc)


def exit_without_final_collection() -> None:
    """Let the interpreter exit without one last garbage collection over every object.

    At exit CPython collects garbage once more over everything still alive — for ``interlock
    emit`` that is pydantic's schemas and every module imported, ~18 ms of a ~200 ms command
    (issue 13, bench/bench_startup.py) — only to have the process end anyway. Registered with
    :mod:`atexit` as the command starts, it runs after every handler the command registers;
    those registered on import (``logging.shutdown`` flushing the log handlers) run after it,
    unaffected: ``gc.freeze`` only moves the live objects out of the cycle collector's sight.
    Objects are still freed by reference counting as the interpreter tears down; what is
    skipped is only the cycle search, whose finalizers CPython does not promise to run at exit.
    The store is closed by the command itself.
    """
    gc.freeze()


def _reader_went_away(ctx: click.Context) -> NoReturn:
    """``interlock events | head``: stop quietly, as a Unix tool killed by SIGPIPE would."""
    # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    ctx.exit(BROKEN_PIPE_EXIT)


def _report_error(ctx: click.Context, exc: Exception) -> NoReturn:
    code = int(ctx.meta.get(ERROR_EXIT_KEY, 1))
    debug = bool(ctx.params.get("debug"))
    if debug:
        click.echo(traceback.format_exc(), err=True, nl=False)
    if isinstance(exc, ConfigError):
        for issue in exc.issues:
            click.echo(f"error: {issue}", err=True)
    elif is_expected_error(exc):
        message = _one_line(str(exc) or type(exc).__name__)
        new_store = _settings(ctx).new_store
        if new_store is not None and message.startswith("unknown pipeline"):
            message += f" (no store existed at {new_store}: is --store / INTERLOCK_STORE right?)"
        click.echo(f"error: {message}", err=True)
    else:
        hint = "" if debug else " (run with --debug for details)"
        click.echo(f"error: {type(exc).__name__}: {_one_line(str(exc))}{hint}", err=True)
    ctx.exit(code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- options


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    if settings is None:  # a subcommand invoked without the group (library use)
        settings = ctx.ensure_object(Settings)
    return settings


def _override_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _settings(ctx).store = value


def _override_pipelines(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        _settings(ctx).pipelines = value


def store_option(function: F) -> F:
    """``--store`` on a subcommand too, so it may follow the command name."""
    return click.option(
        "--store",
        metavar="URL",
        expose_value=False,
        callback=_override_store,
        help="Store URL (overrides the group option).",
    )(function)


def pipelines_option(function: F) -> F:
    """``--pipelines`` on a subcommand too, so it may follow the command name."""
    return click.option(
        "--pipelines",
        metavar="DIR",
        type=click.Path(path_type=Path, file_okay=False),
        expose_value=False,
        callback=_override_pipelines,
        help="Pipelines directory to apply first (overrides the group option).",
    )(function)


def json_option(function: F) -> F:
    """``--json``: machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        function
    )


# ----------------------------------------------------------------------------- the engine


def _engine(ctx: click.Context, *, auto_apply: bool = True, read_only: bool = False) -> "Interlock":
    """The engine for this invocation, built once; applies ``--pipelines`` first if given.

    Args:
        ctx: the command's context.
        auto_apply: apply ``--pipelines`` (when given) before anything else.
        read_only: the command only reads: refuse to create a missing SQLite store (unless
            the ``--pipelines`` apply is about to write it).
    """
    settings = _settings(ctx)
    if settings.engine is None:
        pipeline_set = None
        if auto_apply and settings.pipelines is not None:
            pipeline_set = _load_for_auto_apply(settings.pipelines)
        if read_only and pipeline_set is None:
            _require_store(settings.store)
        new_file = _new_sqlite_file(settings.store)
        engine = _build_engine(settings.store, settings.pipelines)
        settings.engine = engine
        root = ctx.find_root()
        if new_file is not None:
            settings.new_store = new_file[0]
            # Registered first, so it runs after the close below (the stack is LIFO).
            root.call_on_close(lambda: _remove_if_unused(*new_file))
        root.call_on_close(engine.store.close)
        if read_only and pipeline_set is None and not engine.store.is_initialized():
            from interlock_core.storage.redact import redact_url

            # A database without Interlock's schema (PostgreSQL): say so, and write nothing.
            raise NoStoreError(
                f"no Interlock store in {redact_url(settings.store)} yet (apply pipelines with "
                "`interlock apply DIR` or start `interlock run` first, or point --store / "
                "INTERLOCK_STORE at a store)"
            )
        if pipeline_set is not None:
            _auto_apply(engine, pipeline_set)
    return settings.engine


def sqlite_file(url: str) -> Path | None:
    """The database file a ``sqlite:///`` URL names; None for other stores and for URLs
    that ``open_store`` refuses (it reports those itself)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :].partition("?")[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def _new_sqlite_file(url: str) -> tuple[Path, list[Path]] | None:
    """The SQLite file this command would create, with the folders it would create for it
    (innermost first); None when the file exists or the store is not a SQLite file."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    path = Path(os.path.abspath(path))
    folders: list[Path] = []
    parent = path.parent
    while not parent.exists():
        folders.append(parent)
        parent = parent.parent
    return path, folders


def _remove_if_unused(path: Path, folders: list[Path]) -> None:
    """Delete a SQLite store this command created but wrote nothing to (a mistyped
    ``--store`` with a failing command), and the folders made for it."""
    from interlock_core.storage import open_store

    try:
        store = open_store(f"sqlite:///{path}") if path.exists() else None
    except Exception:
        return
    if store is None:
        return
    try:
        unused = not (
            store.list_configs()
            or store.sensor_versions()
            or store.list_runs(limit=1)
            or store.query_events(limit=1)
        )
    finally:
        store.close()
    if not unused:
        return
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty: something else lives there now
            break


def _require_store(url: str) -> None:
    """Fail when a read-only command would create an empty SQLite store."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    raise NoStoreError(
        f"no store at {Path(os.path.abspath(path))} (apply pipelines with `interlock apply "
        "DIR` or start `interlock run` first, or point --store / INTERLOCK_STORE at a store)"
    )


def _build_engine(store_url: str, pipelines: Path | None = None) -> "Interlock":
    # Not interlock_core.runtime: the controller loop's imports are not the short commands'.
    from interlock_core.local_engine import build_engine

    # The pipelines directory's interlock.yaml limits what jobs may do (jobs.policy).
    return build_engine(store_url, pipelines_dir=pipelines)


def load_pipelines(directory: Path) -> "PipelineSet":
    """:func:`interlock_core.config.loader.load_pipelines`, imported when first called (the
    loader costs pydantic and YAML, which most commands never need)."""
    from interlock_core.config.loader import load_pipelines as load

    return load(directory)


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name == name:
            return None
        raise  # the module exists but one of its imports is broken: say so


def _store_exists(url: str) -> bool:
    """Whether ``url`` names a store that may hold configs already (any store but a SQLite
    file that does not exist yet)."""
    path = sqlite_file(url)
    return path is None or path.exists()


def _load_for_auto_apply(directory: Path) -> "PipelineSet | None":
    """Load the ``--pipelines`` directory; None (with a warning) when it holds no pipeline
    files, so that a wrong or emptied directory never removes every pipeline."""
    # Absolute paths: the engine matches a broken file to the pipeline it last configured
    # by its stored source path, which must not depend on the directory we were run from.
    folder = directory.resolve()
    pipeline_set = load_pipelines(folder)
    if not has_pipeline_files(folder):
        click.echo(
            f"warning: no pipeline files (*.yaml, *.yml) in {folder}; nothing applied "
            "(the store's pipelines stay as they are)",
            err=True,
        )
        return None
    return pipeline_set


def _auto_apply(engine: "Interlock", pipeline_set: "PipelineSet") -> None:
    """Apply the pipelines directory file by file (DESIGN.md §2, "Configs at run time").

    A broken file keeps its pipeline's last good config (the engine records CONFIG_INVALID),
    so the command goes on; only the warning reaches the user. Nothing is printed when
    nothing changed, so scripts see the same output with or without ``--pipelines``.
    """
    result = engine.apply(pipeline_set, partial=True)
    for error in result.invalid:
        for issue in error.issues:
            click.echo(f"warning: {issue} (the last good config stays active)", err=True)
    for change in result.changes:
        if change.action != "unchanged":
            click.echo(f"applied: {change.pipeline_id} {change.action}", err=True)


def has_pipeline_files(directory: Path) -> bool:
    """Whether the directory holds any file ``load_pipelines`` reads as a pipeline (the same
    rule; stops at the first one)."""
    try:
        with os.scandir(directory) as scan:
            return any(_is_pipeline_entry(entry) for entry in scan)
    except OSError:
        return False


def _is_pipeline_entry(entry: "os.DirEntry[str]") -> bool:
    from interlock_core.config.loader import SETTINGS_FILES

    return (
        os.path.splitext(entry.name)[1].lower() in PIPELINE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.name.lower() not in SETTINGS_FILES
        and not entry.is_dir()
    )


def unloaded_yaml(directory: Path) -> list[tuple[Path, int]]:
    """Subdirectories (but ``calendars/`` and hidden ones) holding YAML files, which are
    never loaded as pipelines, with how many each holds."""
    from interlock_core.config.loader import CALENDARS_DIR

    found: list[tuple[Path, int]] = []
    try:
        # Only the folders matter: scandir tells them apart without a stat per file.
        with os.scandir(directory) as scan:
            folders = sorted(entry.name for entry in scan if entry.is_dir())
    except OSError:
        return found
    for name in folders:
        child = directory / name
        if child.name.startswith(".") or child.name == CALENDARS_DIR:
            continue
        count = 0
        for _root, dirs, names in os.walk(child):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            count += sum(
                1
                for name in names
                if Path(name).suffix.lower() in PIPELINE_SUFFIXES and not name.startswith(".")
            )
        if count:
            found.append((child, count))
    return found


def _subdirectory_warnings(directory: Path) -> list[str]:
    return [
        f"{child}: {_plural(count, 'YAML file')} in a subdirectory, not loaded "
        f"(pipeline files must be directly in {directory})"
        for child, count in unloaded_yaml(directory)
    ]


def _empty_directory_hint(directory: Path) -> str:
    """`` — did you mean DIR/pipelines?`` when a subdirectory holds pipeline files."""
    candidates = [directory / "pipelines"] + [child for child, _ in unloaded_yaml(directory)]
    for candidate in candidates:
        if candidate.is_dir() and has_pipeline_files(candidate):
            return f" — did you mean {candidate}?"
    return ""


def _check_settings(path: Path) -> ConfigError | None:
    """Validate the runtime settings file (``interlock.yaml``); None when valid."""
    from interlock_core.alerts.routing import load_alert_config
    from interlock_core.jobs.policy import load_job_policy

    try:
        load_alert_config(path, os.environ)
        load_job_policy(path)  # the operator's limits on jobs (docs/security.md)
    except ConfigError as exc:
        return exc
    return None


def _print(renderable: "fmt.Grid | Text") -> None:
    fmt.show(renderable)


# ----------------------------------------------------------------------------- parsing


def parse_scalar(raw: str) -> Any:
    """A ``field=value`` value: a JSON number, true, false or null becomes that scalar.

    Everything else stays the raw string, JSON strings, lists and objects included, so
    ``hour=07`` stays ``"07"`` (not JSON) and ``name="x"`` keeps its quotes.
    """
    if raw != raw.strip():
        return raw
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # deeply bracketed text is text too
        return raw
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return raw


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["count=1204", "status=ready"]`` → ``{"count": 1204, "status": "ready"}``.

    Raises:
        CliUsageError: a pair has no ``=`` or an empty field name.
    """
    data: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliUsageError(f"expected FIELD=VALUE, got {pair!r}")
        data[name] = parse_scalar(raw)
    return data


def parse_data_option(text: str | None) -> dict[str, Any]:
    """The ``--data`` JSON object (empty when not given).

    Raises:
        CliUsageError: the text is not JSON, or not a JSON object.
    """
    if text is None:
        return {}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise CliUsageError(f"--data is not valid JSON: {exc}") from None
    except RecursionError:
        raise CliUsageError(
            "--data is nested too deeply to read (sensor data may be at most 64 levels deep)"
        ) from None
    if not isinstance(value, dict):
        raise CliUsageError(f"--data must be a JSON object, got {json_type_name(value)}")
    return value


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A click callback: a ``--period`` or ``PERIOD`` must be a period (usage error, exit 2).

    The value is returned as given; the engine normalises it.
    """
    if value is None:
        return None
    from interlock_core.periods import normalize_period

    try:
        normalize_period(value)
    except ValueError as exc:
        raise CliUsageError(_one_line(str(exc))) from None
    return value


def parse_time(text: str, option: str = "--at") -> datetime:
    """An ISO-8601 instant; without an offset it is UTC; a bare date is its UTC midnight.

    Raises:
        CliUsageError: the text is not an ISO-8601 date or time.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliUsageError(
            f"{option}: invalid time {text!r}: use ISO-8601 such as 2026-03-04T08:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from now (``2h``, ``1d``, ``90m``, also written ``2h ago``)
    or an ISO-8601 time (``2026-03-04T08:00:00Z``; a bare date is its UTC midnight).

    Raises:
        CliUsageError: neither a positive duration nor a time.
    """
    cleaned = text.strip()
    if cleaned.lower().endswith(" ago"):
        cleaned = cleaned[: -len(" ago")].strip()
    try:
        delta = parse_duration(cleaned)
    except ValueError:
        try:
            return parse_time(cleaned, "--since")
        except CliUsageError:
            raise CliUsageError(
                f"--since: {text!r} is neither a duration (2h, 1d, 90m, 2h ago) nor an "
                "ISO-8601 time (2026-03-04T08:00:00Z)"
            ) from None
    if delta.total_seconds() <= 0:
        raise CliUsageError(f"--since: the duration must be positive, got {text!r}")
    return now - delta


def parse_event_types(values: Sequence[str]) -> list[EventType] | None:
    """``--type`` values (repeatable, comma-separated, any case) as event types.

    Raises:
        CliUsageError: an unknown type, with the closest known name.
    """
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        return None
    known = [kind.value for kind in EventType]
    types: list[EventType] = []
    for name in names:
        canonical = name.upper().replace("-", "_")
        if canonical not in known:
            close = difflib.get_close_matches(canonical, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else " (see the event catalogue)"
            raise CliUsageError(f"unknown event type {name!r}{hint}")
        types.append(EventType(canonical))
    return types


# ----------------------------------------------------------------------------- the group


@click.group(
    cls=InterlockGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--store",
    metavar="URL",
    envvar="INTERLOCK_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    show_envvar=True,
    help="Where configs, sensors, runs and events live (sqlite:///path.db, memory://, ...).",
)
@click.option(
    "--pipelines",
    metavar="DIR",
    envvar="INTERLOCK_PIPELINES",
    type=click.Path(path_type=Path, file_okay=False),
    show_envvar=True,
    help="Apply this pipelines directory first (file by file; a no-op when unchanged).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="interlock", prog_name="interlock")
@click.pass_context
def main(ctx: click.Context, store: str, pipelines: Path | None, debug: bool) -> None:
    """Interlock: run data pipelines only when their preconditions are met."""
    ctx.obj = Settings(store=store, pipelines=pipelines, debug=debug)


# ----------------------------------------------------------------------------- validate


@dataclasses.dataclass
class _Checked:
    """What ``validate`` found in one argument."""

    warnings: list[str] = dataclasses.field(default_factory=list)
    errors: list[ConfigError] = dataclasses.field(default_factory=list)
    ok: list[str] = dataclasses.field(default_factory=list)
    valid: int = 0

    @classmethod
    def of(cls, pipeline_set: "PipelineSet") -> "_Checked":
        return cls(
            warnings=[*pipeline_set.warnings, *_missing_extras(pipeline_set)],
            errors=list(pipeline_set.errors),
            ok=[
                f"ok: {source} ({pipeline_id})"
                for pipeline_id, source in sorted(pipeline_set.sources.items())
            ],
            valid=len(pipeline_set.pipelines),
        )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check pipeline files and directories of pipeline files.

    A directory's runtime settings file (interlock.yaml, inside or beside it) is checked
    too. Every error is printed as FILE:LINE: FIELD: MESSAGE. Exit status 0 when everything
    loads (warnings included), 1 on any error or a directory without pipeline files.
    Nothing is written to the store.
    """
    from interlock_core.config.loader import SETTINGS_FILES, load_pipeline_files

    checked: list[_Checked] = []
    files: list[Path] = []
    empty: list[Path] = []
    settings_seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            result = _check_directory(path, settings_seen)
            checked.append(result)
            if not has_pipeline_files(path) and not result.errors:
                empty.append(path)
        elif path.name.lower() in SETTINGS_FILES:
            checked.append(_check_settings_file(path, settings_seen))
        else:
            files.append(path)
    if files:
        checked.append(_Checked.of(load_pipeline_files(files)))
    valid = sum(result.valid for result in checked)
    bad_files = sum(len(result.errors) for result in checked)
    issues = 0
    # File names come from the folder: no raw newline or ESC (a forged "ok:" line).
    for result in checked:
        for warning in result.warnings:
            click.echo(f"warning: {printable(warning)}")
        for error in result.errors:
            for issue in error.issues:
                issues += 1
                click.echo(printable(str(issue)))
        for line in result.ok:
            click.echo(printable(line))
    summary: list[str] = []
    if bad_files:
        summary.append(f"{_plural(issues, 'error')} in {_plural(bad_files, 'file')}")
    if empty:
        where = "1 directory" if len(empty) == 1 else f"{len(empty)} directories"
        summary.append(f"no pipeline files in {where}")
    summary.append(f"{_plural(valid, 'pipeline')} valid")
    click.echo("; ".join(summary))
    if bad_files or empty:
        ctx.exit(1)


def _check_directory(path: Path, settings_seen: set[Path]) -> _Checked:
    """A pipelines directory: its pipeline files, its settings file and what is not loaded."""
    try:
        pipeline_set = load_pipelines(path)
    except ConfigError as exc:
        return _Checked(errors=[exc])
    result = _Checked.of(pipeline_set)
    if not has_pipeline_files(path):
        # Said once, our way (with a hint), instead of the loader's warning.
        loader_warning = f"{path}: no pipeline files (*.yaml, *.yml) found"
        result.warnings = [w for w in result.warnings if w != loader_warning]
        result.warnings.append(
            f"no pipeline files (*.yaml, *.yml) in {path}{_empty_directory_hint(path)}"
        )
    result.warnings.extend(_subdirectory_warnings(path))
    settings = _directory_settings(path, settings_seen)
    result.warnings.extend(settings.warnings)
    result.errors.extend(settings.errors)
    result.ok.extend(settings.ok)
    return result


def _directory_settings(directory: Path, seen: set[Path]) -> _Checked:
    """The settings file the runtime reads for a pipelines directory (if there is one), and
    a warning for every other settings file there, which it would not read."""
    from interlock_core.alerts.routing import alert_config_path
    from interlock_core.config.loader import SETTINGS_FILES

    try:
        found = alert_config_path(directory)  # absolute
    except ConfigError as exc:
        return _Checked(errors=[exc])
    # Named like the directory was (relative stays relative), as the pipeline files are.
    shown = found if directory.is_absolute() else Path(os.path.relpath(found))
    result = _check_settings_file(shown, seen, optional=True)
    for folder in (directory, directory.parent):
        for name in sorted(SETTINGS_FILES):
            stray = folder / name
            if stray.is_file() and stray.resolve() not in seen:
                seen.add(stray.resolve())
                result.warnings.append(f"{stray}: not read by the runtime; it reads {shown}")
    return result


def _check_settings_file(path: Path, seen: set[Path], *, optional: bool = False) -> _Checked:
    """The runtime settings file (``interlock.yaml``: alert routing), each file once."""
    from interlock_core.config.loader import SETTINGS_FILES

    result = _Checked()
    resolved = path.resolve()
    if resolved in seen:
        return result
    seen.add(resolved)
    if resolved.name not in SETTINGS_FILES:
        result.warnings.append(
            f"{path}: not read by the runtime; name the settings file {SETTINGS_FILE}"
        )
    if not path.is_file():
        if not optional:
            result.errors.append(ConfigError(ConfigIssue("file not found", file=str(path))))
        return result
    error = _check_settings(path)
    if error is not None:
        result.errors.append(error)
    else:
        result.ok.append(f"ok: {path} (runtime settings)")
    return result


def _missing_extras(pipeline_set: "PipelineSet") -> list[str]:
    """A warning per pipeline whose job type needs a package that is not installed."""
    from interlock_core.jobs.extras import missing_extra_warnings

    return missing_extra_warnings(pipeline_set.pipelines, pipeline_set.sources)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# ----------------------------------------------------------------------------- apply


@main.command("apply")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@json_option
@store_option
@click.pass_context
def apply_command(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Validate a pipelines directory and write it to the store, all or nothing.

    Any invalid file (its runtime settings file interlock.yaml included): every error is
    printed as FILE:LINE: ..., nothing is written, exit 1. Unchanged pipelines are no-ops;
    pipelines whose file is gone are removed. A directory without pipeline files is refused
    (exit 1): it is almost always the wrong directory, not "remove every pipeline".
    """
    # Absolute paths, as in the automatic apply: sources are compared across invocations.
    folder = directory.resolve()
    if folder.is_dir():
        # Files unchanged since they produced the stored configs are not validated again
        # (a store about to be created has none: every file loads, and is recorded).
        from interlock_core.applying import load_changed

        existing = _store_exists(_settings(ctx).store)
        pipeline_set = load_changed(_engine(ctx, auto_apply=False) if existing else None, folder)
    else:
        pipeline_set = load_pipelines(folder)
    empty = not has_pipeline_files(folder)
    loader_warning = f"{folder}: no pipeline files (*.yaml, *.yml) found"
    settings = _directory_settings(folder, set())
    warnings = [w for w in pipeline_set.warnings if w != loader_warning]
    warnings += _missing_extras(pipeline_set)
    for warning in [*warnings, *_subdirectory_warnings(folder), *settings.warnings]:
        click.echo(f"warning: {warning}", err=True)
    if empty and not pipeline_set.errors:
        raise CliError(
            f"no pipeline files (*.yaml, *.yml) in {folder}; nothing applied"
            + _empty_directory_hint(folder)
        )
    errors = [*pipeline_set.errors, *settings.errors]
    if errors:
        issues = [issue for error in errors for issue in error.issues]
        for issue in issues:
            click.echo(f"error: {issue}", err=True)
        click.echo(
            f"error: {_plural(len(issues), 'error')} in "
            f"{_plural(len(errors), 'file')}; nothing was applied",
            err=True,
        )
        ctx.exit(1)
    # The explicit directory is the whole truth here; auto-applying --pipelines first could
    # write part of a directory this command is about to refuse.
    engine = _engine(ctx, auto_apply=False)
    result = engine.apply(pipeline_set, partial=False)
    if as_json:
        click.echo(fmt.dumps({"changes": [fmt.change_to_dict(c) for c in result.changes]}))
        return
    if not result.changes:
        click.echo("no pipelines in the directory and none in the store; nothing to do")
        return
    _print(fmt.changes_table(result.changes))
    counts: dict[str, int] = {}
    for change in result.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    click.echo(", ".join(f"{count} {action}" for action, count in sorted(counts.items())))


# ----------------------------------------------------------------------------- emit


@main.command()
@click.argument("pipeline")
@click.argument("key")
@click.argument("fields", nargs=-1, metavar="[FIELD=VALUE]...")
@click.option("--data", "data_text", metavar="JSON_OBJECT", help="Sensor data as a JSON object.")
@click.option(
    "--period", callback=check_period, help="Write the sensor for this period (KEY#PERIOD)."
)
@click.option("--allow-unknown", is_flag=True, help="Accept a pipeline that is not configured.")
@json_option
@store_option
@pipelines_option
@click.pass_context
def emit(
    ctx: click.Context,
    pipeline: str,
    key: str,
    fields: tuple[str, ...],
    data_text: str | None,
    period: str | None,
    allow_unknown: bool,
    as_json: bool,
) -> None:
    """Write a sensor: KEY with FIELD=VALUE pairs and/or --data.

    A VALUE that is a JSON number, true, false or null is stored as that scalar; anything else
    as a string. Pairs win over the same fields in --data. Then says what the write did:
    opened a run, woke a waiting run, late data, post-run checks, or nothing (and why).
    """
    data = parse_data_option(data_text)
    data.update(parse_pairs(fields))
    engine = _engine(ctx)
    _refuse_an_hour_for_a_daily_pipeline(engine, pipeline, period)
    outcome = engine.emit_with_outcome(pipeline, key, data, period, allow_unknown=allow_unknown)
    sensor = outcome.sensor
    if as_json:
        click.echo(fmt.dumps({**fmt.sensor_to_dict(pipeline, sensor), **outcome.to_dict()}))
        return
    click.echo(f"stored {pipeline}/{sensor.key} (version {sensor.version})")
    for line in outcome.lines():
        click.echo(line)


def _refuse_an_hour_for_a_daily_pipeline(
    engine: "Interlock", pipeline_id: str, period: str | None
) -> None:
    """No daily run ever reads KEY#<hour> (a day counts for every hour, not the reverse)."""
    from interlock_core.config.models import Granularity
    from interlock_core.engine import InterlockError

    active = engine.config(pipeline_id)
    if period is None or active is None or active.pipeline.granularity == Granularity.HOURLY:
        return
    try:
        engine._period_for(active.pipeline, period)
    except InterlockError as exc:
        raise CliUsageError(f"--period: {exc}; nothing was written") from exc


# ----------------------------------------------------------------------------- evaluate


@main.command()
@click.argument("pipeline")
@click.option(
    "--period", callback=check_period, help="The period to evaluate (default: the current period)."
)
@click.option("--at", "at_text", metavar="TIME", help="Evaluate at this ISO-8601 instant.")
@json_option
@store_option
@pipelines_option
@click.pass_context
def evaluate(
    ctx: click.Context, pipeline: str, period: str | None, at_text: str | None, as_json: bool
) -> None:
    """Evaluate a pipeline's gate. Exit 0 ready, 1 not ready, 2 error.

    Nothing is written: this shows what the controller would decide now (or at --at).
    """
    ctx.meta[ERROR_EXIT_KEY] = 2
    at = parse_time(at_text) if at_text is not None else None
    engine = _engine(ctx, read_only=True)
    readiness = engine.evaluate(pipeline, period, at)
    rules = _gate_rules(engine, pipeline, len(readiness.evaluation.results))
    tick = None if readiness.run is not None else _next_tick(engine, pipeline)
    if as_json:
        document = fmt.readiness_to_dict(readiness, rules)
        if tick is not None:
            document["nextTick"] = tick
        click.echo(fmt.dumps(document))
    else:
        _print(fmt.readiness_header(readiness))
        if readiness.excluded is not None:
            click.echo(f"excluded: {readiness.excluded}")
        run = readiness.run
        click.echo(f"run: {fmt.run_line(run)}" if run is not None else "run: none yet")
        if tick is not None:
            click.echo(fmt.next_tick_line(pipeline, tick))
        if readiness.evaluation.results:
            _print(fmt.rules_table(readiness, rules))
        else:
            click.echo("no rules: the gate is open")
    ctx.exit(0 if readiness.ready else 1)


def _next_tick(engine: "Interlock", pipeline_id: str) -> dict[str, str] | None:
    """The next tick of a cron pipeline (None for sensor-driven or unknown pipelines)."""
    from interlock_core.opening import next_tick_info

    active = engine.config(pipeline_id)
    if active is None:
        return None
    return next_tick_info(active.pipeline, engine.clock.now(), active.calendars)


def _gate_rules(engine: "Interlock", pipeline_id: str, count: int) -> "list[Rule | None]":
    """The configured rules behind an evaluation's results, in the same order (for the
    expected values); Nones if the config changed in between and they no longer line up."""
    from interlock_core.lifecycle import gate_validation

    active = engine.config(pipeline_id)
    if active is None:
        return [None] * count
    trigger_rule, validation = gate_validation(active.pipeline)
    rules: list[Rule | None] = [trigger_rule] if trigger_rule is not None else []
    rules.extend(validation.rules)
    return rules if len(rules) == count else [None] * count


# ----------------------------------------------------------------------------- status


@main.command()
@click.argument("pipeline", required=False)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_STATUS_LIMIT,
    show_default=True,
    help="Show at most this many runs (newest periods first).",
)
@json_option
@store_option
@pipelines_option
@click.pass_context
def status(ctx: click.Context, pipeline: str | None, limit: int, as_json: bool) -> None:
    """Show runs: status, attempt, next action, job run id (newest periods first).

    A cron pipeline with no run yet is listed with its next tick (in its time zone).
    """
    engine = _engine(ctx, read_only=True)
    runs = engine.status(pipeline, limit)
    if pipeline is not None and not runs:
        _require_known_pipeline(engine, pipeline)
    if as_json:
        click.echo(fmt.dumps([fmt.run_to_dict(run) for run in runs]))
        return
    if runs:
        _print(fmt.runs_table(runs))
        if len(runs) == limit:
            click.echo(f"(the newest {limit} runs; use --limit to see more)")
    else:
        where = f" for {pipeline}" if pipeline else ""
        click.echo(f"no runs yet{where}")
    for pipeline_id in _pipelines_without_runs(engine, pipeline, runs):
        tick = _next_tick(engine, pipeline_id)
        if tick is not None:
            click.echo(f"{pipeline_id}: no run yet; {fmt.next_tick_line(pipeline_id, tick)}")


def _pipelines_without_runs(
    engine: "Interlock", pipeline: str | None, runs: "list[Run]"
) -> list[str]:
    """The configured pipelines (or just ``pipeline``) that have no run at all."""
    if pipeline is not None:
        return [] if runs else [pipeline]
    shown = {run.pipeline_id for run in runs}
    return [
        pipeline_id
        for pipeline_id in engine.pipeline_ids()
        if pipeline_id not in shown and not engine.status(pipeline_id, 1)
    ]


def _require_known_pipeline(engine: "Interlock", pipeline_id: str) -> None:
    """Fail like ``evaluate`` for a pipeline that is neither configured nor has runs."""
    from interlock_core.engine import InterlockError

    known = engine.pipeline_ids()
    if pipeline_id in known:
        return
    close = difflib.get_close_matches(pipeline_id, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise InterlockError(f"unknown pipeline {pipeline_id!r} (apply its config first{hint})")


# ----------------------------------------------------------------------------- events


@main.command()
@click.option("--pipeline", help="Only events of this pipeline.")
@click.option(
    "--type",
    "type_names",
    multiple=True,
    metavar="TYPE",
    help="Only events of this type (repeatable, or comma-separated).",
)
@click.option("--period", callback=check_period, help="Only events about this period.")
@click.option(
    "--since",
    metavar="TIME|DURATION",
    help="Only events since an ISO-8601 time (2026-03-04T08:00Z) or a duration ago (2h, 1d, "
    "90m, '2h ago').",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_EVENT_LIMIT,
    show_default=True,
    help="Show at most the newest N matching events.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@json_option
@store_option
@pipelines_option
@click.pass_context
def events(
    ctx: click.Context,
    pipeline: str | None,
    type_names: tuple[str, ...],
    period: str | None,
    since: str | None,
    limit: int,
    follow: bool,
    as_json: bool,
) -> None:
    """Show the event log, oldest first (--json: one JSON object per line)."""
    types = parse_event_types(type_names)
    if since is not None:
        parse_since(since, datetime.now(UTC))  # a bad --since is a usage error, checked first
    from interlock_core.periods import normalize_period

    engine = _engine(ctx, read_only=True)
    since_at = parse_since(since, engine.clock.now()) if since is not None else None
    period = normalize_period(period) if period is not None else None
    found = engine.events(pipeline, types, since_at, None, period, None, limit)
    if pipeline is not None and not found:
        _require_known_pipeline(engine, pipeline)  # a mistyped id is not "no events"
    if not follow:
        if as_json:
            for event in found:
                click.echo(event.to_json())
        elif found:
            _print(fmt.events_table(found))
        else:
            click.echo("no events")
        return
    _follow(engine, found, pipeline, types, period, since_at, as_json)


def _follow(
    engine: "Interlock",
    found: list[Event],
    pipeline: str | None,
    types: list[EventType] | None,
    period: str | None,
    since: datetime | None,
    as_json: bool,
) -> None:
    """Print events as they are appended, until Ctrl-C (exit status 0).

    The table has the columns of ``events``, its header printed once, then a line per event.
    """
    stream = None if as_json else fmt.EventStream(engine.pipeline_ids(), found)
    if stream is not None:
        click.echo(stream.header())

    def show(batch: list[Event]) -> None:
        for event in batch:
            click.echo(event.to_json() if stream is None else stream.line(event))

    show(found)
    last_id = found[-1].id if found else None
    # Before the first event is seen, only events from now on are new (ids sort by time).
    start = since if since is not None else engine.clock.now()
    try:
        while True:
            _pause(FOLLOW_INTERVAL_SECONDS)
            batch = engine.events(
                pipeline,
                types,
                start if last_id is None else None,
                None,
                period,
                last_id,
                FOLLOW_PAGE,
            )
            if batch:
                show(batch)
                last_id = batch[-1].id
    except KeyboardInterrupt:
        return


def _pause(seconds: float) -> None:
    """Sleep between polls of ``events --follow`` (a seam for tests)."""
    time.sleep(seconds)


# ----------------------------------------------------------------------------- rerun


@main.command()
@click.argument("pipeline")
@click.argument("period", callback=check_period)
@click.option(
    "--reason", default="manual", show_default=True, help="Why (budgets count per reason)."
)
@click.option(
    "--force",
    is_flag=True,
    help="Rerun a success although no sensor changed since (the job was fixed, not the "
    "data), or a TIMED_OUT/UNCERTAIN run whose previous job the runner cannot confirm ended "
    "(recorded in the event); the budget still applies.",
)
@json_option
@store_option
@pipelines_option
@click.pass_context
def rerun(
    ctx: click.Context, pipeline: str, period: str, reason: str, force: bool, as_json: bool
) -> None:
    """Reopen a finished run as a new attempt. Exit 0 accepted, 1 refused."""
    result = _engine(ctx).request_rerun(pipeline, period, reason, force=force)
    if as_json:
        click.echo(
            fmt.dumps(
                {
                    "accepted": result.accepted,
                    "message": result.message,
                    "run": fmt.run_to_dict(result.run) if result.run is not None else None,
                }
            )
        )
    elif result.accepted:
        click.echo(f"accepted: {_with_new_attempt(result.message, result.run)}")
    if not result.accepted:
        click.echo(f"error: {_one_line(result.message)}", err=True)
    ctx.exit(0 if result.accepted else 1)


def _with_new_attempt(message: str, run: "Run | None") -> str:
    """An accepted rerun's message, naming the new attempt if it does not already."""
    if run is None or f"attempt {run.attempt}" in message:
        return message
    return f"{message} (new attempt {run.attempt})"


# ----------------------------------------------------------------------------- claims


@main.command()
@click.argument("pipeline")
@click.argument("period", required=False, callback=check_period)
@click.option("--owner", required=True, help="Who takes the run, e.g. airflow:dag/run_id.")
@json_option
@store_option
@pipelines_option
@click.pass_context
def claim(ctx: click.Context, pipeline: str, period: str | None, owner: str, as_json: bool) -> None:
    """Claim the job-less run of a period (default: the current one) for OWNER.

    Exit 0 when claimed (or already claimed by OWNER), 1 when refused.
    """
    _show_run(_engine(ctx).claim(pipeline, period, owner), as_json, "claimed")


@main.command()
@click.argument("pipeline")
@click.argument("period", callback=check_period)
@click.argument("outcome", type=click.Choice(["success", "failed"]))
@click.option("--owner", help="The claim owner (refused when another owner holds the claim).")
@click.option("--message", default="", help="A note stored with the outcome.")
@click.option(
    "--force",
    is_flag=True,
    help="Without --owner, report over another owner's live claim (recorded in the event).",
)
@json_option
@store_option
@pipelines_option
@click.pass_context
def report(
    ctx: click.Context,
    pipeline: str,
    period: str,
    outcome: str,
    owner: str | None,
    message: str,
    force: bool,
    as_json: bool,
) -> None:
    """Report the outcome of a claimed run. Exit 0, or 1 with the reason it was refused."""
    run = _engine(ctx).report(pipeline, period, outcome, owner, message, force=force)
    _show_run(run, as_json, "reported")


@main.command()
@click.argument("pipeline")
@click.argument("period", callback=check_period)
@click.option("--succeeded", is_flag=True, help="The job did succeed.")
@click.option("--failed", is_flag=True, help="The job failed (or never ran).")
@click.option("--retry", is_flag=True, help="Start a new attempt (the gate is re-evaluated).")
@click.option("--note", default="", help="Why; stored with the RUN_RESOLVED event.")
@click.option(
    "--force",
    is_flag=True,
    help="--retry although the runner cannot confirm that the previous job ended (or its "
    "submit was cut off), or resolve over another owner's live claim (recorded in the event).",
)
@json_option
@store_option
@pipelines_option
@click.pass_context
def resolve(
    ctx: click.Context,
    pipeline: str,
    period: str,
    succeeded: bool,
    failed: bool,
    retry: bool,
    note: str,
    force: bool,
    as_json: bool,
) -> None:
    """End an UNCERTAIN or stuck run: exactly one of --succeeded, --failed, --retry."""
    chosen = [
        name
        for name, flag in (("succeeded", succeeded), ("failed", failed), ("retry", retry))
        if flag
    ]
    if len(chosen) != 1:
        raise CliUsageError("give exactly one of --succeeded, --failed, --retry")
    run = _engine(ctx).resolve(pipeline, period, chosen[0], note, force=force)
    _show_run(run, as_json, "resolved", new_attempt=chosen[0] == "retry")


def _show_run(run: "Run", as_json: bool, verb: str, *, new_attempt: bool = False) -> None:
    if as_json:
        click.echo(fmt.dumps(fmt.run_to_dict(run)))
    else:
        click.echo(f"{verb}: {fmt.run_line(run, new_attempt=new_attempt)}")


# ----------------------------------------------------------------------------- runtimes


@main.command("run")
@click.option("--once", is_flag=True, help="Do one pass (apply, open, advance, watchdog) and exit.")
@store_option
@pipelines_option
@click.pass_context
def run_command(ctx: click.Context, once: bool) -> None:
    """Run the local controller until SIGINT/SIGTERM."""
    settings = _settings(ctx)
    runtime = _required_module("interlock_core.runtime", "the local runtime")
    # Absolute, like every other command's apply: the engine matches stored sources by path.
    directory = settings.pipelines.resolve() if settings.pipelines is not None else None
    code = runtime.run_local(settings.store, directory, once=once)
    ctx.exit(int(code))


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Play the demo: pipelines, sensors and runs on a simulated clock."""
    module = _required_module("interlock_core.demo", "the demo")
    ctx.exit(int(module.play_demo()))


def _required_module(name: str, what: str) -> Any:
    module = _optional_module(name)
    if module is None:
        raise CliError(f"{what} is not available in this installation ({name})")
    return module


def _register_commands() -> None:
    """Commands kept in their own modules (they import helpers from this one)."""
    from interlock_core.cli_logs import logs_command
    from interlock_core.cli_open import open_command

    main.add_command(open_command)
    main.add_command(logs_command)


if __name__ == "__main__":
    # ``python -m interlock_core.cli``: this file runs as ``__main__``; the command modules
    # import ``interlock_core.cli``, so run that module's group, where they are registered.
    from interlock_core.cli import main as registered_main

    registered_main(prog_name="interlock")
else:
    _register_commands()
