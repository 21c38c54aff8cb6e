"""Start-up (issue 13): each command imports only what it uses.

Every case runs the real entry point in a fresh interpreter under ``-X importtime`` (which
lists every module the process imported) and checks the modules a command must not load.
Not timed: the benchmark (bench/bench_startup.py) measures the cost.
"""

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.cli.conftest import INVENTORY

ROOT = Path(__file__).resolve().parents[3]
# Alert channels, the runners' HTTP client and the AWS SDK: never for these commands.
NETWORK_AND_AWS = ("urllib.request", "http.client", "ssl", "boto3", "botocore", "aws_runtime")
# What --help does not need either: pydantic, rich, YAML, cron, the engine and the loader.
HEAVY = (
    "pydantic",
    "rich",
    "yaml",
    "croniter",
    "interlock_core.engine",
    "interlock_core.config.loader",
    "interlock_core.config.models",
    "interlock_core.storage",
    "interlock_core.runtime",
    "interlock_core.jobs.registry",
)
# What the short commands do not need: the loader and settings reader (no --pipelines), the
# controller loop, the memory backend (a SQLite store) and cron (sensor-triggered pipelines).
NOT_FOR_SHORT_COMMANDS = (
    "yaml",
    "interlock_core.config.loader",
    "interlock_core.config.settings",
    "interlock_core.config.yaml_lines",
    "interlock_core.runtime",
    "interlock_core.applying",
    "interlock_core.forwarding",
    "interlock_core.storage.memory",
    "croniter",
)
SUBMIT_ONLY = ("interlock_core.jobs.command_wrapper", "interlock_core.jobs.state_dir", "subprocess")
# A stored config is rebuilt, not validated (config/stored_decode.py): an emit that opens no
# run builds no pydantic validator, so pydantic never scans the installed distributions.
PLUGIN_SCAN = ("pydantic.plugin._loader", "importlib.metadata")
NIGHTLY = """\
pipeline: {id: nightly, owner: test}
schedule:
  timezone: UTC
  trigger: {key: export, check: exists}
validation:
  trigger: ALL
  rules:
    - {key: export, check: exists}
    - {key: export, field: rows, check: gte, value: 1}
job:
  type: command
  config: {command: ["true"]}
"""


# Runs the CLI as ``python -m interlock_core.cli`` does and lists ``sys.modules`` at exit.
# ``-X importtime`` alone would miss what ``importlib.import_module`` loads (the lazy runners,
# job-config models and storage backends): it times only ``import`` statements.
RUN_AND_LIST_MODULES = """\
import atexit, os, runpy, sys

def _list_modules():
    with open(os.environ["INTERLOCK_TEST_MODULES_FILE"], "w", encoding="utf-8") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_list_modules)
runpy.run_module("interlock_core.cli", run_name="__main__", alter_sys=True)
"""


def imported_modules(args: list[str], cwd: Path, env: dict[str, str]) -> set[str]:
    """Run ``python -m interlock_core.cli ARGS``; every module it imported."""
    listing = cwd / "modules.txt"
    listing.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "INTERLOCK_TEST_MODULES_FILE": str(listing)},
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    modules = set(listing.read_text(encoding="utf-8").split())
    assert "click" in modules and "interlock_core.cli" in modules, "module listing not written"
    return modules


def loaded(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in modules
        if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden)
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("startup")
    pipelines = folder / "pipelines"
    pipelines.mkdir()
    (pipelines / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    (pipelines / "nightly.yaml").write_text(NIGHTLY, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTERLOCK_")}
    env["PYTHONPATH"] = str(ROOT)
    env["INTERLOCK_STORE"] = f"sqlite:///{folder / 'i.db'}"
    applied = subprocess.run(
        [sys.executable, "-m", "interlock_core.cli", "apply", str(pipelines)],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr
    return folder, env


def test_help_imports_neither_pydantic_nor_the_engine_nor_the_aws_command(
    store: tuple[Path, dict[str, str]],
) -> None:
    folder, env = store
    modules = imported_modules(["--help"], folder, env)
    assert loaded(modules, HEAVY + NETWORK_AND_AWS) == []
    assert "interlock_core.cli" in modules


@pytest.mark.parametrize(
    "args",
    [
        ["emit", "inventory", "stock", "status=pending"],
        ["evaluate", "inventory"],
        ["status"],
    ],
    ids=["emit", "evaluate", "status"],
)
def test_short_commands_load_no_alert_channel_runner_or_aws_module(
    store: tuple[Path, dict[str, str]], args: list[str]
) -> None:
    folder, env = store
    modules = imported_modules(args, folder, env)
    assert "interlock_core.engine" in modules  # the command really ran
    forbidden = (
        *NETWORK_AND_AWS,
        "interlock_core.alerts.slack",
        "interlock_core.alerts.webhook",
        "interlock_core.alerts.dispatcher",
        "interlock_core.jobs.command",
        "interlock_core.jobs.http",
        "interlock_core.jobs.aws",
        "interlock_core.jobs.airflow",
        "interlock_core.jobs.databricks",
        "interlock_core.jobs.netguard",
    )
    assert loaded(modules, forbidden) == []
    assert loaded(modules, NOT_FOR_SHORT_COMMANDS) == []
    # Only a submit needs the command wrapper (subprocess, signal) or the job state folder
    # (tempfile, shutil); the short commands submit nothing.
    assert loaded(modules, SUBMIT_ONLY) == []
    if args[0] == "emit":  # no validator built (see also the emit that opens a run below)
        assert loaded(modules, PLUGIN_SCAN) == []
    if args[0] == "emit":  # to a job-less pipeline: no job-config model at all
        assert loaded(modules, ("interlock_core.config.job_configs",)) == []
    if args[0] in ("emit", "status"):
        assert loaded(modules, ("rich",)) == []  # plain output needs no table renderer


def test_emit_for_a_command_job_loads_only_the_command_job_model(
    store: tuple[Path, dict[str, str]],
) -> None:
    folder, env = store
    # Not ready (rows is missing): the write is recorded, nothing is submitted.
    modules = imported_modules(["emit", "nightly", "export", "status=partial"], folder, env)
    assert "interlock_core.engine" in modules
    assert loaded(modules, ("interlock_core.config.job_configs",)) == [
        "interlock_core.config.job_configs",
        "interlock_core.config.job_configs.command",
    ]
    assert loaded(modules, NOT_FOR_SHORT_COMMANDS) == []


def test_an_emit_that_opens_a_run_builds_no_pydantic_validator(tmp_path: Path) -> None:
    # The run is built, written and listed again (waking waiting runs) from the document the
    # process wrote itself: no Run schema, so pydantic never scans the distributions.
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "nightly.yaml").write_text(NIGHTLY, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTERLOCK_")}
    env["PYTHONPATH"] = str(ROOT)
    env["INTERLOCK_STORE"] = f"sqlite:///{tmp_path / 'i.db'}"
    cli = [sys.executable, "-m", "interlock_core.cli"]
    applied = subprocess.run(
        [*cli, "apply", "pipelines"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr
    listing = tmp_path / "modules.txt"
    emitted = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, "emit", "nightly", "export", "rows=5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "INTERLOCK_TEST_MODULES_FILE": str(listing)},
        timeout=120,
    )
    assert emitted.returncode == 0, emitted.stderr
    assert "opened the run of" in emitted.stdout
    assert loaded(set(listing.read_text(encoding="utf-8").split()), PLUGIN_SCAN) == []
    status = subprocess.run(
        [*cli, "status", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert '"WAITING"' in status.stdout  # what was written reads back as a waiting run
    # Written once: waking the waiting runs reads the clock again, so the run just opened is
    # due already and needs no second write (a real clock, unlike the engine tests').
    with contextlib.closing(sqlite3.connect(tmp_path / "i.db")) as conn:
        assert conn.execute("SELECT status, version FROM runs").fetchall() == [("WAITING", 1)]


def test_the_listed_help_of_builtin_plugin_commands_is_their_own() -> None:
    import click

    from interlock_core import cli_plugins

    for name, target in cli_plugins.BUILTIN.items():
        command = cli_plugins.load_plugin(name)
        assert isinstance(command, click.Command), target
        stand_in = cli_plugins.listing_command(name)
        assert stand_in is not None
        assert stand_in.get_short_help_str(200) == command.get_short_help_str(200)


def test_reporting_an_error_does_not_import_the_engine(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTERLOCK_")}
    env["PYTHONPATH"] = str(ROOT)
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "interlock_core.cli",
            "--store",
            missing,
            "status",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: no store at " in result.stderr
    assert "(run with --debug" not in result.stderr  # reported as an expected error
    assert not re.search(r"\| +interlock_core\.engine$", result.stderr, re.M)


# Prints, from the last exit handler, whether the interpreter may skip its final collection
# (gc.freeze ran); registered before the CLI runs, so it runs after the CLI's own handlers.
REPORT_FROZEN_AT_EXIT = """\
import atexit, gc, runpy, sys

atexit.register(lambda: print("frozen" if gc.get_freeze_count() else "not frozen"))
runpy.run_module("interlock_core.cli", run_name="__main__", alter_sys=True)
"""


def test_the_interlock_process_exits_without_a_final_collection(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTERLOCK_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", REPORT_FROZEN_AT_EXIT, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("\nfrozen")
    assert result.stdout.startswith("Usage: ")  # the help itself is unchanged


def test_a_caller_passing_arguments_keeps_its_garbage_collector_as_it_was() -> None:
    import gc

    from click.testing import CliRunner

    from interlock_core.cli import main

    frozen_before = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert gc.get_freeze_count() == frozen_before
