"""``has_pipeline_files``: the emptiness check of ``interlock apply``/``validate`` follows the
loader's rule for which files are pipelines, without listing the whole directory."""

from pathlib import Path

from interlock_core.cli import has_pipeline_files
from interlock_core.config.loader import load_pipelines


def test_only_what_the_loader_reads_counts(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    (folder / "sub.yaml").mkdir(parents=True)  # a folder named like a file
    (folder / ".hidden.yaml").write_text("pipeline: {id: h}\n")
    (folder / "interlock.YAML").write_text("alerts: {}\n")
    (folder / "notes.txt").write_text("x\n")
    assert not has_pipeline_files(folder)
    assert not load_pipelines(folder).pipelines and not load_pipelines(folder).errors
    (folder / "p.YML").write_text("pipeline: {id: p}\n")
    assert has_pipeline_files(folder)
    assert not has_pipeline_files(tmp_path / "missing")
