"""What `interlock run` prints is escaped: file names cannot drive the terminal."""

import io
from pathlib import Path

from interlock_core.runtime import run_local


def test_names_in_run_output_are_escaped(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "evil\x1b[2J\nFAKE LINE.yaml").write_text("pipeline: [not, a, mapping]\n")
    out = io.StringIO()
    assert run_local(f"sqlite:///{tmp_path / 'i.db'}", pipelines, once=True, stream=out) == 0
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\\x1b[2J\\nFAKE LINE.yaml" in text
    assert not [line for line in text.splitlines() if line.startswith("FAKE LINE")]
