"""``interlock aws``: lazily attached to the core CLI; ``create-tables`` against moto."""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from aws_runtime import cli as aws_cli
from interlock_core.cli import main
from tests.core.storage.dynamodb_support import REGION, STORE_URL, set_aws_env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    set_aws_env(monkeypatch)
    with mock_aws():
        yield


def test_create_tables_creates_then_finds_them(aws: None) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["aws", "create-tables", "--store", STORE_URL, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["tables"] == {
        "interlock-control": "created",
        "interlock-events": "created",
    }
    again = runner.invoke(main, ["--store", STORE_URL, "aws", "create-tables"])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == ["interlock-control: exists", "interlock-events: exists"]
    client = boto3.client("dynamodb", region_name=REGION)
    table = client.describe_table(TableName="interlock-control")["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"GSI1", "DUE"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["aws", "create-tables"], "name the tables with --store"),
        (["aws", "create-tables", "--store", "dynamodb://c"], "names no events table"),
    ],
)
def test_create_tables_needs_a_dynamodb_url(aws: None, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--store", "sqlite:///x.db", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_without_boto3_the_aws_commands_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = aws_cli.importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "boto3" else real(name, *args)

    monkeypatch.setattr(aws_cli.importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(main, ["aws", "create-tables"])
    assert result.exit_code == 1
    assert "pip install 'interlock[aws]'" in result.output


def test_a_plugin_that_cannot_be_imported_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aws_runtime.cli", None)
    result = CliRunner().invoke(main, ["aws", "create-tables"])
    assert result.exit_code == 1
    assert "pip install 'interlock[aws]'" in result.output


def test_help_lists_aws_without_importing_boto3() -> None:
    code = (
        "import sys\n"
        "from interlock_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('BOTO3' if 'boto3' in sys.modules else 'CLEAN')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "aws " in result.stdout
    assert result.stdout.strip().endswith("CLEAN")
