"""Fixtures for the CLI tests: a SQLite store, a pipelines directory and a CLI runner."""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from interlock_core.cli import main
from interlock_core.engine import Interlock
from interlock_core.storage import Store, open_store

ORDERS = """\
pipeline: {id: orders, owner: test}
schedule:
  timezone: UTC
  trigger: {key: upstream, check: equals, field: status, value: ready}
  evaluation: {window: 2h, interval: 5m}
validation:
  trigger: ALL
  rules:
    - {key: upstream, check: equals, field: status, value: ready}
    - {key: counts, check: gte, field: count, value: 1000}
job:
  type: command
  config: {command: ["python3", "-c", "print(1)"]}
"""

INVENTORY = """\
pipeline: {id: inventory, owner: test}
schedule:
  timezone: UTC
  trigger: {key: stock, check: equals, field: status, value: done}
validation:
  trigger: ALL
  rules:
    - {key: stock, check: equals, field: status, value: done}
"""

FRESH = """\
pipeline: {id: fresh, owner: test}
schedule: {timezone: UTC}
validation:
  trigger: ALL
  rules:
    - {key: heartbeat, check: age_lt, value: 1h}
"""

# Line 10 holds the typo, so errors must point at bad.yaml:10.
BROKEN_ORDERS = ORDERS.replace("check: gte", "check: gtee")

PERIOD = "2026-03-04"


@dataclass
class Cli:
    """Runs ``interlock`` in-process against one store and one pipelines directory."""

    store_url: str
    pipelines: Path
    opened: list[Store] = field(default_factory=list)

    def __call__(self, *args: str, auto: bool = False) -> Result:
        """Invoke ``interlock --store URL [--pipelines DIR] ARGS``."""
        prefix = ["--store", self.store_url]
        if auto:
            prefix += ["--pipelines", str(self.pipelines)]
        # A fixed width keeps tables from wrapping; no INTERLOCK_* from the outer shell.
        env = {"COLUMNS": "240", "NO_COLOR": "1", "INTERLOCK_STORE": None}
        env["INTERLOCK_PIPELINES"] = None
        result = CliRunner().invoke(main, [*prefix, *args], env=env, catch_exceptions=False)
        # Errors are one line and never a traceback, whatever the command.
        if "--debug" not in args:
            assert "Traceback" not in result.stderr, result.stderr
        return result

    def write(self, name: str, text: str) -> Path:
        """Write a pipeline file into the directory."""
        path = self.pipelines / name
        path.write_text(text, encoding="utf-8")
        return path

    def store(self) -> Store:
        """A separate connection to the store, for checking what was written."""
        store = open_store(self.store_url)
        self.opened.append(store)
        return store

    def engine(self) -> Interlock:
        """An engine on the same store (no runners: nothing here submits jobs)."""
        return Interlock(self.store())

    def apply_all(self) -> None:
        """Write the three standard pipelines and apply them."""
        self.write("orders.yaml", ORDERS)
        self.write("inventory.yaml", INVENTORY)
        self.write("fresh.yaml", FRESH)
        result = self("apply", str(self.pipelines))
        assert result.exit_code == 0, result.stderr


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI on ``sqlite:///<tmp>/i.db`` with an empty pipelines directory."""
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    # Relative paths in commands resolve against tmp_path, never the repository.
    monkeypatch.chdir(tmp_path)
    assert os.getcwd() == str(tmp_path)
    runner = Cli(f"sqlite:///{tmp_path / 'i.db'}", pipelines)
    yield runner
    for store in runner.opened:
        store.close()


@pytest.fixture
def ready_cli(cli: Cli) -> Cli:
    """The CLI with orders, inventory and fresh applied."""
    cli.apply_all()
    return cli
