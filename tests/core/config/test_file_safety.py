"""Config files are read defensively: links out of the directory, FIFOs, and what errors echo."""

import os
import threading
from pathlib import Path

import pytest

from interlock_core.alerts.routing import alert_config_path, load_alert_config
from interlock_core.config.errors import ConfigError
from interlock_core.config.loader import find_calendar_dirs, load_pipelines

PIPELINE = "pipeline: {id: orders}\nschedule: {cron: '0 6 * * *'}\n"
SECRET_LINES = "root:$6$SALTSALT$TOPSECRETHASH:19000:0:99999:7:::\nDB_PASSWORD=hunter2-secret\n"


def errors_text(directory: Path) -> str:
    return "\n".join(str(error) for error in load_pipelines(directory).errors)


def test_a_link_to_a_file_outside_the_directory_is_refused_without_its_content(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SECRET_LINES)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "x.yaml").symlink_to(secret)
    (pipelines / "env.yaml").symlink_to(secret)
    text = errors_text(pipelines)
    assert "symbolic link to a file outside its directory" in text
    assert "TOPSECRET" not in text and "hunter2" not in text and "root:" not in text


def test_links_inside_the_directory_work_like_a_configmap_mount(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    data = pipelines / "..2026_03_04" / "orders.yaml"
    data.parent.mkdir(parents=True)
    data.write_text(PIPELINE)
    (pipelines / "..data").symlink_to(data.parent.name)
    (pipelines / "orders.yaml").symlink_to("..data/orders.yaml")
    result = load_pipelines(pipelines)
    assert result.errors == []
    assert list(result.pipelines) == ["orders"]


def test_unknown_keys_are_named_truncated(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    long_key = "k" * 30 + "SECRETTAIL" * 20
    (pipelines / "orders.yaml").write_text(PIPELINE + f"{long_key}: 1\n")
    text = errors_text(pipelines)
    assert "unknown key" in text
    assert "SECRETTAIL" * 3 not in text


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    os.mkfifo(pipelines / "orders.yaml")
    os.mkfifo(pipelines / "interlock.yaml")
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(errors_text(pipelines)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert outcome, "reading a FIFO hung"
    assert "is not a regular file" in outcome[0]
    with pytest.raises(ConfigError, match="not a regular file"):
        load_alert_config(pipelines / "interlock.yaml", {})


def test_interlock_yaml_is_parsed_with_the_hardened_loader(tmp_path: Path) -> None:
    settings = tmp_path / "interlock.yaml"
    settings.write_text("alerts:\n  routes: []\nalerts:\n  routes: []\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_alert_config(settings, {})
    settings.write_text("alerts: " + "[" * 80 + "]" * 80 + "\n")
    with pytest.raises(ConfigError, match="nested more than"):
        load_alert_config(settings, {})
    settings.write_text("alerts: {}\n# " + "x" * (1024 * 1024 + 10) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_alert_config(settings, {})
    settings.write_text("alerts: !!python/object:os.system {}\n")
    with pytest.raises(ConfigError):
        load_alert_config(settings, {})


def test_nothing_is_read_from_a_world_writable_parent(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    pipelines = shared / "pipelines"
    pipelines.mkdir(parents=True)
    (shared / "calendars").mkdir()
    (shared / "interlock.yaml").write_text("alerts: {}\n")
    shared.chmod(0o1777)  # like /tmp: anyone could have put those there
    try:
        assert find_calendar_dirs(pipelines) == []
        assert alert_config_path(pipelines) == (pipelines / "interlock.yaml").resolve()
        shared.chmod(0o755)  # the operator's own folder: beside the pipelines is fine
        assert find_calendar_dirs(pipelines) == [pipelines.parent / "calendars"]
        assert alert_config_path(pipelines) == (shared / "interlock.yaml").resolve()
    finally:
        shared.chmod(0o755)


def test_run_and_validate_refuse_a_second_settings_file_inside(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from interlock_core.cli import main

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "orders.yaml").write_text(PIPELINE)
    (tmp_path / "interlock.yaml").write_text("jobs: {types: [http]}\n")
    (pipelines / "interlock.yaml").write_text("jobs: {types: [command, http]}\n")
    store = f"sqlite:///{tmp_path / 'interlock.db'}"
    runner = CliRunner()
    ran = runner.invoke(main, ["--store", store, "run", "--once", "--pipelines", str(pipelines)])
    assert ran.exit_code == 1 and "two settings files" in ran.output
    checked = runner.invoke(main, ["validate", str(pipelines)])
    assert checked.exit_code == 1 and "two settings files" in checked.output


def test_a_calendars_folder_linked_outside_is_refused_without_its_content(tmp_path: Path) -> None:
    # Only the file itself was checked for a link: calendars -> /etc-like folder put its
    # files' first 40 characters (a password hash) into CONFIG_INVALID, alerted by default.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "us.yaml").write_text(SECRET_LINES)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "orders.yaml").write_text(PIPELINE)
    (pipelines / "calendars").symlink_to(outside)
    text = errors_text(pipelines)
    assert "symbolic link to a file outside its directory" in text
    assert "SALTSALT" not in text and "root:" not in text


def test_a_configmap_style_calendars_link_inside_is_fine(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    data = pipelines / "..2026_03_04"
    (data / "calendars").mkdir(parents=True)
    (data / "calendars" / "us.yaml").write_text("dates: ['2026-12-25']\n")
    (data / "orders.yaml").write_text(PIPELINE)
    (pipelines / "..data").symlink_to("..2026_03_04")
    (pipelines / "calendars").symlink_to("..data/calendars")
    (pipelines / "orders.yaml").symlink_to("..data/orders.yaml")
    loaded = load_pipelines(pipelines)
    assert loaded.errors == []
    assert set(loaded.calendars) == {"us"}
