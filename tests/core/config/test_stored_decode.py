"""Stored configs rebuilt without validation equal fully validated ones (issue 13).

Every example and fixture pipeline of the repository (examples/, the scenario files, and each
pipeline written as a constant in tests/ and bench/) plus configs that set every field of
every model and job type: stored as the Store keeps them (``envelope`` through JSON), then
read back both ways. Equal means the same types, values, field order and explicitly given
fields, all the way down.
"""

import ast
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from interlock_core.config import stored_decode
from interlock_core.config.calendars import Calendar
from interlock_core.config.errors import ConfigError
from interlock_core.config.jobs import JOB_CONFIG_MODELS
from interlock_core.config.loader import load_calendars, load_pipeline_document, load_pipelines
from interlock_core.config.models import Check, Pipeline
from interlock_core.config.stored import envelope, parse_envelope
from interlock_core.config.stored_decode import decode_stored

ROOT = Path(__file__).resolve().parents[3]

EVERY_FIELD = {
    "pipeline": {"id": "full", "owner": "data", "description": "all fields"},
    "schedule": {
        "cron": "0 6 * * 1-5",
        "periodOffset": "-1d",
        "timezone": "Europe/Berlin",
        "trigger": {
            "key": "ready",
            "check": "equals",
            "field": "status",
            "value": "done",
            "deadline": "09:30",
        },
        "time": "06:15",
        "evaluation": {"window": "2h", "interval": "10m"},
        "exclude": {
            "weekends": True,
            "dates": ["2026-12-25", "2026-12-26"],
            "calendars": ["holidays"],
            "holidays": "us",
        },
        "calendar": "holidays",
        "period": "daily",
    },
    "sla": {
        "deadline": "10:00",
        "expectedDuration": "30m",
        "maxDuration": "2h",
        "timezone": "America/New_York",
        "critical": True,
    },
    "validation": {
        "trigger": "ANY",
        "rules": [
            {"key": "a", "check": "exists"},
            {"key": "b", "check": "gte", "field": "rows", "value": 1.5},
            {"key": "c", "check": "in", "field": "state", "value": ["x", 2, None]},
            {"key": "d", "check": "age_lt", "value": "2h"},
            {"key": "e", "check": "neq", "field": "f", "value": {"nested": [1, 2]}},
        ],
    },
    "job": {
        "type": "http",
        "config": {
            "url": "https://example.com/run",
            "method": "PUT",
            "headers": {"X-Team": "data"},
            "body": {"a": [1, {"b": None}]},
            "timeout": 12,
            "tokenEnv": "API_TOKEN",
            "statusUrl": "https://example.com/status",
            "statusField": "phase",
            "successValues": ["ok"],
            "failureValues": ["bad"],
            "runIdField": "id",
            "allowPrivateNetwork": True,
        },
        "maxRetries": 3,
        "maxCodeRetries": 2,
        "maxDriftReruns": 0,
        "maxManualReruns": 5,
        "jobPollWindowSeconds": 0,
        "jobCheckIntervalSeconds": 30,
        "claimTimeout": "3h",
    },
    "postRun": {
        "rules": [{"key": "audit", "check": "exists"}],
        "driftField": "count",
        "driftThreshold": 5,
        "sensorTimeout": "45m",
        "evaluation": {"window": "1h", "interval": "5m"},
    },
    "dryRun": True,
}
JOB_CONFIGS = {
    "command": {
        "command": "echo hi",
        "env": ["HOME_DIR"],
        "environment": {"A": "1"},
        "timeout": 2.5,
        "cwd": "/tmp",
    },
    "airflow": {
        "url": "https://airflow.example.com",
        "dagId": "d",
        "conf": {"k": [1]},
        "body": "{}",
        "headers": {"X-A": "b"},
        "timeout": 5,
        "usernameEnv": "U",
        "passwordEnv": "P",
        "region": "eu-west-1",
        "allowPrivateNetwork": False,
    },
    "databricks": {
        "workspaceUrl": "https://db.example.com",
        "jobId": 42,
        "tokenEnv": "DB",
        "headers": {},
        "arguments": {"a": "b"},
        "jobParameters": {"c": "d"},
        "timeout": 7.25,
        "allowPrivateNetwork": True,
    },
    "glue": {
        "jobName": "j",
        "arguments": {"--x": "1"},
        "region": "us-east-1",
        "verifySuccess": True,
        "logGroup": "g",
    },
    "emr": {"clusterId": "c", "stepName": "s", "command": "spark", "arguments": ["a", "b"]},
    "emr-serverless": {
        "applicationId": "app",
        "jobName": "j",
        "executionRoleArn": "arn:aws:iam::1:role/r",
        "jobDriver": {"sparkSubmit": {"entryPoint": "s3://x"}},
        "configurationOverrides": {"a": 1},
    },
    "step-function": {"stateMachineArn": "arn:aws:states:1", "arguments": {"a": [1]}},
    "lambda": {"functionName": "f", "payload": {"a": 1}, "region": "eu-central-1"},
}


def test_job_configs_cover_every_job_type() -> None:
    # http is the job of EVERY_FIELD.
    assert sorted([*JOB_CONFIGS, "http"]) == sorted(kind.value for kind in JOB_CONFIG_MODELS)


def _with_job(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"pipeline": {"id": f"job-{kind}"}, "job": {"type": kind, "config": config}}


def _constants_with_pipelines(path: Path) -> list[str]:
    """Module-level string constants of a Python file that look like pipeline YAML."""
    texts = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str) and "pipeline:" in value:
                texts.append(value)
    return texts


def _fixture_documents() -> list[tuple[str, dict[str, Any]]]:
    documents: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((ROOT / "tests" / "scenarios" / "files").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for pipeline_id, document in (spec.get("pipelines") or {}).items():
            documents.append((f"{path.name}:{pipeline_id}", document))
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")]):
        for index, text in enumerate(_constants_with_pipelines(path)):
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError:
                continue  # a template with placeholders
            if isinstance(document, dict) and "pipeline" in document:
                documents.append((f"{path.relative_to(ROOT)}#{index}", document))
    return documents


def _stored_configs() -> list[tuple[str, dict[str, Any]]]:
    """(name, stored document) of every valid example and fixture config."""
    calendars = load_calendars(ROOT / "examples" / "calendars")
    loaded = load_pipelines(ROOT / "examples" / "pipelines")
    pipelines = [(f"examples:{name}", p) for name, p in loaded.pipelines.items()]
    candidates = [
        *_fixture_documents(),
        ("every-field", EVERY_FIELD),
        *((f"job:{kind}", _with_job(kind, config)) for kind, config in JOB_CONFIGS.items()),
        *((f"job-defaults:{kind}", _with_job(kind, {})) for kind in ("glue",)),
        (
            "include",
            {"pipeline": {"id": "inc"}, "schedule": {"include": {"dates": ["2026-01-02"]}}},
        ),
        ("job-less", {"pipeline": {"id": "claimed"}, "job": {"claimTimeout": "1h"}}),
    ]
    for name, document in candidates:
        try:
            pipelines.append((name, load_pipeline_document(document)))
        except ConfigError:
            continue  # a fixture of an invalid config: the loader's tests cover it
    calendars = {**calendars, "holidays": Calendar(name="holidays", days=["saturday"])}
    # As the Store keeps them: the envelope through JSON.
    return [(name, json.loads(json.dumps(envelope(p, calendars)))) for name, p in pipelines]


STORED = _stored_configs()
# The same configs as written (before normalising): "1h", 12 for 12.0, "all" for "ALL"...
WRITTEN = [
    *_fixture_documents(),
    ("every-field", EVERY_FIELD),
    *((f"job:{kind}", _with_job(kind, config)) for kind, config in JOB_CONFIGS.items()),
]


def test_the_fixtures_hold_many_valid_configs() -> None:
    names = [name for name, _ in STORED]
    assert len(names) >= 60, names
    assert any(name.startswith("examples:") for name in names)
    assert any(name.startswith("tests/scenarios") or ".yaml:" in name for name in names)
    assert "every-field" in names


def assert_same(fast: Any, full: Any, where: str = "") -> None:
    """Equal values of the same types, models with the same fields in the same order and
    the same explicitly given fields."""
    assert type(fast) is type(full), f"{where}: {type(fast)} != {type(full)}"
    if isinstance(full, BaseModel):
        assert list(fast.__dict__) == list(full.__dict__), where
        assert fast.model_fields_set == full.model_fields_set, where
        assert fast.__pydantic_extra__ == full.__pydantic_extra__, where
        assert fast.__pydantic_private__ == full.__pydantic_private__, where
        for name, value in full.__dict__.items():
            assert_same(fast.__dict__[name], value, f"{where}.{name}")
        assert fast == full, where
    elif isinstance(full, list):
        assert len(fast) == len(full), where
        for index, (a, b) in enumerate(zip(fast, full, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(full, dict):
        assert list(fast) == list(full), where
        for key, value in full.items():
            assert_same(fast[key], value, f"{where}[{key!r}]")
    elif isinstance(full, float):
        assert math.copysign(1, fast) == math.copysign(1, full) and fast == full, where
    else:
        assert fast == full, where


@pytest.mark.parametrize(("name", "stored"), STORED, ids=[name for name, _ in STORED])
def test_a_stored_config_decodes_to_what_full_validation_gives(
    name: str, stored: dict[str, Any]
) -> None:
    fast = decode_stored(Pipeline, stored["config"])
    assert fast is not None, f"{name} took the full validation path"
    full = Pipeline.model_validate(stored["config"])
    assert_same(fast, full, name)
    assert fast.to_document() == full.to_document() == stored["config"]
    for calendar_name, body in stored["calendars"].items():
        fast_calendar = decode_stored(Calendar, body)
        assert fast_calendar is not None
        assert_same(fast_calendar, Calendar.model_validate(body), calendar_name)


def test_the_every_field_config_sets_every_field_of_every_model() -> None:
    stored = dict(STORED)["every-field"]["config"]
    pipeline = decode_stored(Pipeline, stored)
    assert pipeline is not None
    unset: list[str] = []

    def visit(model: BaseModel, where: str) -> None:
        unset.extend(
            f"{where}.{n}" for n in type(model).model_fields if n not in model.model_fields_set
        )
        for name in model.model_fields_set:
            value = getattr(model, name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, BaseModel) and name != "config":
                    visit(item, f"{where}.{name}")

    visit(pipeline, "pipeline")
    # Rules need not set every field (exists has no field/value); include excludes cron
    # (the "include" config sets it); everything else is set.
    assert [u for u in unset if ".rules." not in u] == ["pipeline.schedule.include"]


def test_parse_envelope_gives_the_fully_validated_config() -> None:
    for name, stored in STORED:
        active = parse_envelope(stored, "hash")
        assert_same(active.pipeline, Pipeline.model_validate(stored["config"]), name)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["pipeline"].update(extra=1), "an unknown key"),
        (lambda d: d.update(postRun={"drift_field": "x"}), "a field name, not its alias"),
        (lambda d: d["pipeline"].pop("id"), "a required field missing"),
        (lambda d: d["schedule"]["evaluation"].update(window="soon"), "a bad duration"),
        (lambda d: d["schedule"]["exclude"].update(dates=["2026-02-30"]), "a bad date"),
        (lambda d: d["schedule"]["exclude"].update(weekends="yes"), "a string for a bool"),
        (lambda d: d["job"].update(maxRetries=2.0), "a float for an int"),
        (lambda d: d["job"]["config"].update(timeout=True), "a bool for seconds"),
        (lambda d: d["job"].pop("config"), "a typed job without its config"),
        (lambda d: d["job"].update(type="telegraph"), "an unknown job type"),
        (lambda d: d["validation"]["rules"][0].update(check="approx"), "an unknown check"),
        (lambda d: d["validation"].update(rules={"a": 1}), "a mapping for a list"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_what_it_cannot_vouch_for_goes_to_full_validation(change: Any, why: str) -> None:
    document = json.loads(json.dumps(EVERY_FIELD))
    change(document)
    assert decode_stored(Pipeline, document) is None, why


def test_a_model_with_an_unlisted_validator_goes_to_full_validation() -> None:
    from pydantic import field_validator

    from interlock_core.config.models import ConfigModel

    class Shouting(ConfigModel):
        word: str

        @field_validator("word")
        @classmethod
        def _upper(cls, value: str) -> str:
            return value.upper()

    assert decode_stored(Shouting, {"word": "hi"}) is None
    assert Shouting.model_validate({"word": "hi"}).word == "HI"


def test_every_validator_of_the_config_models_is_listed_or_handled() -> None:
    """A new validator must be reviewed: listed as check-only, or decoding falls back."""
    import interlock_core.config.models as models

    classes = [
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, models.ConfigModel)
    ]
    classes += [Calendar, *JOB_CONFIG_MODELS.values()]
    found = set()
    for cls in classes:
        decorators = cls.__pydantic_decorators__
        for group in (decorators.field_validators, decorators.model_validators):
            found.update(d.func.__qualname__ for d in group.values())
    assert found == stored_decode.CHECK_ONLY | {"Job._typed_config"}


def test_durations_and_dates_are_parsed_as_validation_parses_them() -> None:
    stored = dict(STORED)["every-field"]["config"]
    pipeline = decode_stored(Pipeline, stored)
    assert pipeline is not None
    assert pipeline.schedule.period_offset == dt.timedelta(days=-1)
    assert pipeline.schedule.exclude.dates[0] == dt.date(2026, 12, 25)
    assert type(pipeline.job.config.timeout) is float  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "document"), WRITTEN, ids=[name for name, _ in WRITTEN])
def test_a_written_config_it_accepts_decodes_as_validation_does(
    name: str, document: dict[str, Any]
) -> None:
    """Not only normalised documents: whatever it accepts, it decodes as validation does."""
    document = json.loads(json.dumps(document, default=str))
    fast = decode_stored(Pipeline, document)
    try:
        full = Pipeline.model_validate(document)
    except ValueError:
        return  # refused at apply: never stored (the decoder repeats no check validator)
    if fast is not None:
        assert_same(fast, full, name)


def test_written_values_are_converted_as_validation_converts_them() -> None:
    document = _with_job("command", {"command": ["true"], "timeout": 12})
    document["validation"] = {"trigger": "any", "rules": [{"key": "a", "check": "exists"}]}
    fast = decode_stored(Pipeline, document)
    assert fast is not None
    assert_same(fast, Pipeline.model_validate(document))
    assert type(fast.job.config.timeout) is float  # type: ignore[union-attr]
    days = {"name": "c", "days": ["Saturday", " SUNDAY"]}
    calendar = decode_stored(Calendar, days)
    assert calendar is not None
    assert_same(calendar, Calendar.model_validate(days))


def test_past_a_few_configs_it_validates_in_full_and_once_built_always() -> None:
    from interlock_core.config.models import ConfigModel

    class Fresh(ConfigModel):  # deferred like every config model: not built yet
        name: str
        weight: float = 1.0

    assert not Fresh.__pydantic_complete__
    for _ in range(stored_decode.CONSTRUCT_AT_MOST):
        assert stored_decode.parse_stored(Fresh, {"name": "a", "weight": 2}).weight == 2.0
    assert not Fresh.__pydantic_complete__  # none of them built the validator
    assert stored_decode.parse_stored(Fresh, {"name": "b"}).name == "b"
    assert Fresh.__pydantic_complete__  # the next one did; validation from now on
    with pytest.raises(ValueError, match="name"):
        stored_decode.parse_stored(Fresh, {"weight": 2})


def test_a_document_it_cannot_vouch_for_is_validated_and_its_error_reported() -> None:
    from interlock_core.config.models import ConfigModel

    class Other(ConfigModel):
        name: str

    with pytest.raises(ValueError, match="extra"):
        stored_decode.parse_stored(Other, {"name": "a", "extra": 1})


def test_a_field_setting_that_may_convert_goes_to_full_validation() -> None:
    from pydantic import Field

    from interlock_core.config.models import ConfigModel

    class Coerced(ConfigModel):
        label: str = Field(coerce_numbers_to_str=True)

    assert decode_stored(Coerced, {"label": "a"}) is None
    assert Coerced.model_validate({"label": 5}).label == "5"


def _every_field() -> dict[str, Any]:
    return json.loads(json.dumps(EVERY_FIELD))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["job"].update(maxRetries=99), "a constraint (le=10)"),
        (lambda d: d["pipeline"].update(id="no spaces allowed"), "a pattern"),
        (lambda d: d["pipeline"].update(id="ok\n"), "a pattern's $ before a newline"),
        (lambda d: d["postRun"].update(driftThreshold=-1), "a constraint (ge=0)"),
        (lambda d: d["job"]["config"].update(timeout=0), "a constraint (gt=0)"),
        (lambda d: d["schedule"].update(include={"dates": []}, cron=None), "min_length=1"),
        (lambda d: d["job"].update(jobPollWindowSeconds=30), "a field validator"),
        (lambda d: d["schedule"].update(cron="61 * * * *"), "the cron check"),
        (lambda d: d["sla"].update(maxDuration="30h"), "a field validator (24h)"),
        (lambda d: d["job"]["config"].update(url="ftp://x"), "a URL validator"),
        (lambda d: d["validation"]["rules"][1].pop("field"), "a model validator (Rule)"),
        (lambda d: d["schedule"].pop("trigger"), "a model validator (Pipeline)"),
        (lambda d: d["validation"].update(rules=[]), "a model validator (ANY needs rules)"),
        (lambda d: d["postRun"].update(driftThreshold=10**400), "an int no float holds"),
        (lambda d: d["job"]["config"].update(timeout=10**400), "an int no float holds"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_stored_row_that_no_longer_passes_a_check_is_refused_as_before(
    change: Any, why: str
) -> None:
    """A row of the right shape that fails a check (written by an older version whose checks
    were looser, or edited in the store) is refused as full validation refuses it: the
    checks are not skipped, and nothing but pydantic's own error escapes."""
    document = _every_field()
    change(document)
    with pytest.raises(ValueError):  # pydantic's ValidationError
        Pipeline.model_validate(document)
    assert decode_stored(Pipeline, document) is None, why


def test_a_listed_validator_that_changes_a_value_goes_to_full_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import field_validator, model_validator

    from interlock_core.config.models import ConfigModel

    class Shouting(ConfigModel):
        word: str

        @field_validator("word")
        @classmethod
        def _upper(cls, value: str) -> str:
            return value if value.isupper() else value.upper()

    class Replaced(ConfigModel):
        word: str

        @model_validator(mode="after")
        def _other(self) -> "Replaced":
            return Replaced.model_construct(word="other")

    listed = {Shouting._upper.__func__.__qualname__, Replaced._other.__qualname__}
    monkeypatch.setattr(stored_decode, "CHECK_ONLY", stored_decode.CHECK_ONLY | listed)
    assert decode_stored(Shouting, {"word": "HI"}) is not None  # unchanged: a check here
    assert decode_stored(Shouting, {"word": "hi"}) is None
    assert decode_stored(Replaced, {"word": "hi"}) is None


def test_a_model_setting_that_may_convert_goes_to_full_validation() -> None:
    from pydantic import ConfigDict

    from interlock_core.config.models import ConfigModel

    class Stripped(ConfigModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        word: str

    class Values(ConfigModel):
        model_config = ConfigDict(use_enum_values=True)
        check: Check

    assert decode_stored(Stripped, {"word": "hi"}) is None
    assert decode_stored(Values, {"check": "exists"}) is None
    assert Values.model_validate({"check": "exists"}).check == "exists"


def test_a_field_read_under_another_name_goes_to_full_validation() -> None:
    from pydantic import Field

    from interlock_core.config.models import ConfigModel

    class Renamed(ConfigModel):
        word: str = Field(validation_alias="term")

    assert decode_stored(Renamed, {"word": "hi"}) is None
    assert Renamed.model_validate({"term": "hi"}).word == "hi"
