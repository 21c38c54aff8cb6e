"""Fixtures for the Dagster integration tests: real Dagster, a real SQLite Interlock store."""

import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from integrations.dagster import InterlockResource, close_engines
from interlock_core import Interlock
from interlock_core.clock import ManualClock
from tests.dagster_tests.helpers import NOW

HERE = Path(__file__).parent

# A job-less daily pipeline gated on one producer sensor (UTC, so the current period is the
# UTC date and matches Dagster's UTC daily partitions).
INVENTORY = """
pipeline:
  id: inventory
  owner: supply-chain
schedule:
  timezone: UTC
  trigger:
    key: stock-export
    check: equals
    field: status
    value: done
  evaluation:
    window: 2h
    interval: 5m
validation:
  trigger: ALL
  rules:
    - key: stock-export
      check: equals
      field: status
      value: done
    - key: stock-export
      check: gte
      field: rows
      value: 1
job:
  claimTimeout: 6h
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Dagster deprecations fail these tests (the integration must use current APIs)."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::DeprecationWarning"))


@pytest.fixture(scope="session")
def instance() -> Iterator[dg.DagsterInstance]:
    """One persistent Dagster instance for the session (creating one costs seconds); tests
    stay apart by their own cursors, run tags and Interlock stores."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(textwrap.dedent(INVENTORY))
    other = INVENTORY.replace("id: inventory", "id: inventory-eu")
    (folder / "inventory-eu.yaml").write_text(textwrap.dedent(other))
    hourly = INVENTORY.replace("id: inventory", "id: orders-hourly").replace(
        "  timezone: UTC", "  timezone: UTC\n  period: hourly"
    )
    (folder / "orders-hourly.yaml").write_text(textwrap.dedent(hourly))
    return folder


@pytest.fixture
def interlock(tmp_path: Path, pipelines_dir: Path) -> Iterator[InterlockResource]:
    resource = InterlockResource(
        store=f"sqlite:///{tmp_path / 'interlock.db'}", pipelines=str(pipelines_dir)
    )
    # The engine is built once per process and shared by the resource: freeze its clock.
    resource.get_engine().clock = ManualClock(NOW)
    yield resource
    close_engines()


@pytest.fixture
def engine(interlock: InterlockResource) -> Interlock:
    return interlock.get_engine()
