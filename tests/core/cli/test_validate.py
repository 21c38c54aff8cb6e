"""``interlock validate`` of directories: the runtime settings file, directories without
pipeline files, and YAML files in subdirectories that are never loaded (item 4)."""

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from interlock_core import cli as cli_module
from interlock_core.alerts.routing import ALERT_CONFIG_FILENAME
from interlock_core.cli import main
from tests.core.cli.conftest import INVENTORY, ORDERS

BAD_SETTINGS = """\
alerts:
  channels:
    ops: {type: slak}
  routes:
    - {events: [SLA_BREECH], channels: [ops]}
"""

GOOD_SETTINGS = """\
alerts:
  channels:
    log: {type: log}
  routes:
    - {events: ["*"], channels: [log]}
"""


def _validate(*paths: Path | str) -> Result:
    result = CliRunner().invoke(main, ["validate", *map(str, paths)], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "project" / "pipelines"
    folder.mkdir(parents=True)
    (folder / "orders.yaml").write_text(ORDERS, encoding="utf-8")
    return folder


def test_the_settings_file_name_is_the_runtimes() -> None:
    assert cli_module.SETTINGS_FILE == ALERT_CONFIG_FILENAME


@pytest.mark.parametrize("where", ["inside", "beside"])
def test_settings_errors_fail_like_pipeline_errors(pipelines: Path, where: str) -> None:
    folder = pipelines if where == "inside" else pipelines.parent
    settings = folder / "interlock.yaml"
    settings.write_text(BAD_SETTINGS, encoding="utf-8")
    result = _validate(pipelines)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{settings}: alerts.channels.ops: unknown channel type 'slak'" in result.stdout
    assert any(
        line.startswith(f"{settings}: alerts.routes[0].events: unknown event type")
        for line in lines
    )
    assert f"ok: {pipelines / 'orders.yaml'} (orders)" in lines
    assert lines[-1] == "2 errors in 1 file; 1 pipeline valid"


def test_a_valid_settings_file_is_listed(pipelines: Path) -> None:
    (pipelines / "interlock.yaml").write_text(GOOD_SETTINGS, encoding="utf-8")
    result = _validate(pipelines)
    assert result.exit_code == 0, result.stdout
    assert f"ok: {pipelines / 'interlock.yaml'} (runtime settings)" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "1 pipeline valid"


def test_a_relative_directory_names_its_settings_file_relatively(
    pipelines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pipelines.parent / "interlock.yaml").write_text(BAD_SETTINGS, encoding="utf-8")
    monkeypatch.chdir(pipelines.parent)
    result = _validate("pipelines")
    assert result.exit_code == 1
    assert result.stdout.startswith("interlock.yaml: alerts.channels.ops:")


def test_a_settings_file_given_by_name(pipelines: Path) -> None:
    settings = pipelines / "interlock.yaml"
    settings.write_text("alerts: [1]\n", encoding="utf-8")
    result = _validate(settings)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{settings}: alerts: must be a mapping",
        "1 error in 1 file; 0 pipelines valid",
    ]
    # Checked once, even when its directory is given too.
    both = _validate(pipelines, settings)
    assert both.stdout.splitlines()[-1] == "1 error in 1 file; 1 pipeline valid"
    missing = _validate(pipelines / "sub" / "interlock.yaml")
    assert missing.exit_code == 1
    assert "interlock.yaml: file not found" in missing.stdout


def test_interlock_yml_is_read_unless_an_interlock_yaml_wins(pipelines: Path) -> None:
    (pipelines / "interlock.yml").write_text(GOOD_SETTINGS, encoding="utf-8")
    result = _validate(pipelines)
    assert result.exit_code == 0
    assert not any("not read" in line for line in result.stdout.splitlines())
    (pipelines / "interlock.yaml").write_text(GOOD_SETTINGS, encoding="utf-8")
    result = _validate(pipelines)
    assert (
        f"warning: {pipelines / 'interlock.yml'}: not read by the runtime; it reads "
        f"{pipelines / 'interlock.yaml'}"
    ) in result.stdout.splitlines()


def test_a_directory_without_pipeline_files_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not yaml", encoding="utf-8")
    result = _validate(empty)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"warning: no pipeline files (*.yaml, *.yml) in {empty}",
        "no pipeline files in 1 directory; 0 pipelines valid",
    ]


def test_the_parent_of_the_pipelines_directory_gets_a_hint(pipelines: Path) -> None:
    project = pipelines.parent
    (project / "calendars").mkdir()
    (project / "calendars" / "holidays.yaml").write_text("name: holidays\n", encoding="utf-8")
    result = _validate(project)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"warning: no pipeline files (*.yaml, *.yml) in {project} — did you mean {pipelines}?",
        f"warning: {pipelines}: 1 YAML file in a subdirectory, not loaded (pipeline files must "
        f"be directly in {project})",
        "no pipeline files in 1 directory; 0 pipelines valid",
    ]


def test_yaml_in_subdirectories_is_a_warning(pipelines: Path) -> None:
    (pipelines / "old").mkdir()
    (pipelines / "old" / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    (pipelines / "old" / "deeper").mkdir()
    (pipelines / "old" / "deeper" / "x.yml").write_text(INVENTORY, encoding="utf-8")
    (pipelines / "calendars").mkdir()  # calendars are loaded, not pipelines: no warning
    (pipelines / "calendars" / "c.yaml").write_text("name: c\n", encoding="utf-8")
    (pipelines / ".git").mkdir()  # hidden folders are not looked into
    (pipelines / ".git" / "x.yaml").write_text("a: 1\n", encoding="utf-8")
    result = _validate(pipelines)
    assert result.exit_code == 0, result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {pipelines / 'old'}: 2 YAML files in a subdirectory, not loaded (pipeline "
        f"files must be directly in {pipelines})"
    ]


def test_file_names_cannot_forge_output_lines(pipelines: Path) -> None:
    # A file named "x\nok: fake.yaml (orders).yaml" printed a forged "ok:" line.
    (pipelines / "x\nok: fake.yaml (orders)\x1b[2J.yaml").write_text(
        "pipeline: {id: x}\nbogus: 1\n"
    )
    result = _validate(pipelines)
    assert result.exit_code == 1
    assert not [line for line in result.output.splitlines() if line.startswith("ok: fake")]
    assert "\x1b" not in result.output
    assert "x\\nok: fake.yaml (orders)\\x1b[2J.yaml" in result.output
