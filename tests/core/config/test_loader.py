"""Loading files and directories: good files survive bad ones, calendars, ids, warnings."""

import logging
import textwrap
from pathlib import Path

import pytest

from interlock_core.config import (
    Calendar,
    ConfigError,
    JobType,
    Pipeline,
    Weekday,
    config_hash,
    load_calendar,
    load_calendars,
    load_pipeline,
    load_pipeline_document,
    load_pipeline_files,
    load_pipeline_text,
    load_pipelines,
    parse_pipeline_text,
)
from interlock_core.config.loader import MAX_FILE_BYTES, format_path

GOOD = """\
pipeline:
  id: {id}
schedule:
  cron: "0 8 * * *"
validation:
  rules:
    - {{key: ready, check: exists}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_directory_with_good_and_bad_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD.format(id="a"))
    write(tmp_path / "b.yml", GOOD.format(id="b"))
    write(tmp_path / "bad.yaml", "pipeline: {id: bad}\nschedule: {cronn: x}\n")
    write(tmp_path / "broken.yaml", "pipeline: [\n")
    write(tmp_path / "notes.txt", "not a pipeline")
    write(tmp_path / ".hidden.yaml", "junk: [")
    result = load_pipelines(tmp_path)
    assert sorted(result.pipelines) == ["a", "b"]
    assert result.sources == {"a": tmp_path / "a.yaml", "b": tmp_path / "b.yml"}
    assert [error.file for error in result.errors] == [
        str(tmp_path / "bad.yaml"),
        str(tmp_path / "broken.yaml"),
    ]
    assert str(result.errors[0]) == (
        f"{tmp_path / 'bad.yaml'}:2: schedule.cronn: unknown key 'cronn' (did you mean 'cron'?)"
    )
    assert result.errors[1].line == 2
    assert result.warnings == []
    assert not result.ok


def test_documents_and_hashes(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD.format(id="a"))
    result = load_pipelines(tmp_path)
    document = result.documents["a"]
    assert document == {
        "pipeline": {"id": "a"},
        "schedule": {"cron": "0 8 * * *"},
        "validation": {"rules": [{"key": "ready", "check": "exists"}]},
    }
    assert load_pipeline_document(document) == result.pipelines["a"]
    digest = config_hash(document)
    assert len(digest) == 64
    reordered = {key: document[key] for key in reversed(list(document))}
    assert config_hash(reordered) == digest
    assert config_hash({**document, "dryRun": False}) != digest


def test_config_hash_is_sha256_of_canonical_json() -> None:
    # sha256 of '{"a":1,"b":["é"]}' (UTF-8): keys sorted, no spaces, non-ASCII kept
    expected = "023a8698a7c3c25e97260857c604120c43cc731c72fc227019bb5d85d6cad4cb"
    assert config_hash({"b": ["é"], "a": 1}) == expected


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "pipelines"


@pytest.mark.parametrize("name", ["gold-orders-daily", "silver-orders-hourly", "gold-revenue"])
def test_to_document_round_trips(name: str) -> None:
    pipeline = load_pipeline(EXAMPLES / f"{name}.yaml")
    assert load_pipeline_document(pipeline.to_document()) == pipeline


def test_file_name_differs_from_id_warns(tmp_path: Path) -> None:
    write(tmp_path / "gold.yaml", GOOD.format(id="gold-revenue"))
    result = load_pipelines(tmp_path)
    assert list(result.pipelines) == ["gold-revenue"]
    assert result.warnings == [
        f"{tmp_path / 'gold.yaml'}:2: pipeline.id: file name 'gold' differs from pipeline.id "
        "'gold-revenue'; runs are keyed by the id 'gold-revenue'"
    ]


def test_same_id_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", GOOD.format(id="dup"))
    write(tmp_path / "two.yaml", "# copy\n" + GOOD.format(id="dup"))
    write(tmp_path / "ok.yaml", GOOD.format(id="ok"))
    result = load_pipelines(tmp_path)
    assert list(result.pipelines) == ["ok"]
    assert [str(error) for error in result.errors] == [
        f"{tmp_path / 'one.yaml'}:2: pipeline.id: pipeline id 'dup' is also used by "
        f"{tmp_path / 'two.yaml'}",
        f"{tmp_path / 'two.yaml'}:3: pipeline.id: pipeline id 'dup' is also used by "
        f"{tmp_path / 'one.yaml'}",
    ]


def test_missing_pipeline_id_defaults_to_the_file_name(tmp_path: Path) -> None:
    # Go's runtime keyed pipelines by file name and never needed pipeline.id.
    write(tmp_path / "orders.yaml", "schedule: {cron: '0 8 * * *'}\n")
    result = load_pipelines(tmp_path)
    assert result.pipelines["orders"].pipeline.owner == ""
    assert result.documents["orders"]["pipeline"] == {"id": "orders"}
    assert result.warnings == [
        f"{tmp_path / 'orders.yaml'}:1: pipeline: pipeline.id is missing; using the file name "
        "'orders' as the id"
    ]


def test_calendars_inside_the_directory(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "holidays.yaml", "name: holidays\ndates: [2026-12-25]\n")
    write(
        tmp_path / "p.yaml",
        "pipeline: {id: p}\nschedule:\n  exclude:\n    calendars: [holidays]\n",
    )
    result = load_pipelines(tmp_path)
    assert result.ok, result.errors
    assert list(result.calendars) == ["holidays"]
    assert result.pipelines["p"].schedule.exclude.calendars == ["holidays"]


def test_calendars_beside_the_directory(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "weekend.yaml", "name: weekend\ndays: [Saturday, sunday]\n")
    write(tmp_path / "pipelines" / "p.yaml", "pipeline: {id: p}\nschedule: {calendar: weekend}\n")
    result = load_pipelines(tmp_path / "pipelines")
    assert result.ok, result.errors
    assert result.calendars["weekend"].days == [Weekday.SATURDAY, Weekday.SUNDAY]


def test_unknown_calendar_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "us-federal.yaml", "name: us-federal\n")
    write(
        tmp_path / "pipelines" / "p.yaml",
        "pipeline: {id: p}\nschedule:\n  exclude: {calendars: [us_federal]}\n",
    )
    result = load_pipelines(tmp_path / "pipelines")
    assert result.pipelines == {}
    assert [str(error) for error in result.errors] == [
        f"{tmp_path / 'pipelines' / 'p.yaml'}:3: schedule.exclude.calendars[0]: unknown "
        "calendar 'us_federal' (did you mean 'us-federal'?)"
    ]


def test_invalid_calendar_file(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "bad.yaml", "name: bad\ndays: [funday]\n")
    write(tmp_path / "p.yaml", "pipeline: {id: p}\nschedule: {calendar: bad}\n")
    write(tmp_path / "q.yaml", "pipeline: {id: q}\n")
    result = load_pipelines(tmp_path)
    assert list(result.pipelines) == ["q"]
    calendar_file = tmp_path / "calendars" / "bad.yaml"
    assert [str(error) for error in result.errors] == [
        f"{calendar_file}:2: days[0]: invalid value 'funday' (did you mean 'sunday'?)",
        f"{tmp_path / 'p.yaml'}:2: schedule.calendar: calendar 'bad' is invalid "
        f"(see {calendar_file})",
    ]


def test_calendar_name_defaults_to_file_name_and_mismatch_warns(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "a.yaml", "dates: [2026-01-01]\n")
    write(tmp_path / "calendars" / "b.yaml", "name: other\n")
    calendars = load_calendars(tmp_path / "calendars")
    assert sorted(calendars) == ["a", "other"]
    assert load_calendar(tmp_path / "calendars" / "a.yaml") == Calendar(
        name="a",
        dates=["2026-01-01"],  # type: ignore[list-item]
    )


def test_duplicate_calendar_name(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "a.yaml", "name: same\n")
    write(tmp_path / "calendars" / "b.yaml", "name: same\n")
    with pytest.raises(ConfigError, match="calendar 'same' is also defined in"):
        load_calendars(tmp_path / "calendars")


def test_load_pipeline_single_file_finds_calendars(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "h.yaml", "name: h\n")
    path = write(tmp_path / "p.yaml", "pipeline: {id: p}\nschedule: {calendar: h}\n")
    assert load_pipeline(path).schedule.calendar == "h"
    bad = write(tmp_path / "q.yaml", "pipeline: {id: q}\nschedule: {calendar: hh}\n")
    with pytest.raises(ConfigError, match="unknown calendar 'hh'"):
        load_pipeline(bad)
    assert load_pipeline(bad, calendars={"hh": Calendar(name="hh")}).id == "q"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00junk\x80\x81", "the file is not UTF-8 text"),
        (
            b"pipeline:\n  id: \xc3\x28\n",
            "the file is not UTF-8 text (undecodable byte at offset 16)",
        ),
        (b"\x00\x01\x02\x03", "invalid YAML: character '\\x00' is not allowed in a YAML file"),
        (b"x" * (MAX_FILE_BYTES + 1), "the file is larger than 1024 KiB; is it a config file?"),
    ],
)
def test_unreadable_content(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert info.value.issues[0].message.startswith(message)
    assert info.value.file == str(path)


def test_utf8_bom_and_utf16_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"\xef\xbb\xbfpipeline: {id: a}\n")
    (tmp_path / "b.yaml").write_bytes("pipeline: {id: b}\n".encode("utf-16"))
    assert sorted(load_pipelines(tmp_path).pipelines) == ["a", "b"]


def test_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory, not a file"):
        load_pipeline(tmp_path)
    with pytest.raises(ConfigError, match="directory not found"):
        load_pipelines(tmp_path / "nope")
    write(tmp_path / "f.yaml", "a: 1\n")
    with pytest.raises(ConfigError, match="is not a directory"):
        load_pipelines(tmp_path / "f.yaml")


def test_empty_directory_warns(tmp_path: Path) -> None:
    result = load_pipelines(tmp_path)
    assert result.ok
    assert result.warnings == [f"{tmp_path}: no pipeline files (*.yaml, *.yml) found"]


def test_load_pipeline_files_checks_ids_across_files(tmp_path: Path) -> None:
    a = write(tmp_path / "x" / "a.yaml", GOOD.format(id="same"))
    b = write(tmp_path / "y" / "same.yaml", GOOD.format(id="same"))
    result = load_pipeline_files([a, b])
    assert result.pipelines == {}
    assert len(result.errors) == 2


# Go matched JSON keys case-insensitively; such files still load, with a warning per key.
GO_CASE = """\
Pipeline:
  ID: go-case
schedule:
  CRON: "0 8 * * *"
  TimeZone: UTC
  trigger: {Key: ready, Check: exists}
validation:
  Rules:
    - {KEY: a, check: equals, Field: s, VALUE: 1}
job:
  type: emr
  config:
    clusterID: j-1
    stepname: s
    Command: s3://jar
  maxretries: 3
  JOBPOLLWINDOWSECONDS: 120
postrun:
  sensortimeout: 1h
dryrun: false
"""


def test_go_keys_are_matched_case_insensitively() -> None:
    loaded = parse_pipeline_text(GO_CASE, "go.yaml")
    pipeline = loaded.pipeline
    assert pipeline.id == "go-case"
    assert pipeline.schedule.cron == "0 8 * * *"
    assert pipeline.schedule.trigger is not None
    assert pipeline.schedule.trigger.key == "ready"
    assert pipeline.validation.rules[0].value == 1
    assert pipeline.job is not None
    assert pipeline.job.type == JobType.EMR
    assert pipeline.job.max_retries == 3
    assert pipeline.job.job_poll_window_seconds == 120
    assert pipeline.post_run is not None
    assert pipeline.post_run.sensor_timeout.total_seconds() == 3600
    assert loaded.document["job"]["config"] == {
        "clusterId": "j-1",
        "stepName": "s",
        "command": "s3://jar",
    }
    assert loaded.warnings[:3] == [
        "go.yaml:1: Pipeline: key 'Pipeline' should be written 'pipeline' (keys are "
        "case-sensitive; Go ignored case)",
        "go.yaml:2: Pipeline.ID: key 'ID' should be written 'id' (keys are case-sensitive; "
        "Go ignored case)",
        "go.yaml:4: schedule.CRON: key 'CRON' should be written 'cron' (keys are "
        "case-sensitive; Go ignored case)",
    ]
    assert len(loaded.warnings) == 18  # one per renamed key
    assert load_pipeline_document(loaded.document) == pipeline


def test_case_insensitive_match_never_overwrites_an_exact_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("pipeline: {id: x}\njob: {maxRetries: 1, maxretries: 2}\n", "t.yaml")
    assert str(info.value) == (
        "t.yaml:2: job.maxretries: unknown key 'maxretries' (did you mean 'maxRetries'?)"
    )


def test_errors_name_keys_as_written() -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("pipeline: {id: x}\nJob:\n  MaxRetries: 20\n", "t.yaml")
    assert str(info.value) == "t.yaml:3: Job.MaxRetries: must be between 0 and 10, got 20"


def test_load_pipeline_text_logs_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="interlock_core.config.loader"):
        load_pipeline_text("pipeline: {ID: x}\n", "t.yaml")
    assert caplog.messages == [
        "t.yaml:1: pipeline.ID: key 'ID' should be written 'id' (keys are case-sensitive; Go "
        "ignored case)"
    ]


# The real example from the Go reference (§2.5): the shape of Go-era files.
GO_EXAMPLE = """\
pipeline: {id: silver-cdr-hour, owner: data-platform}
schedule:
  trigger: {key: audit-result, check: equals, field: match, value: true}
  evaluation: {window: 15m, interval: 2m}
sla: {deadline: ":30", expectedDuration: 10m, maxDuration: 25m}
validation:
  trigger: ALL
  rules: [{key: audit-result, check: equals, field: match, value: true}]
job:
  type: glue
  config: {jobName: "dev-cdr-agg-hour", arguments: {"--s3_bucket": "bucket"}}
  maxRetries: 2
  maxDriftReruns: 1
  jobPollWindowSeconds: 3600
postRun:
  sensorTimeout: 2h
  rules: [{key: hourly-status, check: gte, field: count, value: 1}]
"""


def test_go_reference_example_loads_unchanged() -> None:
    pipeline = load_pipeline_text(GO_EXAMPLE)
    assert pipeline.id == "silver-cdr-hour"
    assert pipeline.validation.rules[0].value is True


def test_go_era_fields_that_go_ignored_still_load() -> None:
    text = """\
    pipeline: {id: x}
    schedule:
      calendar: ""
      exclude: {weekends: true, dates: ["2026-12-25"], holidays: us}
      deadline_unused_by_nobody: 1
    sla: {deadline: 10:00, expectedDuration: 30m, critical: true}
    postRun:
      evaluation: {window: 1h, interval: 5m}
    """
    with pytest.raises(ConfigError, match="unknown key 'deadline_unused_by_nobody'"):
        load_pipeline_text(textwrap.dedent(text))
    fixed = textwrap.dedent(text).replace("  deadline_unused_by_nobody: 1\n", "")
    fixed = fixed.replace('calendar: ""', "timezone: UTC")
    pipeline = load_pipeline_text(fixed)
    assert pipeline.sla is not None
    assert pipeline.sla.deadline == "10:00"  # unquoted: YAML 1.1 would have read 600


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("schedule", "trigger", "check"), "schedule.trigger.check"),
        (("validation", "rules", 1, "value"), "validation.rules[1].value"),
        (("job", "config", "arguments", "--s3_bucket"), "job.config.arguments.--s3_bucket"),
        (("job", "config", "arguments", "a b"), "job.config.arguments['a b']"),
        ((), ""),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_pipeline_model_is_exported() -> None:
    assert load_pipeline_text("pipeline: {id: x}\n").__class__ is Pipeline


def test_go_unset_values_mean_the_default() -> None:
    # Go decoded null and "" as zero values and then used its defaults; templated files
    # (Terraform) often leave keys empty.
    text = """\
    pipeline: {id: x, owner: }
    schedule:
      timezone: ""
      cron: ""
      time:
      exclude:
      evaluation: {window: "", interval: }
      trigger: {key: a, check: equals, field: s, value: "", deadline: ""}
    sla: {deadline: "", expectedDuration: ""}
    validation:
      trigger: ""
      rules:
    job:
      type: http
      config: {url: "https://example.com", headers: , body: ""}
      maxRetries:
    postRun: {driftField: , sensorTimeout: "", rules: }
    """
    pipeline = load_pipeline_text(textwrap.dedent(text))
    assert pipeline.schedule.timezone == "UTC"
    assert pipeline.schedule.cron is None
    assert pipeline.schedule.evaluation.window.total_seconds() == 3600
    assert pipeline.schedule.trigger is not None
    assert pipeline.schedule.trigger.value == ""  # a rule value is data, never "unset"
    assert pipeline.schedule.trigger.deadline is None
    assert pipeline.validation.match_mode == "ALL"
    assert pipeline.job is not None
    assert pipeline.job.max_retries == 0
    assert pipeline.post_run is not None
    assert pipeline.post_run.drift_field == "sensor_count"
    assert pipeline.post_run.sensor_timeout.total_seconds() == 7200


def test_required_keys_left_empty_are_still_errors() -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(
            "pipeline: {id: x}\nvalidation: {rules: [{key: '', check: }]}\n", "t.yaml"
        )
    assert [str(issue) for issue in info.value.issues] == [
        "t.yaml:2: validation.rules[0].key: invalid name '': use 1 to 200 letters, digits, '.', "
        "'_', ':', '#' or '-'",
        "t.yaml:2: validation.rules[0].check: unknown check null (use one of: exists, equals, "
        "neq, in, gt, gte, lt, lte, age_lt, age_gt)",
    ]


def test_empty_pipeline_id_defaults_to_the_file_name(tmp_path: Path) -> None:
    write(tmp_path / "orders.yaml", "pipeline: {id: '', owner: me}\n")
    assert list(load_pipelines(tmp_path).pipelines) == ["orders"]


def test_load_pipeline_ignores_a_broken_calendar_it_does_not_use(tmp_path: Path) -> None:
    write(tmp_path / "calendars" / "bad.yaml", "days: [funday]\n")
    write(tmp_path / "calendars" / "good.yaml", "days: [monday]\n")
    path = write(tmp_path / "p.yaml", "pipeline: {id: p}\nschedule: {calendar: good}\n")
    assert load_pipeline(path).id == "p"
    uses_bad = write(tmp_path / "q.yaml", "pipeline: {id: q}\nschedule: {calendar: bad}\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(uses_bad)
    assert [str(issue) for issue in info.value.issues] == [
        f"{uses_bad}:2: schedule.calendar: calendar 'bad' is invalid "
        f"(see {tmp_path / 'calendars' / 'bad.yaml'})"
    ]


def test_the_runtime_settings_file_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text("pipeline: {id: orders}\n")
    (tmp_path / "interlock.yaml").write_text("alerts: {channels: {log: {type: log}}}\n")
    result = load_pipelines(tmp_path)
    assert list(result.pipelines) == ["orders"]
    assert result.errors == []
