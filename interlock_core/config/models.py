"""The pipeline config (DESIGN.md §2): pydantic models with the seed's camelCase keys."""

import datetime as dt
import functools
import math
import re
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializeAsAny,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from interlock_core.config.durations import format_duration, parse_duration
from interlock_core.config.jobs import JOB_CONFIG_MODELS, JobConfigBase, JobType, canonical_job_keys
from interlock_core.sensors import parse_number


def _to_duration(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: expected a string such as '1h30m' or '1d'")
    return parse_duration(value)


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


def _positive(value: dt.timedelta) -> dt.timedelta:
    if value <= dt.timedelta(0):
        raise ValueError(f"must be positive, got {format_duration(value)}")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]

_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MM = re.compile(r"^:([0-5]\d)$")


def _deadline(value: str) -> str:
    if not isinstance(value, str) or not (_HH_MM.match(value) or _MM.match(value)):
        raise ValueError(f"invalid deadline {value!r}: use 'HH:MM' (daily) or ':MM' (hourly)")
    return value


def _time_of_day(value: str) -> str:
    if not isinstance(value, str) or not _HH_MM.match(value):
        raise ValueError(f"invalid time {value!r}: use 'HH:MM'")
    return value


def _timezone(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"invalid time zone {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'UTC')") from exc
    return value


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError(f"invalid date {value!r}: use YYYY-MM-DD")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"invalid date {value!r}: use YYYY-MM-DD")


Deadline = Annotated[str, AfterValidator(_deadline)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Date = Annotated[dt.date, BeforeValidator(_to_date)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:#-]{1,200}$")]


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1.0; a bool where a number belongs is a typo.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


# A number that is not a bool (strict types: ``maxRetries: true`` is an error, not 1).
StrictFloat = Annotated[float, BeforeValidator(_not_bool)]


class ConfigModel(BaseModel):
    """Base: camelCase aliases, unknown keys are errors, frozen."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        defer_build=True,
    )


class Check(StrEnum):
    """Rule checks (DESIGN.md §3)."""

    EXISTS = "exists"
    EQUALS = "equals"
    NEQ = "neq"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    AGE_LT = "age_lt"
    AGE_GT = "age_gt"


NUMERIC_CHECKS = frozenset({Check.GT, Check.GTE, Check.LT, Check.LTE})
AGE_CHECKS = frozenset({Check.AGE_LT, Check.AGE_GT})


class MatchMode(StrEnum):
    """How the rules of a gate combine."""

    ALL = "ALL"
    ANY = "ANY"


class Granularity(StrEnum):
    """Whether a pipeline's periods are days or hours."""

    DAILY = "daily"
    HOURLY = "hourly"


class Rule(ConfigModel):
    """One check over one sensor field."""

    key: Name
    check: Check
    field: str | None = None
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_check(self) -> "Rule":
        check = self.check
        if (check in NUMERIC_CHECKS or check in {Check.EQUALS, Check.NEQ, Check.IN}) and (
            not self.field
        ):
            raise ValueError(f"check {check.value!r} needs a field")
        if check in NUMERIC_CHECKS and not _is_numeric_literal(self.value):
            raise ValueError(f"check {check.value!r} needs a numeric value, got {self.value!r}")
        if check in {Check.EQUALS, Check.NEQ, Check.IN} and self.value is None:
            raise ValueError(f"check {check.value!r} needs a value")
        if check == Check.IN and not isinstance(self.value, list):
            raise ValueError(f"check 'in' needs a list value, got {self.value!r}")
        if check in AGE_CHECKS:
            if not isinstance(self.value, str):
                raise ValueError(
                    f"check {check.value!r} needs a duration value such as '2h', got {self.value!r}"
                )
            if parse_duration(self.value) < dt.timedelta(0):
                raise ValueError(
                    f"check {check.value!r} needs a duration of at least 0, got {self.value!r}"
                )
        return self

    @property
    def age_threshold(self) -> dt.timedelta:
        """The duration of an ``age_lt``/``age_gt`` rule."""
        return parse_duration(str(self.value))


def _is_numeric_literal(value: Any) -> bool:
    # The same parse the rule engine uses, so a value that loads can also pass at run time.
    number = parse_number(value)
    return number is not None and math.isfinite(number)


class TriggerCondition(Rule):
    """``schedule.trigger``: the rule whose passing sensor opens a run; ``deadline`` closes
    the window in which it may arrive."""

    deadline: Deadline | None = None


class EvaluationSettings(ConfigModel):
    """How long and how often the gate is evaluated once a run is open."""

    window: PositiveDuration = dt.timedelta(hours=1)
    interval: PositiveDuration = dt.timedelta(minutes=5)


class Exclude(ConfigModel):
    """Periods that open no run."""

    weekends: StrictBool = False
    dates: list[Date] = Field(default_factory=list)
    calendars: list[Name] = Field(default_factory=list)
    holidays: str | None = None  # Go: parsed, never used; kept so Go files load


class Include(ConfigModel):
    """An irregular schedule: runs are expected on exactly these dates."""

    dates: list[Date] = Field(min_length=1)


class Schedule(ConfigModel):
    """When runs open and what they wait for."""

    cron: str | None = None
    period_offset: Duration = dt.timedelta(0)
    timezone: TimeZoneName = "UTC"
    trigger: TriggerCondition | None = None
    time: TimeOfDay | None = None
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    exclude: Exclude = Field(default_factory=Exclude)
    include: Include | None = None
    calendar: Name | None = None  # Go: a named exclusion calendar (never wired there)
    period: Granularity | None = None  # extension: daily/hourly when it cannot be inferred

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        problem = _cron_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _cron_or_include(self) -> "Schedule":
        if self.cron and self.include is not None:
            raise ValueError("cron and include are mutually exclusive")
        if self.period_offset and not self.cron and self.include is None:
            raise ValueError(
                "periodOffset needs schedule.cron: it shifts the period of a tick, and without "
                "cron (or include) there is no tick"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)


class SLA(ConfigModel):
    """Deadlines: absolute (``deadline``) and relative to the first trigger (``maxDuration``)."""

    deadline: Deadline | None = None
    expected_duration: PositiveDuration | None = None
    max_duration: PositiveDuration | None = None
    timezone: TimeZoneName = "UTC"
    critical: StrictBool = False

    @field_validator("max_duration")
    @classmethod
    def _max_24h(cls, value: dt.timedelta | None) -> dt.timedelta | None:
        if value is not None and value > dt.timedelta(hours=24):
            raise ValueError(f"maxDuration must be at most 24h, got {format_duration(value)}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The SLA's time zone."""
        return ZoneInfo(self.timezone)


def _match_mode(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in {"ALL", "ANY"}:
            return upper
        raise ValueError(f"invalid match mode {value!r}: use ALL or ANY")
    return value


class Validation(ConfigModel):
    """The gate: rules combined by the match mode (``trigger``: ALL | ANY)."""

    trigger: Annotated[MatchMode, BeforeValidator(_match_mode)] = MatchMode.ALL
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _any_needs_rules(self) -> "Validation":
        if self.trigger == MatchMode.ANY and not self.rules:
            raise ValueError("match mode ANY needs at least one rule")
        return self

    @property
    def match_mode(self) -> MatchMode:
        """The match mode (alias of ``trigger`` with a clearer name)."""
        return self.trigger


class Job(ConfigModel):
    """What a run submits, and its budgets. Without ``type`` the pipeline is job-less: an
    external orchestrator claims its runs."""

    type: JobType | None = None
    # validate_default: a typed job with no config at all must still report its required keys
    config: SerializeAsAny[JobConfigBase] | None = Field(default=None, validate_default=True)
    max_retries: StrictInt = Field(default=0, ge=0, le=10)
    max_code_retries: StrictInt = Field(default=1, ge=0, le=3)
    max_drift_reruns: StrictInt = Field(default=1, ge=0, le=5)
    max_manual_reruns: StrictInt = Field(default=1, ge=0, le=5)
    job_poll_window_seconds: StrictInt = 3600
    job_check_interval_seconds: StrictInt = Field(default=60, ge=1, le=3600)
    claim_timeout: PositiveDuration = dt.timedelta(hours=6)

    @field_validator("config", mode="before")
    @classmethod
    def _typed_config(cls, config: Any, info: ValidationInfo) -> Any:
        # A field validator (not a model one) so that errors inside the config keep their
        # ``job.config.<key>`` location and the other job fields are still validated.
        if "type" not in info.data:
            return None  # the type itself is invalid and reported; its config cannot be typed
        job_type = info.data["type"]
        if job_type is None:
            if config:
                raise ValueError("config needs a job type")
            return None
        model = JOB_CONFIG_MODELS[JobType(job_type)]
        if config is None:
            config = {}
        if isinstance(config, dict):
            return model.model_validate(canonical_job_keys(model, config))
        if isinstance(config, JobConfigBase):
            return config
        return model.model_validate(config)

    @field_validator("job_poll_window_seconds")
    @classmethod
    def _poll_window(cls, value: int) -> int:
        if value != 0 and not 60 <= value <= 86_400:
            raise ValueError("jobPollWindowSeconds must be 0 or between 60 and 86400")
        return value

    @property
    def poll_window(self) -> dt.timedelta:
        """How long a job may run before it is cancelled (0 means the 1 h default)."""
        return dt.timedelta(seconds=self.job_poll_window_seconds or 3600)

    @property
    def check_interval(self) -> dt.timedelta:
        """How often a running job is polled."""
        return dt.timedelta(seconds=self.job_check_interval_seconds)


class PostRunEvaluation(ConfigModel):
    """Go-era ``postRun.evaluation`` (parsed, never used); kept so Go files load."""

    window: Duration | None = None
    interval: Duration | None = None


class PostRun(ConfigModel):
    """Checks after a successful run: drift against the baseline, then the post-run rules."""

    rules: list[Rule] = Field(default_factory=list)
    drift_field: str = Field(default="sensor_count", min_length=1)
    drift_threshold: StrictFloat = Field(default=0.0, ge=0)
    sensor_timeout: PositiveDuration = dt.timedelta(hours=2)
    evaluation: PostRunEvaluation | None = None


class PipelineInfo(ConfigModel):
    """Who the pipeline is."""

    id: Name
    owner: str = ""
    description: str = ""


class Pipeline(ConfigModel):
    """One pipeline file."""

    pipeline: PipelineInfo
    schedule: Schedule = Field(default_factory=Schedule)
    sla: SLA | None = None
    validation: Validation = Field(default_factory=Validation)
    job: Job | None = None
    post_run: PostRun | None = None
    dry_run: StrictBool = False

    @model_validator(mode="after")
    def _cross_field(self) -> "Pipeline":
        if self.sla and self.sla.max_duration and self.schedule.trigger is None:
            raise ValueError("sla.maxDuration needs schedule.trigger (it counts from its arrival)")
        if self.dry_run and (self.job is None or self.job.type is None):
            raise ValueError("dryRun needs job.type (it reports what the job would have done)")
        return self

    @property
    def id(self) -> str:
        """The pipeline id (the run key)."""
        return self.pipeline.id

    @property
    def has_job(self) -> bool:
        """False for job-less pipelines, whose runs an orchestrator claims."""
        return self.job is not None and self.job.type is not None

    @property
    def granularity(self) -> Granularity:
        """Daily or hourly periods: explicit, else from the cron (hourly or finer → hourly),
        else from ``:MM`` deadlines, else daily."""
        if self.schedule.period is not None:
            return self.schedule.period
        cron = self.schedule.cron
        if cron:
            minute, hour = cron.split()[:2]
            return (
                Granularity.DAILY
                if _single_value(hour) and _single_value(minute)
                else (Granularity.HOURLY)
            )
        deadlines = [self.sla.deadline if self.sla else None]
        if self.schedule.trigger is not None:
            deadlines.append(self.schedule.trigger.deadline)
        if any(d is not None and d.startswith(":") for d in deadlines):
            return Granularity.HOURLY
        return Granularity.DAILY

    @property
    def trigger_tz(self) -> ZoneInfo:
        """The zone trigger deadlines are read in: ``schedule.timezone`` when set, else
        ``sla.timezone``, else UTC (Go §7.6: a config that sets only ``sla.timezone`` keeps
        its deadlines)."""
        if "timezone" in self.schedule.model_fields_set or self.sla is None:
            return self.schedule.tz
        return self.sla.tz

    def to_document(self) -> dict[str, Any]:
        """The config as a JSON-ready dict with camelCase keys (round-trips through load)."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if "timezone" not in self.schedule.model_fields_set:
            # Whether schedule.timezone was set matters (trigger_tz): keep it unset.
            document.get("schedule", {}).pop("timezone", None)
        return document


@functools.lru_cache(maxsize=4096)
def _cron_problem(value: str) -> str | None:
    """What is wrong with a cron expression, or None; cached by expression, since thousands
    of pipelines share a few schedules and croniter's checks cost ~0.3 ms each."""
    from croniter import croniter  # ~10 ms to import; only cron pipelines need it

    if not croniter.is_valid(value):
        return f"invalid cron expression {value!r}"
    if len(value.split()) != 5:
        return f"cron expression {value!r} must have 5 fields"
    if not _cron_fires(value):
        return f"cron expression {value!r} never fires (no such date, e.g. 30 February)"
    return None


def _cron_fires(cron: str) -> bool:
    """Whether a cron expression matches any instant (``0 8 30 2 *`` never does)."""
    from croniter import CroniterBadDateError, croniter

    try:
        croniter(cron, dt.datetime(2000, 1, 1), max_years_between_matches=8).get_next(dt.datetime)
    except CroniterBadDateError:
        return False
    return True


def _single_value(field: str) -> bool:
    return field.isdigit()
