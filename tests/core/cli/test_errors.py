"""Errors: one line, no traceback, unless --debug."""

from click.testing import CliRunner

from interlock_core.cli import main
from interlock_core.engine import Interlock
from tests.core.cli.conftest import Cli


def test_unexpected_errors_name_their_type_and_suggest_debug(
    ready_cli: Cli, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)

    def boom(self: Interlock, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Interlock, "status", boom)
    result = ready_cli("status")
    assert result.exit_code == 1
    assert result.stderr == "error: RuntimeError: boom second line (run with --debug for details)\n"

    debug = ready_cli("--debug", "status")
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert 'raise RuntimeError("boom' in debug.stderr
    assert debug.stderr.splitlines()[-1] == "error: RuntimeError: boom second line"


def test_debug_shows_the_traceback_of_expected_errors_too(ready_cli: Cli) -> None:
    result = ready_cli("--debug", "evaluate", "nope")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: unknown pipeline 'nope'")


def test_store_errors_are_one_line(cli: Cli) -> None:
    result = CliRunner().invoke(main, ["--store", "sqlite:///", "status"], catch_exceptions=False)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: unsupported SQLite URL")
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(ready_cli: Cli) -> None:
    assert ready_cli("emit", "orders").exit_code == 2
    assert ready_cli("status", "--limit", "x").exit_code == 2
    assert ready_cli("no-such-command").exit_code == 2


def test_run_and_demo_are_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in (
        "validate", "apply", "emit", "evaluate", "status", "events", "rerun", "report",
        "claim", "resolve", "run", "demo",
    ):  # fmt: skip
        assert f"  {name} " in result.stdout, name
    run_help = CliRunner().invoke(main, ["run", "--help"])
    assert "--once" in run_help.stdout
