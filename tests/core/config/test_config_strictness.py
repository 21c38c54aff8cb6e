"""Configs that used to load silently and now are errors (issue #7 item 12)."""

import textwrap

import pytest

from interlock_core.config import ConfigError, load_pipeline_text


def _issues(text: str) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(textwrap.dedent(text), "t.yaml")
    return [(issue.path, issue.message) for issue in info.value.issues]


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        pytest.param(
            """\
            pipeline: {id: x}
            schedule: {cron: "0 8 30 2 *"}
            """,
            "schedule.cron",
            "never fires",
            id="cron-that-never-fires",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            schedule: {periodOffset: -1d}
            """,
            "schedule.periodOffset",
            "needs schedule.cron",
            id="period-offset-without-cron",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            dryRun: 'yes'
            job: {type: command, config: {command: "true"}}
            """,
            "dryRun",
            "expected true or false",
            id="dry-run-string",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            job: {type: command, config: {command: "true"}, maxRetries: true}
            """,
            "job.maxRetries",
            "expected a whole number",
            id="max-retries-bool",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            schedule: {exclude: {weekends: "true"}}
            """,
            "schedule.exclude.weekends",
            "expected true or false",
            id="weekends-string",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            postRun: {rules: [{key: a, check: exists}], driftThreshold: true}
            """,
            "postRun.driftThreshold",
            "expected a number",
            id="drift-threshold-bool",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            job: {type: http, config: {url: "https://example.com/run", allowPrivateNetwork: "yes"}}
            """,
            "job.config.allowPrivateNetwork",
            "expected true or false",
            id="job-config-bool-string",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            job: {type: command, config: {command: "true", timeout: true}}
            """,
            "job.config.timeout",
            "expected a number of seconds",
            id="job-timeout-bool",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            validation: {rules: [{key: a, check: equals, field: status}]}
            """,
            "validation.rules[0]",
            "check 'equals' needs a value",
            id="equals-without-value",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            validation: {rules: [{key: a, check: neq, field: status}]}
            """,
            "validation.rules[0]",
            "check 'neq' needs a value",
            id="neq-without-value",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            validation: {rules: [{key: a, check: in, field: status}]}
            """,
            "validation.rules[0]",
            "check 'in' needs a value",
            id="in-without-value",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            schedule: {trigger: {key: a, check: equals, field: status}}
            """,
            "schedule.trigger",
            "check 'equals' needs a value",
            id="trigger-equals-without-value",
        ),
        pytest.param(
            """\
            pipeline: {id: x}
            postRun: {rules: [{key: a, check: exists}], driftField: ""}
            """,
            "postRun.driftField",
            "at least 1 character",
            id="empty-drift-field",
        ),
    ],
)
def test_silent_acceptance_became_an_error(text: str, path: str, words: str) -> None:
    issues = _issues(text)
    assert any(p == path and words in message for p, message in issues), issues


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('schedule: {cron: "0 8 29 2 *"}', id="leap-day-cron-fires"),
        pytest.param('schedule: {cron: "0 8 30 2 1"}', id="day-or-weekday-fires"),
        pytest.param('schedule: {cron: "0 8 * * *", periodOffset: -1d}', id="offset-with-cron"),
        pytest.param(
            "schedule: {include: {dates: [2026-03-31]}, periodOffset: -1d}", id="offset-include"
        ),
        pytest.param("job: {type: command, config: {command: 'true'}, maxRetries: 2}", id="int"),
        pytest.param(
            "validation: {rules: [{key: a, check: equals, field: s, value: 0}]}", id="falsy-value"
        ),
        pytest.param(
            "validation: {rules: [{key: a, check: equals, field: s, value: false}]}",
            id="false-value",
        ),
        pytest.param(
            "postRun: {rules: [{key: a, check: exists}], driftThreshold: 2}", id="int-threshold"
        ),
    ],
)
def test_what_stays_valid(text: str) -> None:
    load_pipeline_text(f"pipeline: {{id: x}}\n{text}\n", "t.yaml")
