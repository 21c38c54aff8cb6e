"""Re-applying a directory validates only the files that changed since they produced the
stored configs; a change to a calendar or the settings file re-validates the pipelines."""

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlock_core.applying import load_changed
from interlock_core.cli import main
from interlock_core.clock import ManualClock
from interlock_core.config.errors import ConfigError
from interlock_core.engine import Interlock
from interlock_core.events import EventType
from interlock_core.storage import open_store

DAILY = """\
pipeline: {{id: {id}}}
schedule:
  cron: "0 8 * * *"
  exclude: {{calendars: [holidays]}}
validation:
  rules: [{{key: rows, check: gte, field: count, value: {value}}}]
"""
HOLIDAYS = "name: holidays\ndates: ['2026-12-25']\n"


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Interlock:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'store.db'}"
    return Interlock(open_store(url), {}, ManualClock(dt.datetime(2026, 3, 4, tzinfo=dt.UTC)))


def _directory(tmp_path: Path, count: int = 3) -> Path:
    directory = tmp_path / "pipelines"
    (directory / "calendars").mkdir(parents=True)
    (directory / "calendars" / "holidays.yaml").write_text(HOLIDAYS)
    for number in range(count):
        text = DAILY.format(id=f"p{number}", value=100 + number)
        (directory / f"p{number}.yaml").write_text(text)
    return directory


def _actions(engine: Interlock, directory: Path) -> dict[str, str]:
    result = engine.apply(load_changed(engine, directory), partial=False)
    return {change.pipeline_id: change.action for change in result.changes}


def test_unchanged_files_are_not_validated_again(engine: Interlock, tmp_path: Path) -> None:
    directory = _directory(tmp_path)
    assert set(_actions(engine, directory).values()) == {"created"}
    again = load_changed(engine, directory)
    assert again.pipelines == {} and sorted(again.unchanged) == ["p0", "p1", "p2"]
    before = engine.events()
    assert _actions(engine, directory) == {f"p{n}": "unchanged" for n in range(3)}
    assert engine.events() == before  # nothing to record

    (directory / "p1.yaml").write_text(DAILY.format(id="p1", value=999))
    edited = load_changed(engine, directory)
    assert list(edited.pipelines) == ["p1"] and sorted(edited.unchanged) == ["p0", "p2"]
    assert _actions(engine, directory) == {"p0": "unchanged", "p1": "updated", "p2": "unchanged"}
    active = engine.config("p1")
    assert active is not None and active.pipeline.validation.rules[0].value == 999
    assert sorted(load_changed(engine, directory).unchanged) == ["p0", "p1", "p2"]


def test_a_calendar_change_validates_every_pipeline_again(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    (directory / "calendars" / "holidays.yaml").write_text(
        "name: holidays\ndates: ['2026-12-25', '2026-12-26']\n"
    )
    reloaded = load_changed(engine, directory)
    assert reloaded.unchanged == {} and sorted(reloaded.pipelines) == ["p0", "p1", "p2"]
    assert set(_actions(engine, directory).values()) == {"updated"}  # the envelope holds it
    active = engine.config("p0")
    assert active is not None and len(active.calendars["holidays"].dates) == 2


def test_a_broken_calendar_is_reported_again_not_skipped(engine: Interlock, tmp_path: Path) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    (directory / "calendars" / "holidays.yaml").write_text("name: holidays\ndates: [nope]\n")
    reloaded = load_changed(engine, directory)
    assert reloaded.unchanged == {} and reloaded.errors
    with pytest.raises(ConfigError, match="holidays"):
        engine.apply(reloaded, partial=False)


def test_a_settings_change_validates_every_pipeline_again(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    (directory / "interlock.yaml").write_text("alerts: []\n")
    reloaded = load_changed(engine, directory)
    assert reloaded.unchanged == {} and sorted(reloaded.pipelines) == ["p0", "p1", "p2"]
    _actions(engine, directory)
    assert sorted(load_changed(engine, directory).unchanged) == ["p0", "p1", "p2"]


def test_a_file_with_warnings_is_loaded_every_time_so_they_repeat(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path, 1)
    (directory / "p0.yaml").write_text(
        DAILY.format(id="p0", value=1).replace("validation:", "Validation:")
    )
    first = load_changed(engine, directory)
    assert any("should be written 'validation'" in w for w in first.warnings)
    engine.apply(first, partial=False)
    second = load_changed(engine, directory)
    assert second.unchanged == {} and list(second.pipelines) == ["p0"]
    assert any("should be written 'validation'" in w for w in second.warnings)


def test_a_copy_of_an_unchanged_file_is_a_duplicate_of_both(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path, 2)
    _actions(engine, directory)
    (directory / "copy.yaml").write_text((directory / "p0.yaml").read_text())
    reloaded = load_changed(engine, directory)
    messages = sorted(str(error) for error in reloaded.errors)
    assert len(messages) == 2 and all("pipeline id 'p0' is also used by" in m for m in messages)
    assert any(m.startswith(f"{directory / 'p0.yaml'}:1: pipeline.id") for m in messages)
    assert "p0" not in reloaded.unchanged and "p0" not in reloaded.pipelines


def test_a_config_removed_after_the_load_is_loaded_from_its_file(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path, 2)
    _actions(engine, directory)
    reloaded = load_changed(engine, directory)
    assert engine.store.remove_config("p1", engine.clock.now())
    result = engine.apply(reloaded, partial=False)
    assert {c.pipeline_id: c.action for c in result.changes} == {
        "p0": "unchanged",
        "p1": "created",
    }


def test_a_removed_file_is_still_removed(engine: Interlock, tmp_path: Path) -> None:
    directory = _directory(tmp_path, 2)
    _actions(engine, directory)
    (directory / "p1.yaml").unlink()
    assert _actions(engine, directory) == {"p0": "unchanged", "p1": "removed"}
    assert [e.pipeline_id for e in engine.events(types=[EventType.PIPELINE_REMOVED])] == ["p1"]


def test_the_cli_says_the_same_on_a_re_apply(tmp_path: Path) -> None:
    directory = _directory(tmp_path)
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["--store", store, "apply", str(directory)])
    assert first.exit_code == 0, first.output
    assert first.output.strip().endswith("3 created")
    # The first apply into a new store already records which file produced each config.
    recorded = load_changed(Interlock(open_store(store)), directory)
    assert sorted(recorded.unchanged) == ["p0", "p1", "p2"] and recorded.pipelines == {}
    second = runner.invoke(main, ["--store", store, "apply", str(directory)])
    assert second.exit_code == 0, second.output
    assert second.output.strip().endswith("3 unchanged")
    (directory / "p2.yaml").write_text(DAILY.format(id="p2", value="[oops]"))
    broken = runner.invoke(main, ["--store", store, "apply", str(directory)])
    assert broken.exit_code == 1
    assert "p2.yaml:6: validation.rules[0].value" in broken.output
    assert "nothing was applied" in broken.output


def test_the_watcher_fingerprint_sees_every_config_file_change(tmp_path: Path) -> None:
    from interlock_core.runtime import PipelineWatcher

    directory = _directory(tmp_path, 2)
    (directory / "notes.txt").write_text("not a config")
    (directory / "folder.yaml").mkdir()
    (directory / ".yaml").write_text("a hidden file, as pathlib's suffix sees it")
    watcher = PipelineWatcher(Interlock(open_store("memory://")), directory)
    first = watcher.fingerprint()
    assert [Path(name).name for name, _size, _mtime in first] == [
        "p0.yaml",
        "p1.yaml",
        "holidays.yaml",
    ]
    assert watcher.fingerprint() == first
    (directory / "p1.yaml").write_text(DAILY.format(id="p1", value=123456))
    assert watcher.fingerprint() != first
    (directory / "calendars" / "more.yml").write_text(HOLIDAYS.replace("holidays", "more"))
    assert len(watcher.fingerprint()) == 4


def test_the_watcher_applies_a_calendar_change(tmp_path: Path) -> None:
    from interlock_core.runtime import PipelineWatcher

    directory = _directory(tmp_path, 2)
    engine = Interlock(open_store("memory://"))
    watcher = PipelineWatcher(engine, directory)
    assert watcher.sync() == ["p0: created", "p1: created"]
    assert watcher.sync() == []
    (directory / "calendars" / "holidays.yaml").write_text("name: holidays\ndates: []\n")
    assert watcher.sync() == ["p0: updated", "p1: updated"]


def test_a_missing_boto3_warning_repeats_on_a_re_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interlock_core.jobs.aws as aws

    monkeypatch.setattr(aws, "boto3_missing", lambda: "boto3 is not installed (test)")
    directory = _directory(tmp_path, 2)
    (directory / "p1.yaml").write_text(
        DAILY.format(id="p1", value=1) + "job:\n  type: glue\n  config: {jobName: etl}\n"
    )
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    for _ in range(2):
        result = CliRunner().invoke(main, ["--store", store, "apply", str(directory)])
        assert result.exit_code == 0, result.output
        assert "p1.yaml: job type glue needs boto3" in result.output
    engine = Interlock(open_store(store))
    assert list(load_changed(engine, directory).unchanged) == ["p0"]


@pytest.mark.parametrize(
    "change",
    ["croniter", "pydantic", "PyYAML", "sensors.py", "job_configs/http.py", "config/normalize.py"],
)
def test_an_upgrade_of_the_loading_code_validates_every_pipeline_again(
    engine: Interlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    # A croniter, pydantic or YAML upgrade, a new interlock_core.sensors (rule values are
    # read with its parse_number) or new job-config models (a subpackage of config) may
    # refuse a file the old code accepted: as before the skip, every file is validated again.
    from importlib import metadata

    from interlock_core.config import sources

    directory = _directory(tmp_path)
    _actions(engine, directory)
    assert sorted(load_changed(engine, directory).unchanged) == ["p0", "p1", "p2"]
    if change.endswith(".py"):
        real_read_bytes = Path.read_bytes

        def read_bytes(path: Path) -> bytes:
            extra = b"# changed\n" if path.as_posix().endswith("/" + change) else b""
            return real_read_bytes(path) + extra

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    else:
        real_version = metadata.version
        monkeypatch.setattr(
            metadata,
            "version",
            lambda name: "999.0" if name == change else real_version(name),
        )
    sources._code_digest.cache_clear()
    try:
        reloaded = load_changed(engine, directory)
    finally:
        sources._code_digest.cache_clear()
    assert reloaded.unchanged == {} and sorted(reloaded.pipelines) == ["p0", "p1", "p2"]


def test_a_store_that_cannot_list_markers_is_asked_per_file(
    engine: Interlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    (directory / "p1.yaml").write_text(DAILY.format(id="p1", value=999))
    store = engine.store
    monkeypatch.setattr(store, "marker_keys", lambda prefix, now: None)
    asked: list[tuple[str, str]] = []
    get_marker = store.get_marker
    monkeypatch.setattr(
        store,
        "get_marker",
        lambda pid, name, now=None: asked.append((pid, name)) or get_marker(pid, name, now),
    )
    reloaded = load_changed(engine, directory)
    assert sorted(reloaded.unchanged) == ["p0", "p2"] and list(reloaded.pipelines) == ["p1"]
    assert sorted(pid for pid, _ in asked) == ["p0", "p1", "p2"]


def test_a_marker_put_after_the_bulk_read_only_means_the_file_loads_again(
    engine: Interlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    store = engine.store
    monkeypatch.setattr(store, "marker_keys", lambda prefix, now: set())  # an older snapshot
    reloaded = load_changed(engine, directory)
    assert reloaded.unchanged == {} and sorted(reloaded.pipelines) == ["p0", "p1", "p2"]
    assert _actions(engine, directory) == {f"p{n}": "unchanged" for n in range(3)}


def test_a_config_changed_after_the_load_keeps_the_newer_config(
    engine: Interlock, tmp_path: Path
) -> None:
    directory = _directory(tmp_path)
    _actions(engine, directory)
    loaded = load_changed(engine, directory)
    assert sorted(loaded.stored_configs) == ["p0", "p1", "p2"]
    before = engine.store.get_config("p1")
    assert before is not None
    # Another apply writes a new version of p1 between this load and its apply.
    newer = {**before.document, "marker": "newer"}
    engine.store.apply_configs({"p1": (newer, "newer-hash", before.source)}, engine.clock.now())
    assert {c.pipeline_id: c.action for c in engine.apply(loaded).changes} == {
        f"p{n}": "unchanged" for n in range(3)
    }
    current = engine.store.get_config("p1")
    assert current is not None and current.hash == "newer-hash" and current.document == newer


def test_the_cycle_collector_is_paused_only_while_loading(
    engine: Interlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    directory = _directory(tmp_path)
    _actions(engine, directory)
    seen: list[bool] = []
    list_configs = engine.store.list_configs
    monkeypatch.setattr(
        engine.store, "list_configs", lambda: seen.append(gc.isenabled()) or list_configs()
    )
    assert gc.isenabled()
    load_changed(engine, directory)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        load_changed(engine, directory)
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()
