"""Every scenario file, played against the engine on memory://, on SQLite and on PostgreSQL."""

from pathlib import Path

import pytest

from tests.postgres_server import fresh_schema
from tests.scenarios.harness import ScenarioPlayer

FILES = sorted((Path(__file__).parent / "files").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_memory(path: Path) -> None:
    ScenarioPlayer(path).play()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_sqlite(path: Path, tmp_path: Path) -> None:
    ScenarioPlayer(path, f"sqlite:///{tmp_path / 'interlock.db'}").play()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_postgres(path: Path) -> None:
    with fresh_schema() as url:
        player = ScenarioPlayer(path, url)
        try:
            player.play()
        finally:
            player.store.close()
