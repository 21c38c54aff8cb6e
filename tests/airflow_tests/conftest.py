"""Real Airflow 3 for the provider's tests, isolated from every other test folder.

Airflow reads ``AIRFLOW_HOME`` and its config file when it is first imported, so this module
prepares both before anything imports Airflow: a private home per pytest-xdist worker (each
worker gets its own metadata database), an ``airflow.cfg`` that points the DAGs folder at
``tests/airflow_tests/dags`` and the database into that home. The environment variables are
only needed for that first import and are removed right after it; every Airflow test then runs
with the process environment restored afterwards (Airflow's task runner exports
``AIRFLOW_CTX_*`` variables into ``os.environ``), so nothing Airflow-related leaks into the
other test folders run by the same worker.
"""

import atexit
import importlib.util
import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DAGS_FOLDER = HERE / "dags"
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix=f"interlock-airflow-{_WORKER}-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)


def _prepare_airflow() -> None:
    (AIRFLOW_HOME / "airflow.cfg").write_text(
        textwrap.dedent(
            f"""\
            [core]
            dags_folder = {DAGS_FOLDER}
            load_examples = False
            [database]
            sql_alchemy_conn = sqlite:///{AIRFLOW_HOME}/airflow.db
            [logging]
            base_log_folder = {AIRFLOW_HOME}/logs
            [sensors]
            default_timeout = 60
            """
        )
    )
    first_import_env = {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW_CONFIG": str(AIRFLOW_HOME / "airflow.cfg"),
    }
    saved = {name: os.environ.get(name) for name in first_import_env}
    os.environ.update(first_import_env)
    try:
        import airflow.configuration
        import airflow.sdk
        import airflow.settings

        assert str(airflow.configuration.AIRFLOW_HOME) == str(AIRFLOW_HOME)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if importlib.util.find_spec("airflow") is None and os.environ.get("CI") != "true":
    # `pip install -e .` without the airflow extra: nothing here can run (in CI it must).
    collect_ignore_glob = ["*"]
else:
    _prepare_airflow()


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Undo whatever an Airflow test (or Airflow itself) put into ``os.environ``."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    """Every test starts without cached engines (each uses its own store)."""
    from integrations.airflow.engines import forget_engines

    forget_engines()
    yield
    forget_engines()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated, empty Airflow metadata database (once per worker; about a second)."""
    from airflow.utils import db

    db.resetdb()


# ----------------------------------------------------------------------------- Interlock

INVENTORY = """\
pipeline: {id: inventory, owner: test}
schedule:
  timezone: UTC
  trigger: {key: stock, check: equals, field: status, value: done}
  exclude: {dates: ["2026-12-25"]}
validation:
  trigger: ALL
  rules:
    - {key: stock, check: equals, field: status, value: done}
    - {key: stock, check: gte, field: rows, value: 1}
    - {key: feed, check: in, field: state, value: [complete, partial]}
"""

UPSTREAM = """\
pipeline: {id: upstream, owner: test}
schedule:
  timezone: UTC
validation:
  trigger: ALL
  rules:
    - {key: ready, check: exists}
"""

HOURLY = """\
pipeline: {id: hourly, owner: test}
schedule:
  timezone: Europe/London
  period: hourly
validation:
  trigger: ALL
  rules:
    - {key: batch, check: exists}
"""

WITH_JOB = """\
pipeline: {id: with-job, owner: test}
schedule:
  timezone: UTC
validation:
  trigger: ALL
  rules:
    - {key: ready, check: exists}
job:
  type: command
  config: {command: ["true"]}
"""

# What makes the inventory gate pass.
STOCK = {"status": "done", "rows": 1204}
FEED = {"state": "complete"}


@dataclass
class InterlockSetup:
    """A SQLite store with the test pipelines applied, and its URL."""

    url: str
    pipelines: Path

    def engine(self):  # -> interlock_core.engine.Interlock
        """A separate engine on the same store (what another process would use)."""
        from interlock_core import Interlock, open_store

        return Interlock(open_store(self.url))

    def make_ready(self, period: str) -> None:
        """Write the sensors that pass the inventory gate for ``period``."""
        engine = self.engine()
        engine.emit("inventory", "stock", STOCK, period)
        engine.emit("inventory", "feed", FEED, period)


@pytest.fixture
def interlock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InterlockSetup:
    """A store with the test pipelines, named by INTERLOCK_STORE (no Airflow connection)."""
    from interlock_core import Interlock, load_pipelines, open_store

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    for name, text in {
        "inventory": INVENTORY,
        "upstream": UPSTREAM,
        "hourly": HOURLY,
        "with-job": WITH_JOB,
    }.items():
        (pipelines / f"{name}.yaml").write_text(text)
    url = f"sqlite:///{tmp_path / 'interlock.db'}"
    engine = Interlock(open_store(url))
    engine.apply(load_pipelines(pipelines))
    engine.store.close()
    monkeypatch.setenv("INTERLOCK_STORE", url)
    monkeypatch.delenv("INTERLOCK_PIPELINES", raising=False)
    return InterlockSetup(url, pipelines)
