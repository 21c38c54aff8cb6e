"""interlock.yaml alert routing: parsing, validation messages, defaults."""

from pathlib import Path

import pytest

from interlock_core.alerts.routing import (
    DEFAULT_ALERT_EVENTS,
    AlertConfig,
    LogChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
    alert_config_path,
    default_alert_config,
    load_alert_config,
    parse_alert_config,
)
from interlock_core.config.errors import ConfigError
from interlock_core.events import EventType

EXAMPLE = """\
alerts:
  channels:
    ops-slack: {type: slack, tokenEnv: SLACK_BOT_TOKEN, channelEnv: SLACK_CHANNEL_ID,
                rateLimit: {messages: 5, per: 60s}}
    pager: {type: webhook, urlEnv: PAGER_WEBHOOK_URL, secretEnv: PAGER_SECRET}
    log: {type: log}
  routes:
    - {events: [SLA_BREACH, JOB_FAILED, RETRY_EXHAUSTED], channels: [ops-slack, pager]}
    - {events: ["*"], channels: [log]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "interlock.yaml"
    path.write_text(text)
    return path


def errors_of(section: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_alert_config(section, source="interlock.yaml")
    return str(info.value)


def test_the_example_file(tmp_path: Path) -> None:
    config = load_alert_config(write(tmp_path, EXAMPLE), {})
    slack = config.channels["ops-slack"]
    assert isinstance(slack, SlackChannelConfig)
    assert slack.token_env == "SLACK_BOT_TOKEN"
    assert slack.resolved_channel_env == "SLACK_CHANNEL_ID"
    assert slack.rate_limit is not None
    assert (slack.rate_limit.messages, slack.rate_limit.per) == (5, 60.0)
    pager = config.channels["pager"]
    assert isinstance(pager, WebhookChannelConfig)
    assert (pager.url_env, pager.secret_env, pager.url) == (
        "PAGER_WEBHOOK_URL",
        "PAGER_SECRET",
        None,
    )
    assert isinstance(config.channels["log"], LogChannelConfig)
    assert config.channels_for(EventType.SLA_BREACH) == ("ops-slack", "pager", "log")
    assert config.channels_for(EventType.RUN_OPENED) == ("log",)


def test_channels_are_listed_once_in_route_order() -> None:
    config = parse_alert_config(
        {
            "channels": {"a": {"type": "log"}, "b": {"type": "log"}},
            "routes": [
                {"events": ["JOB_FAILED"], "channels": ["b", "a"]},
                {"events": ["*"], "channels": ["a"]},
                {"events": ["JOB_FAILED"], "channels": ["b"]},
            ],
        }
    )
    assert config.channels_for(EventType.JOB_FAILED) == ("b", "a")
    assert config.channels_for(EventType.SLA_MET) == ("a",)


@pytest.mark.parametrize(
    ("per", "seconds"), [("60s", 60.0), ("1m", 60.0), ("1h", 3600.0), (30, 30.0), (0.5, 0.5)]
)
def test_rate_limit_windows(per: object, seconds: float) -> None:
    config = parse_alert_config(
        {"channels": {"l": {"type": "log", "rateLimit": {"messages": 1, "per": per}}}}
    )
    limit = config.channels["l"].rate_limit
    assert limit is not None
    assert limit.per == seconds


def test_unknown_event_types_get_a_did_you_mean() -> None:
    text = errors_of(
        {
            "channels": {"log": {"type": "log"}},
            "routes": [{"events": ["SLA_BREACH", "SLA_BRECH"], "channels": ["log"]}],
        }
    )
    assert "interlock.yaml: alerts.routes[0].events: unknown event type 'SLA_BRECH'" in text
    assert "did you mean 'SLA_BREACH'?" in text
    assert "did you mean 'JOB_FAILED'?" in errors_of(
        {
            "channels": {"log": {"type": "log"}},
            "routes": [{"events": ["job_failed"], "channels": ["log"]}],
        }
    )
    assert "did you mean" not in errors_of(
        {
            "channels": {"log": {"type": "log"}},
            "routes": [{"events": ["NOPE"], "channels": ["log"]}],
        }
    )


def test_the_go_event_name_sfn_timeout_is_refused() -> None:
    assert "unknown event type 'SFN_TIMEOUT'" in errors_of(
        {
            "channels": {"log": {"type": "log"}},
            "routes": [{"events": ["SFN_TIMEOUT"], "channels": ["log"]}],
        }
    )


def test_unknown_channel_references() -> None:
    text = errors_of(
        {
            "channels": {"ops-slack": {"type": "log"}},
            "routes": [{"events": ["*"], "channels": ["ops_slak"]}],
        }
    )
    assert "routes[0] names unknown channel 'ops_slak'" in text
    assert "did you mean 'ops-slack'?" in text
    assert "defined channels: ops-slack" in text


def test_unknown_channel_types() -> None:
    text = errors_of({"channels": {"s": {"type": "slak"}}})
    assert "alerts.channels.s: unknown channel type 'slak'" in text
    assert "did you mean 'slack'?" in text


def test_unknown_keys_are_named() -> None:
    text = errors_of({"channels": {"log": {"type": "log", "colour": "red"}}})
    assert "alerts.channels.log.colour: unknown key" in text


@pytest.mark.parametrize(
    ("key", "pointer"),
    [
        ("token", "tokenEnv"),
        ("bot_token", "tokenEnv"),
        ("secret", "secretEnv"),
        ("webhookUrl", "urlEnv"),
    ],
)
def test_inline_secrets_are_refused(key: str, pointer: str) -> None:
    secret = "xoxb-9999-TOPSECRET"
    channel = {"type": "slack" if "token" in key.lower() else "webhook", key: secret}
    if channel["type"] == "webhook":
        channel["urlEnv"] = "X"
    text = errors_of({"channels": {"c": channel}})
    assert f"'{key}' is not allowed" in text
    assert pointer in text
    assert secret not in text


def test_a_secret_pasted_into_an_env_field_is_refused_and_not_echoed() -> None:
    secret = "xoxb-1234-TOPSECRET"
    text = errors_of({"channels": {"s": {"type": "slack", "tokenEnv": secret}}})
    assert "alerts.channels.s.tokenEnv: must be the name of an environment variable" in text
    assert secret not in text


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:TOPSECRET@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x?token=TOPSECRET", "query string"),
        ("https://hooks.slack.com/services/T0/B0/TOPSECRET", "hooks.slack.com"),
        ("https://HOOKS.SLACK.COM./services/T0/B0/TOPSECRET", "hooks.slack.com"),
        ("https://Hooks.Slack.Com/services/T0/B0/TOPSECRET", "hooks.slack.com"),
        ("https://hooks.slack.com./services/T0/B0/TOPSECRET", "hooks.slack.com"),
        ("ftp://example.com/TOPSECRET", "http(s) URL"),
    ],
)
def test_literal_urls_with_credentials_are_refused(url: str, why: str) -> None:
    text = errors_of({"channels": {"w": {"type": "webhook", "url": url}}})
    assert why in text
    assert "TOPSECRET" not in text


@pytest.mark.parametrize(
    "api_base",
    ["http://slack.example.com/api", "http://127.0.0.1:9/api"],
)
def test_slack_api_base_must_be_https(api_base: str) -> None:
    text = errors_of({"channels": {"s": {"type": "slack", "apiBase": api_base}}})
    assert "https" in text


def test_plain_http_api_base_only_to_loopback_with_the_opt_in() -> None:
    channel = {"type": "slack", "apiBase": "http://127.0.0.1:9/api", "allowPrivateNetwork": True}
    parse_alert_config({"channels": {"s": channel}})
    channel["apiBase"] = "http://10.0.0.5/api"
    assert "https" in errors_of({"channels": {"s": channel}})


def test_a_plain_literal_url_is_allowed() -> None:
    config = parse_alert_config(
        {"channels": {"w": {"type": "webhook", "url": "http://127.0.0.1:9/x"}}}
    )
    assert config.channels["w"].url == "http://127.0.0.1:9/x"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "channel", [{"type": "webhook"}, {"type": "webhook", "url": "http://a/", "urlEnv": "U"}]
)
def test_a_webhook_needs_exactly_one_url(channel: dict[str, str]) -> None:
    assert "exactly one of urlEnv" in errors_of({"channels": {"w": channel}})


@pytest.mark.parametrize(
    "rate_limit",
    [
        {"messages": 0, "per": "1s"},
        {"messages": 1, "per": "0s"},
        {"messages": 1, "per": "soon"},
        {"messages": 1},
    ],
)
def test_bad_rate_limits(rate_limit: dict[str, object]) -> None:
    assert "alerts.channels.l.rateLimit" in errors_of(
        {"channels": {"l": {"type": "log", "rateLimit": rate_limit}}}
    )


def test_every_problem_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        parse_alert_config({"channels": {"a": {"type": "slak"}, "b": {"type": "log", "x": 1}}})
    assert len(info.value.issues) == 2


def test_defaults_without_a_file(tmp_path: Path) -> None:
    for config in (
        load_alert_config(None, {}),
        load_alert_config(tmp_path / "missing.yaml", {}),
        load_alert_config(write(tmp_path, ""), {}),
        load_alert_config(write(tmp_path, "other: {}\n"), {}),
    ):
        assert list(config.channels) == ["log"]
        routed = {t for t in EventType if config.channels_for(t)}
        assert routed == DEFAULT_ALERT_EVENTS


def test_the_default_alert_set() -> None:
    # Go's Slack column (STALE_RUN for SFN_TIMEOUT) plus the port's own operator events.
    for name in (
        "SLA_BREACH",
        "STALE_RUN",
        "POST_RUN_FAILED",
        "INFRA_ALARM",
        "DRY_RUN_DRIFT",
        "TRIGGER_UNCERTAIN",
        "CONFIG_INVALID",
        "PIPELINE_REMOVED",
        "ALERT_DEAD_LETTERED",
        "CONTROLLER_ERROR",
    ):
        assert EventType[name] in DEFAULT_ALERT_EVENTS
    for name in (
        "VALIDATION_PASSED",
        "JOB_TRIGGERED",
        "WATCHDOG_DEGRADED",
        "POST_RUN_PASSED",
        "POST_RUN_BASELINE_CAPTURED",
        "RUN_OPENED",
        "CONFIG_APPLIED",
    ):
        assert EventType[name] not in DEFAULT_ALERT_EVENTS
    assert len(DEFAULT_ALERT_EVENTS) == 41


def test_env_only_channels() -> None:
    env = {
        "INTERLOCK_SLACK_CHANNEL": "C0123",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "INTERLOCK_WEBHOOK_URL": "https://hooks.example.com/x?k=1",
        "INTERLOCK_WEBHOOK_SECRET": "s",
    }
    config = default_alert_config(env)
    assert list(config.channels) == ["log", "slack", "webhook"]
    slack = config.channels["slack"]
    assert isinstance(slack, SlackChannelConfig)
    assert (slack.token_env, slack.resolved_channel_env) == (
        "SLACK_BOT_TOKEN",
        "INTERLOCK_SLACK_CHANNEL",
    )
    webhook = config.channels["webhook"]
    assert isinstance(webhook, WebhookChannelConfig)
    assert (webhook.url_env, webhook.secret_env) == (
        "INTERLOCK_WEBHOOK_URL",
        "INTERLOCK_WEBHOOK_SECRET",
    )
    assert config.channels_for(EventType.SLA_BREACH) == ("log", "slack", "webhook")
    assert config.channels_for(EventType.RUN_OPENED) == ()


def test_slack_needs_both_the_channel_and_the_token() -> None:
    assert list(default_alert_config({"INTERLOCK_SLACK_CHANNEL": "C1"}).channels) == ["log"]
    assert list(default_alert_config({"SLACK_BOT_TOKEN": "x"}).channels) == ["log"]
    unsigned = default_alert_config({"INTERLOCK_WEBHOOK_URL": "http://x/"}).channels["webhook"]
    assert unsigned.secret_env is None  # type: ignore[union-attr]


def test_a_file_wins_over_the_environment(tmp_path: Path) -> None:
    config = load_alert_config(
        write(tmp_path, EXAMPLE), {"INTERLOCK_SLACK_CHANNEL": "C1", "SLACK_BOT_TOKEN": "x"}
    )
    assert "slack" not in config.channels


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts:\n  channels: [\n")
    with pytest.raises(ConfigError) as info:
        load_alert_config(path, {})
    assert info.value.file == str(path)
    assert info.value.line is not None


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts:\n  routes: [{events: [X], channels: [y]}]\n")
    with pytest.raises(ConfigError) as info:
        load_alert_config(path, {})
    assert str(info.value).startswith(f"{path}: alerts.routes[0].events")


def test_non_mapping_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_alert_config(write(tmp_path, "- 1\n"), {})
    with pytest.raises(ConfigError):
        load_alert_config(write(tmp_path, "alerts: [1]\n"), {})


def test_the_file_sits_inside_or_beside_the_pipelines_directory(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    assert alert_config_path(pipelines) == pipelines / "interlock.yaml"  # neither: inside
    (tmp_path / "interlock.yaml").write_text("alerts: {}\n")
    assert alert_config_path(pipelines) == tmp_path / "interlock.yaml"
    (tmp_path / "interlock.yaml").unlink()
    (pipelines / "interlock.yml").write_text("alerts: {}\n")
    assert alert_config_path(pipelines) == pipelines / "interlock.yml"
    (pipelines / "interlock.yaml").write_text("alerts: {}\n")
    assert alert_config_path(pipelines) == pipelines / "interlock.yaml"  # .yaml before .yml


def test_a_settings_file_inside_cannot_replace_the_operators_beside(tmp_path: Path) -> None:
    # "Inside wins" let anyone who can write a pipeline file drop an interlock.yaml next to
    # it and lift the operator's jobs limits (types, env allow-list) kept beside the folder.
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (tmp_path / "interlock.yaml").write_text("jobs: {types: [http]}\n")
    (pipelines / "interlock.yml").write_text("jobs: {}\n")
    with pytest.raises(ConfigError, match="two settings files"):
        alert_config_path(pipelines)


def test_config_is_immutable() -> None:
    config = AlertConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.routes = []  # type: ignore[misc]
