"""Every scenario file, played against the engine on memory:// and on SQLite."""

from pathlib import Path

import pytest

from tests.scenarios.harness import ScenarioPlayer

FILES = sorted((Path(__file__).parent / "files").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_memory(path: Path) -> None:
    ScenarioPlayer(path).play()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_sqlite(path: Path, tmp_path: Path) -> None:
    ScenarioPlayer(path, f"sqlite:///{tmp_path / 'interlock.db'}").play()
