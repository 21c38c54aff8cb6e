"""``interlock validate``: exit codes, file:line messages, never a traceback."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import interlock_core.cli
from interlock_core.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "pipelines"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_valid_directory_exits_0() -> None:
    code, output = run("validate", str(EXAMPLES))
    assert code == 0
    assert output.splitlines()[-1] == "4 pipelines valid"
    assert f"ok: {EXAMPLES / 'gold-revenue.yaml'} (gold-revenue)" in output


def test_errors_exit_1_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("pipeline: {id: good}\n")
    (tmp_path / "bad.yaml").write_text(
        "pipeline: {id: bad}\nschedule:\n  cronn: '0 8 * * *'\n  timezone: Nowhere\n"
    )
    code, output = run("validate", str(tmp_path))
    assert code == 1
    bad = tmp_path / "bad.yaml"
    assert output.splitlines() == [
        f"{bad}:3: schedule.cronn: unknown key 'cronn' (did you mean 'cron'?)",
        f"{bad}:4: schedule.timezone: unknown time zone 'Nowhere' (use an IANA name such as 'UTC')",
        f"ok: {tmp_path / 'good.yaml'} (good)",
        "2 errors in 1 file; 1 pipeline valid",
    ]


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    (tmp_path / "name.yaml").write_text("pipeline: {id: other}\n")
    code, output = run("validate", str(tmp_path / "name.yaml"))
    assert code == 0
    assert output.splitlines()[0] == (
        f"warning: {tmp_path / 'name.yaml'}:1: pipeline.id: file name 'name' differs from "
        "pipeline.id 'other'; runs are keyed by the id 'other'"
    )
    assert output.splitlines()[-1] == "1 pipeline valid"


def test_files_and_directories_together(tmp_path: Path) -> None:
    (tmp_path / "junk.yaml").write_bytes(b"\x00\xff binary junk")
    code, output = run(
        "validate", str(EXAMPLES), str(tmp_path / "junk.yaml"), str(tmp_path / "missing.yaml")
    )
    assert code == 1
    assert f"{tmp_path / 'missing.yaml'}: file not found" in output.splitlines()
    assert output.splitlines()[-1] == "2 errors in 2 files; 4 pipelines valid"


def test_missing_directory_argument(tmp_path: Path) -> None:
    code, output = run("validate", str(tmp_path / "nope" / "x.yaml"))
    assert code == 1
    assert output.splitlines() == [
        f"{tmp_path / 'nope' / 'x.yaml'}: file not found",
        "1 error in 1 file; 0 pipelines valid",
    ]


def test_validate_needs_a_path() -> None:
    code, output = run("validate")
    assert code == 2
    assert "Missing argument 'PATHS...'" in output


def test_unexpected_errors_are_one_line_without_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(interlock_core.cli, "load_pipelines", boom)
    code, output = run("validate", str(EXAMPLES))
    assert code == 1
    assert output == "error: RuntimeError: disk on fire (run with --debug for details)\n"
    # --debug shows the traceback: printed, or the exception left to propagate.
    result = CliRunner().invoke(main, ["--debug", "validate", str(EXAMPLES)])
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError) or (
        "Traceback" in result.output and "disk on fire" in result.output
    )


def test_help_lists_validate() -> None:
    code, output = run("--help")
    assert code == 0
    assert "validate" in output
