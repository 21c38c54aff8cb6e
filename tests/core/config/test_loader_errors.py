"""Every class of config error: message, field path, line and hint (DESIGN.md §2, §12)."""

import textwrap

import pytest

from interlock_core.config import Calendar, ConfigError, ConfigIssue, load_pipeline_text

Issue = tuple[int | None, str | None, str, str | None]


def issues_of(text: str, **kwargs: object) -> list[Issue]:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(textwrap.dedent(text), "t.yaml", **kwargs)  # type: ignore[arg-type]
    for issue in info.value.issues:
        assert issue.file == "t.yaml"
    return [(i.line, i.path, i.message, i.hint) for i in info.value.issues]


KNOWN_SCHEDULE_KEYS = (
    "known keys: cron, periodOffset, timezone, trigger, time, evaluation, exclude, include, "
    "calendar, period"
)

CASES: list[tuple[str, str, list[Issue]]] = [
    (
        "unknown key with hint",
        """\
        pipeline:
          id: x
        schedule:
          cronn: "0 8 * * *"
        """,
        [(4, "schedule.cronn", "unknown key 'cronn'", "did you mean 'cron'?")],
    ),
    (
        "unknown key without a close match lists the known keys",
        """\
        pipeline: {id: x}
        schedule: {zzz: 1}
        """,
        [(2, "schedule.zzz", "unknown key 'zzz'", KNOWN_SCHEDULE_KEYS)],
    ),
    (
        "unknown top-level key",
        """\
        pipeline: {id: x}
        postrun: {}
        post_run_x: 1
        """,
        [(3, "post_run_x", "unknown key 'post_run_x'", "did you mean 'postRun'?")],
    ),
    (
        "unknown check with hint",
        """\
        pipeline: {id: x}
        validation:
          rules:
            - key: a
              check: exists
            - key: b
              check: greater
              field: n
              value: 1
        """,
        [
            (
                7,
                "validation.rules[1].check",
                "unknown check 'greater'",
                "did you mean 'gte'?",
            )
        ],
    ),
    (
        "unknown check without a close match lists the checks",
        """\
        pipeline: {id: x}
        schedule:
          trigger: {key: a, check: zzzzzz}
        """,
        [
            (
                3,
                "schedule.trigger.check",
                "unknown check 'zzzzzz'",
                "use one of: exists, equals, neq, in, gt, gte, lt, lte, age_lt, age_gt",
            )
        ],
    ),
    (
        "unknown job type with hint",
        """\
        pipeline: {id: x}
        job:
          type: stepfunction
        """,
        [(3, "job.type", "unknown job type 'stepfunction'", "did you mean 'step-function'?")],
    ),
    (
        "bad time zone",
        """\
        pipeline: {id: x}
        schedule:
          timezone: Mars/Olympus
        """,
        [
            (
                3,
                "schedule.timezone",
                "unknown time zone 'Mars/Olympus' (use an IANA name such as 'UTC')",
                None,
            )
        ],
    ),
    (
        "bad SLA time zone",
        """\
        pipeline: {id: x}
        sla: {deadline: "10:00", timezone: "Europe/"}
        """,
        [
            (
                2,
                "sla.timezone",
                "unknown time zone 'Europe/' (use an IANA name such as 'UTC')",
                None,
            )
        ],
    ),
    (
        "bad cron",
        """\
        pipeline: {id: x}
        schedule:
          cron: "0 25 * * *"
        """,
        [(3, "schedule.cron", "invalid cron expression '0 25 * * *'", None)],
    ),
    (
        "cron with six fields",
        """\
        pipeline: {id: x}
        schedule:
          cron: "0 0 8 * * *"
        """,
        [(3, "schedule.cron", "cron expression '0 0 8 * * *' must have 5 fields", None)],
    ),
    (
        "bad duration",
        """\
        pipeline: {id: x}
        schedule:
          evaluation:
            window: 1x
        """,
        [
            (
                4,
                "schedule.evaluation.window",
                "invalid duration '1x': use numbers with units ns, us, ms, s, m, h, d "
                "(e.g. '90s', '1h30m', '1d')",
                None,
            )
        ],
    ),
    (
        "non-positive duration",
        """\
        pipeline: {id: x}
        postRun:
          sensorTimeout: -2h
        """,
        [(3, "postRun.sensorTimeout", "must be positive, got -2h0m0s", None)],
    ),
    (
        "a number where a duration belongs",
        """\
        pipeline: {id: x}
        schedule:
          evaluation: {interval: 300}
        """,
        [
            (
                3,
                "schedule.evaluation.interval",
                "invalid duration 300: expected a string such as '1h30m' or '1d'",
                None,
            )
        ],
    ),
    (
        "bad rule age duration",
        """\
        pipeline: {id: x}
        validation:
          rules:
            - key: fresh
              check: age_lt
              field: updatedAt
              value: 2hours
        """,
        [
            (
                7,
                "validation.rules[0].value",
                "invalid duration '2hours': use numbers with units ns, us, ms, s, m, h, d "
                "(e.g. '90s', '1h30m', '1d')",
                None,
            )
        ],
    ),
    (
        "bad deadline",
        """\
        pipeline: {id: x}
        sla:
          deadline: "24:00"
        """,
        [
            (
                3,
                "sla.deadline",
                "invalid deadline '24:00': use 'HH:MM' (daily) or ':MM' (hourly)",
                None,
            )
        ],
    ),
    (
        "bad trigger deadline",
        """\
        pipeline: {id: x}
        schedule:
          trigger:
            key: a
            check: exists
            deadline: ":75"
        """,
        [
            (
                6,
                "schedule.trigger.deadline",
                "invalid deadline ':75': use 'HH:MM' (daily) or ':MM' (hourly)",
                None,
            )
        ],
    ),
    (
        "bad schedule time",
        """\
        pipeline: {id: x}
        schedule: {time: "8am"}
        """,
        [(2, "schedule.time", "invalid time '8am': use 'HH:MM'", None)],
    ),
    (
        "cron and include",
        """\
        pipeline: {id: x}
        schedule:
          cron: "0 8 * * *"
          include:
            dates: [2026-03-31]
        """,
        [(4, "schedule.include", "cron and include are mutually exclusive", None)],
    ),
    (
        "empty include",
        """\
        pipeline: {id: x}
        schedule:
          include:
            dates: []
        """,
        [(4, "schedule.include.dates", "must not be empty", None)],
    ),
    (
        "bad date",
        """\
        pipeline: {id: x}
        schedule:
          exclude:
            dates:
              - 2026-12-25
              - 2026-02-30
        """,
        [
            (
                6,
                "schedule.exclude.dates[1]",
                "invalid date '2026-02-30': use YYYY-MM-DD",
                None,
            )
        ],
    ),
    (
        "ANY without rules",
        """\
        pipeline: {id: x}
        validation:
          trigger: ANY
        """,
        [(3, "validation.trigger", "match mode ANY needs at least one rule", None)],
    ),
    (
        "bad match mode",
        """\
        pipeline: {id: x}
        validation:
          trigger: MOST
        """,
        [(3, "validation.trigger", "invalid match mode 'MOST': use ALL or ANY", None)],
    ),
    (
        "maxDuration over 24h",
        """\
        pipeline: {id: x}
        schedule:
          trigger: {key: a, check: exists}
        sla:
          maxDuration: 25h
        """,
        [(5, "sla.maxDuration", "must be at most 24h, got 25h0m0s", None)],
    ),
    (
        "maxDuration without a trigger",
        """\
        pipeline: {id: x}
        sla:
          expectedDuration: 10m
          maxDuration: 2h
        """,
        [
            (
                4,
                "sla.maxDuration",
                "needs schedule.trigger (it counts from its arrival)",
                None,
            )
        ],
    ),
    (
        "dryRun without a job type",
        """\
        pipeline: {id: x}
        schedule:
          trigger: {key: a, check: exists}
        dryRun: true
        """,
        [
            (
                4,
                "dryRun",
                "needs job.type (it reports what the job would have done)",
                None,
            )
        ],
    ),
    (
        "job config missing a required key",
        """\
        pipeline: {id: x}
        job:
          type: glue
          config:
            arguments: {"--env": prod}
        """,
        [(4, "job.config", "missing required key 'jobName'", None)],
    ),
    (
        "typed job with no config at all",
        """\
        pipeline: {id: x}
        job:
          type: databricks
        """,
        [
            (2, "job.config", "missing required key 'workspaceUrl'", None),
            (2, "job.config", "missing required key 'jobId'", None),
        ],
    ),
    (
        "unknown job config key with hint",
        """\
        pipeline: {id: x}
        job:
          type: glue
          config:
            jobName: etl
            arguements: {}
        """,
        [(6, "job.config.arguements", "unknown key 'arguements'", "did you mean 'arguments'?")],
    ),
    (
        "job config errors do not hide the other job errors",
        """\
        pipeline: {id: x}
        job:
          type: emr
          config:
            clusterId: j-1
          maxRetries: 11
        """,
        [
            (4, "job.config", "missing required key 'stepName'", None),
            (4, "job.config", "missing required key 'command'", None),
            (6, "job.maxRetries", "must be between 0 and 10, got 11", None),
        ],
    ),
    (
        "config without a job type",
        """\
        pipeline: {id: x}
        job:
          config: {command: "echo hi"}
        """,
        [(3, "job.config", "needs a job type", None)],
    ),
    (
        "inline Authorization header",
        """\
        pipeline: {id: x}
        job:
          type: http
          config:
            url: https://example.com/hook
            headers:
              Authorization: Bearer abc123
        """,
        [
            (
                7,
                "job.config.headers.Authorization",
                "header 'Authorization' holds an inline secret; put it in an environment "
                "variable and name it with tokenEnv (or reference ${INTERLOCK_...})",
                None,
            )
        ],
    ),
    (
        "command of the wrong type",
        """\
        pipeline: {id: x}
        job:
          type: command
          config:
            command: 42
        """,
        [(5, "job.config.command", "expected a string or a list, got 42", None)],
    ),
    (
        "command list with a non-string",
        """\
        pipeline: {id: x}
        job:
          type: command
          config:
            command:
              - python3
              - 3
        """,
        [(7, "job.config.command[1]", "expected a string, got 3", None)],
    ),
    (
        "budgets out of range",
        """\
        pipeline: {id: x}
        job:
          maxRetries: -1
          maxCodeRetries: 4
          maxDriftReruns: 6
          maxManualReruns: 9
          jobCheckIntervalSeconds: 0
        """,
        [
            (3, "job.maxRetries", "must be between 0 and 10, got -1", None),
            (4, "job.maxCodeRetries", "must be between 0 and 3, got 4", None),
            (5, "job.maxDriftReruns", "must be between 0 and 5, got 6", None),
            (6, "job.maxManualReruns", "must be between 0 and 5, got 9", None),
            (7, "job.jobCheckIntervalSeconds", "must be between 1 and 3600, got 0", None),
        ],
    ),
    (
        "fractional budget",
        """\
        pipeline: {id: x}
        job: {maxRetries: 2.5}
        """,
        [(2, "job.maxRetries", "expected a whole number, got 2.5", None)],
    ),
    (
        "jobPollWindowSeconds 30",
        """\
        pipeline: {id: x}
        job:
          type: command
          config: {command: [echo, hi]}
          jobPollWindowSeconds: 30
        """,
        [
            (
                5,
                "job.jobPollWindowSeconds",
                "must be 0 or between 60 and 86400, got 30",
                None,
            )
        ],
    ),
    (
        "rule needs a numeric value",
        """\
        pipeline: {id: x}
        validation:
          rules:
            - key: rows
              check: gte
              field: count
              value: lots
        """,
        [(7, "validation.rules[0].value", "check 'gte' needs a numeric value, got 'lots'", None)],
    ),
    (
        "rule needs a field",
        """\
        pipeline: {id: x}
        validation:
          rules:
            - {key: rows, check: equals, value: 1}
        """,
        [(4, "validation.rules[0]", "check 'equals' needs a field", None)],
    ),
    (
        "rule without a key",
        """\
        pipeline: {id: x}
        validation:
          rules:
            - check: exists
        """,
        [(4, "validation.rules[0]", "missing required key 'key'", None)],
    ),
    (
        "bad sensor key name",
        """\
        pipeline: {id: x}
        validation:
          rules: [{key: "row count", check: exists}]
        """,
        [
            (
                3,
                "validation.rules[0].key",
                "invalid name 'row count': use 1 to 200 letters, digits, '.', '_', ':', '#' or '-'",
                None,
            )
        ],
    ),
    (
        "missing pipeline section",
        """\
        schedule: {timezone: UTC}
        """,
        [(1, None, "missing required key 'pipeline'", None)],
    ),
    (
        "section of the wrong type",
        """\
        pipeline: {id: x}
        sla: [10:00]
        validation:
          rules: none
        """,
        [
            (2, "sla", "expected a mapping, got a list", None),
            (4, "validation.rules", "expected a list, got 'none'", None),
        ],
    ),
    (
        "bool of the wrong kind",
        """\
        pipeline: {id: x}
        schedule:
          exclude: {weekends: sometimes}
        """,
        [(3, "schedule.exclude.weekends", "expected true or false, got 'sometimes'", None)],
    ),
    (
        "every issue of the file is reported, in line order",
        """\
        pipeline: {id: x}
        schedule:
          timezone: Nowhere/City
          cron: "every day"
        validation:
          trigger: ALL
          rules:
            - {key: a, check: equal, field: s, value: 1}
        job:
          type: glu
        """,
        [
            (
                3,
                "schedule.timezone",
                "unknown time zone 'Nowhere/City' (use an IANA name such as 'UTC')",
                None,
            ),
            (4, "schedule.cron", "invalid cron expression 'every day'", None),
            (8, "validation.rules[0].check", "unknown check 'equal'", "did you mean 'equals'?"),
            (10, "job.type", "unknown job type 'glu'", "did you mean 'glue'?"),
        ],
    ),
    (
        "YAML syntax error with its line",
        """\
        pipeline:
          id: x
        schedule:
          cron: "0 8 * * *
          timezone: UTC
        """,
        [
            (
                6,
                None,
                "invalid YAML: found unexpected end of stream "
                "(while scanning a quoted scalar at line 4)",
                None,
            )
        ],
    ),
    (
        "YAML indentation error",
        """\
        pipeline:
          id: x
         owner: y
        """,
        [
            (
                3,
                None,
                "invalid YAML: did not find expected key (while parsing a block mapping at line 1)",
                None,
            )
        ],
    ),
    (
        "duplicate key",
        """\
        pipeline: {id: x}
        job:
          maxRetries: 1
          maxRetries: 2
        """,
        [(4, None, "duplicate key 'maxRetries' (first at line 3)", None)],
    ),
    (
        "non-mapping top level",
        """\
        - pipeline: {id: x}
        """,
        [(1, None, "a pipeline file must be a YAML mapping (key: value), got a list", None)],
    ),
    (
        "scalar top level",
        """\
        just words
        """,
        [(1, None, "a pipeline file must be a YAML mapping (key: value), got 'just words'", None)],
    ),
    (
        "empty file",
        "",
        [(1, None, "the file is empty; a pipeline file is a YAML mapping", None)],
    ),
    (
        "two documents",
        """\
        pipeline: {id: x}
        ---
        pipeline: {id: y}
        """,
        [
            (
                2,
                None,
                "a config file holds exactly one YAML document; found a second one ('---')",
                None,
            )
        ],
    ),
    (
        "recursive alias",
        """\
        pipeline: &p {id: x, owner: *p}
        """,
        [(1, None, "invalid YAML: an alias refers to a node that contains it", None)],
    ),
    (
        "unsupported tag",
        """\
        pipeline: {id: !!binary eA==}
        """,
        [(1, None, "unsupported YAML tag !!binary", None)],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_config_errors(text: str, expected: list[Issue]) -> None:
    assert issues_of(text) == expected


def test_error_message_names_file_line_path_and_hint() -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("pipeline: {id: x}\nschedule:\n  cronn: x\n", "p/a.yaml")
    assert (
        str(info.value) == "p/a.yaml:3: schedule.cronn: unknown key 'cronn' (did you mean 'cron'?)"
    )
    assert (info.value.file, info.value.line, info.value.path) == ("p/a.yaml", 3, "schedule.cronn")
    assert isinstance(info.value, ValueError)


CALENDARS = {"us-federal": Calendar(name="us-federal"), "uk-bank": Calendar(name="uk-bank")}


def test_unknown_calendar_with_hint() -> None:
    text = """\
    pipeline: {id: x}
    schedule:
      exclude:
        calendars:
          - uk-bank
          - us-federl
    """
    assert issues_of(text, calendars=CALENDARS) == [
        (
            6,
            "schedule.exclude.calendars[1]",
            "unknown calendar 'us-federl'",
            "did you mean 'us-federal'?",
        )
    ]


def test_unknown_schedule_calendar_lists_the_known_ones() -> None:
    text = """\
    pipeline: {id: x}
    schedule:
      calendar: holidays
    """
    assert issues_of(text, calendars=CALENDARS) == [
        (
            3,
            "schedule.calendar",
            "unknown calendar 'holidays'",
            "known calendars: uk-bank, us-federal",
        )
    ]


def test_calendar_reference_without_any_calendars() -> None:
    text = "pipeline: {id: x}\nschedule: {exclude: {calendars: [us-federal]}}\n"
    assert issues_of(text, calendars={}) == [
        (
            2,
            "schedule.exclude.calendars[0]",
            "unknown calendar 'us-federal'",
            "no calendars found; add calendars/<name>.yaml beside the pipelines",
        )
    ]


def test_calendar_errors_come_with_the_other_errors() -> None:
    text = "pipeline: {id: x}\nschedule: {timezone: Bad/Zone, calendar: nope}\n"
    found = issues_of(text, calendars=CALENDARS)
    assert [issue[1] for issue in found] == ["schedule.timezone", "schedule.calendar"]


def test_calendar_references_are_not_checked_without_calendars() -> None:
    text = "pipeline: {id: x}\nschedule: {exclude: {calendars: [anything]}}\n"
    assert load_pipeline_text(text).schedule.exclude.calendars == ["anything"]


def test_config_issue_str_without_line_or_path() -> None:
    assert str(ConfigIssue("file not found", file="a.yaml")) == "a.yaml: file not found"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('" 12"', "check 'gt' needs a numeric value, got ' 12'"),
        ('"1_000"', "check 'gt' needs a numeric value, got '1_000'"),
        ("true", "check 'gt' needs a numeric value, got True"),
    ],
)
def test_numeric_rule_values_parse_like_the_rule_engine(value: str, message: str) -> None:
    text = f"""\
    pipeline: {{id: x}}
    validation:
      rules: [{{key: rows, check: gt, field: count, value: {value}}}]
    """
    [(line, path, got, _)] = issues_of(text)
    assert (line, path) == (3, "validation.rules[0].value")
    assert message in got


def test_a_negative_age_threshold_is_an_error() -> None:
    text = """\
    pipeline: {id: x}
    validation:
      rules: [{key: fresh, check: age_lt, field: updatedAt, value: -1h}]
    """
    [(_, path, got, _)] = issues_of(text)
    assert path in {"validation.rules[0]", "validation.rules[0].value"}
    assert "needs a duration of at least 0" in got


@pytest.mark.parametrize(
    ("snippet", "line", "path"),
    [
        # equals/neq/in take any value, so only the store's JSON used to notice: it wrote
        # null, and every later read of the store failed.
        (
            "validation:\n  rules:\n    - {key: a, check: equals, field: f, value: .inf}\n",
            4,
            "validation.rules[0].value",
        ),
        (
            "validation:\n  rules:\n    - key: a\n      check: in\n      field: f\n"
            "      value: [1, .nan]\n",
            7,
            "validation.rules[0].value[1]",
        ),
        ("sla:\n  deadline: ':55'\npostRun:\n  driftThreshold: 1e400\n", 5, None),
        (
            "job:\n  type: airflow\n  config:\n    url: http://127.0.0.1:1\n    dagId: d\n"
            "    conf: {limit: -.inf}\n",
            7,
            "job.config.conf.limit",
        ),
    ],
)
def test_an_infinite_or_nan_number_is_refused_where_it_is_written(
    snippet: str, line: int, path: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline_text("pipeline: {id: p}\n" + snippet, "p.yaml")
    finite = [issue for issue in caught.value.issues if "not a finite number" in issue.message]
    assert len(finite) == 1, caught.value.issues
    assert finite[0].line == line
    if path is not None:
        assert finite[0].path == path
