"""Read-only commands never create an empty store (item 2)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from interlock_core.cli import main, sqlite_file
from tests.core.cli.conftest import INVENTORY, PERIOD, Cli

HINT = (
    "(apply pipelines with `interlock apply DIR` or start `interlock run` first, "
    "or point --store / INTERLOCK_STORE at a store)"
)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["status"], 1),
        (["status", "inventory", "--json"], 1),
        (["events"], 1),
        (["events", "--follow"], 1),
        (["evaluate", "inventory"], 2),  # evaluate: 1 means "not ready"
    ],
)
def test_read_only_commands_refuse_a_missing_store(
    cli: Cli, tmp_path: Path, args: list[str], code: int
) -> None:
    result = cli(*args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == f"error: no store at {tmp_path / 'i.db'} {HINT}\n"
    assert not (tmp_path / "i.db").exists()
    assert not (tmp_path / ".interlock").exists()


def test_a_relative_store_is_named_by_its_absolute_path(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(
        main, ["status"], env={"INTERLOCK_STORE": "sqlite:///data/x.db?busy_timeout=5"}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no store at {elsewhere / 'data' / 'x.db'} (")
    assert not (elsewhere / "data").exists()


def test_an_empty_store_variable_means_the_default(cli: Cli, tmp_path: Path) -> None:
    """Click treats an empty INTERLOCK_STORE as unset: the default ./interlock.db, named
    in full so that the working directory it depends on is visible."""
    result = CliRunner().invoke(main, ["events"], env={"INTERLOCK_STORE": ""})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no store at {tmp_path / 'interlock.db'} (")


def test_writing_commands_create_the_store(cli: Cli, tmp_path: Path) -> None:
    result = cli("emit", "inventory", "stock", "status=done", "--allow-unknown")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "i.db").exists()
    assert cli("status").exit_code == 0


def test_the_pipelines_apply_creates_the_store_for_a_read_only_command(
    cli: Cli, tmp_path: Path
) -> None:
    cli.write("inventory.yaml", INVENTORY)
    result = cli("evaluate", "inventory", "--period", PERIOD, auto=True)
    assert result.exit_code == 1  # not ready: the store was created by the apply
    assert "applied: inventory created" in result.stderr
    assert (tmp_path / "i.db").exists()


def test_an_empty_pipelines_directory_does_not_create_the_store(cli: Cli, tmp_path: Path) -> None:
    result = cli("status", auto=True)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"warning: no pipeline files (*.yaml, *.yml) in {cli.pipelines}; nothing applied "
        "(the store's pipelines stay as they are)",
        f"error: no store at {tmp_path / 'i.db'} {HINT}",
    ]
    assert not (tmp_path / "i.db").exists()


def test_other_stores_are_not_checked(cli: Cli) -> None:
    result = CliRunner().invoke(main, ["--store", "memory://", "status"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "no runs yet\n"


def test_sqlite_file() -> None:
    assert sqlite_file("sqlite:///x.db") == Path("x.db")
    assert sqlite_file("sqlite:////abs/x.db?busy_timeout=3") == Path("/abs/x.db")
    assert sqlite_file("sqlite:///") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite://x.db") is None
    assert sqlite_file("memory://") is None
    assert sqlite_file("dynamodb://table") is None


@pytest.mark.parametrize(
    "args",
    [
        ["emit", "inventory", "stock", "status=done"],
        ["open", "inventory", PERIOD],
        ["rerun", "inventory", PERIOD],
        ["claim", "inventory", PERIOD, "--owner", "me"],
        ["resolve", "inventory", PERIOD, "--failed"],
        ["apply", "no-such-directory"],
    ],
)
def test_a_mistyped_store_leaves_no_empty_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["--store", "sqlite:///./tpyo/interlcok.db", *args], catch_exceptions=False
    )
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its folder


def test_a_new_store_that_was_written_to_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--store", "sqlite:///./new/i.db", "emit", "x", "k", "a=1", "--allow-unknown"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "new" / "i.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["emit", "inventory", "k", "a=1"],
        ["open", "inventory", PERIOD],
        ["rerun", "inventory", PERIOD],
        ["claim", "inventory", PERIOD, "--owner", "me"],
    ],
)
def test_unknown_pipeline_in_a_store_that_did_not_exist_names_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    # `interlock --store sqlite:///./tpyo.db emit ...`: the pipeline is not the problem.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--store", "sqlite:///./tpyo.db", *args])
    assert result.exit_code != 0
    assert "unknown pipeline 'inventory'" in result.stderr
    assert f"no store existed at {tmp_path / 'tpyo.db'}: is --store / INTERLOCK_STORE right?" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_unknown_pipeline_in_an_existing_store_has_no_store_hint(cli: Cli) -> None:
    cli.apply_all()
    result = cli("emit", "nope", "k", "a=1")
    assert result.exit_code == 1
    assert "no store existed" not in result.stderr
