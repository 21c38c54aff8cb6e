"""Job URLs in pipeline configs: no credentials in them, and messages that never repeat them."""

import pytest

from interlock_core.config import ConfigError, load_pipeline_text

TEMPLATE = """
pipeline: {id: orders}
schedule: {cron: "0 1 * * *"}
job:
  type: %s
  config: {%s}
"""


def error_of(job_type: str, config: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_pipeline_text(TEMPLATE % (job_type, config), "orders.yaml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("job_type", "config", "key", "names"),
    [
        ("http", 'url: "https://svc:S3cr3tPW@jobs.example.com/run"', "url", "tokenEnv"),
        (
            "http",
            'url: "https://jobs.example.com/run", statusUrl: "https://svc:S3cr3tPW@x.example/s"',
            "statusUrl",
            "tokenEnv",
        ),
        ("http", 'url: "https://:S3cr3tPW@jobs.example.com/run"', "url", "tokenEnv"),
        (
            "airflow",
            'url: "https://admin:S3cr3tPW@airflow.example.com", dagId: etl',
            "url",
            "usernameEnv/passwordEnv",
        ),
        (
            "databricks",
            'workspaceUrl: "https://token:S3cr3tPW@dbc.example.com", jobId: 1',
            "workspaceUrl",
            "tokenEnv",
        ),
    ],
)
def test_user_info_in_job_urls_is_refused_without_echoing_it(
    job_type: str, config: str, key: str, names: str
) -> None:
    text = error_of(job_type, config)
    assert f"job.config.{key}: must not contain credentials" in text
    assert names in text
    assert "S3cr3tPW" not in text


@pytest.mark.parametrize(
    ("job_type", "config"),
    [
        ("airflow", 'url: "https://airflow.example.com/?token=S3cr3tPW", dagId: etl'),
        ("databricks", 'workspaceUrl: "https://dbc.example.com/#S3cr3tPW", jobId: 1'),
    ],
)
def test_base_urls_take_no_query_or_fragment(job_type: str, config: str) -> None:
    text = error_of(job_type, config)
    assert "must be a base URL" in text
    assert "S3cr3tPW" not in text


def test_base_urls_must_be_http() -> None:
    assert "must be an http(s) URL" in error_of(
        "databricks", 'workspaceUrl: "dbc.example.com", jobId: 1'
    )


def test_plain_urls_are_accepted() -> None:
    pipeline = load_pipeline_text(
        TEMPLATE % ("http", 'url: "https://jobs.example.com/run?mode=full#x"'), "orders.yaml"
    )
    assert pipeline.job is not None
    assert pipeline.job.config is not None
