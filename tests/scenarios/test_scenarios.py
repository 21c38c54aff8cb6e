"""Every scenario file, played against the engine on memory://, on SQLite and on PostgreSQL.

On memory:// every simulated minute runs the controller, and proves that the minutes the
SQLite and PostgreSQL replays (and the AWS one) skip are ones where nothing happens
(``check_skips``; tests/scenarios/quiet.py).
"""

from pathlib import Path

import pytest

from tests.postgres_server import fresh_schema
from tests.scenarios.harness import ScenarioPlayer

FILES = sorted((Path(__file__).parent / "files").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_memory(path: Path) -> None:
    # Every minute, as the local controller would, and proof that the other replays may skip
    # the minutes they skip (check_skips: a skipped minute must be one that does nothing).
    ScenarioPlayer(path, check_skips=True).play()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_sqlite(path: Path, tmp_path: Path) -> None:
    ScenarioPlayer(path, f"sqlite:///{tmp_path / 'interlock.db'}", skip_idle=True).play()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_postgres(path: Path) -> None:
    with fresh_schema() as url:
        player = ScenarioPlayer(path, url, skip_idle=True)
        try:
            player.play()
        finally:
            player.store.close()
