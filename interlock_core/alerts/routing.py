"""Which events go to which alert channels: the ``alerts`` section of ``interlock.yaml``.

``interlock.yaml`` sits beside the pipelines directory::

    alerts:
      channels:
        ops-slack: {type: slack, tokenEnv: SLACK_BOT_TOKEN, channelEnv: SLACK_CHANNEL_ID,
                    rateLimit: {messages: 5, per: 60s}}
        pager: {type: webhook, urlEnv: PAGER_WEBHOOK_URL, secretEnv: PAGER_SECRET}
        log: {type: log}
      routes:
        - {events: [SLA_BREACH, JOB_FAILED, RETRY_EXHAUSTED], channels: [ops-slack, pager]}
        - {events: ["*"], channels: [log]}

An event goes to every channel of every route that names its type (or ``"*"``). Secrets are
never written in the file: only the names of the environment variables that hold them
(``tokenEnv``, ``urlEnv``, ``secretEnv``). Without a file, the reference's alert events go to
the log, plus Slack and/or a webhook when ``INTERLOCK_SLACK_CHANNEL`` and ``SLACK_BOT_TOKEN``
or ``INTERLOCK_WEBHOOK_URL`` are set.
"""

import datetime as dt
import difflib
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from interlock_core.config.durations import parse_duration
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.settings import read_settings
from interlock_core.events import EventType

ALERT_CONFIG_FILENAME = "interlock.yaml"
ALL_EVENTS = "*"

#: The events routed to alert channels by default: the Go reference's Slack set (§1.4, with
#: STALE_RUN for SFN_TIMEOUT) plus the events this port added that need an operator.
DEFAULT_ALERT_EVENTS: frozenset[EventType] = frozenset(
    {
        EventType.VALIDATION_EXHAUSTED,
        EventType.JOB_COMPLETED,
        EventType.JOB_FAILED,
        EventType.JOB_POLL_EXHAUSTED,
        EventType.RETRY_EXHAUSTED,
        EventType.INFRA_FAILURE,
        EventType.SLA_WARNING,
        EventType.SLA_BREACH,
        EventType.SLA_MET,
        EventType.STALE_RUN,
        EventType.SCHEDULE_MISSED,
        EventType.IRREGULAR_SCHEDULE_MISSED,
        EventType.TRIGGER_RECOVERED,
        EventType.SENSOR_DEADLINE_EXPIRED,
        EventType.POST_RUN_SENSOR_MISSING,
        EventType.RELATIVE_SLA_BREACH,
        EventType.RELATIVE_SLA_WARNING,
        EventType.LATE_DATA_ARRIVAL,
        EventType.RERUN_REJECTED,
        EventType.RERUN_ACCEPTED,
        EventType.PIPELINE_EXCLUDED,
        EventType.BASELINE_CAPTURE_FAILED,
        EventType.POST_RUN_FAILED,
        EventType.POST_RUN_DRIFT,
        EventType.POST_RUN_DRIFT_INFLIGHT,
        EventType.DATA_DRIFT,
        EventType.INFRA_ALARM,
        EventType.DRY_RUN_WOULD_TRIGGER,
        EventType.DRY_RUN_LATE_DATA,
        EventType.DRY_RUN_SLA_PROJECTION,
        EventType.DRY_RUN_COMPLETED,
        EventType.DRY_RUN_DRIFT,
        EventType.DRY_RUN_WOULD_RERUN,
        EventType.DRY_RUN_RERUN_REJECTED,
        EventType.DRY_RUN_WOULD_RETRY,
        EventType.DRY_RUN_RETRY_EXHAUSTED,
        EventType.TRIGGER_UNCERTAIN,
        EventType.CONFIG_INVALID,
        EventType.PIPELINE_REMOVED,
        EventType.ALERT_DEAD_LETTERED,
        EventType.CONTROLLER_ERROR,
    }
)

ENV_SLACK_CHANNEL = "INTERLOCK_SLACK_CHANNEL"
ENV_SLACK_TOKEN = "SLACK_BOT_TOKEN"  # noqa: S105 (the variable's name, not a token)
ENV_WEBHOOK_URL = "INTERLOCK_WEBHOOK_URL"
ENV_WEBHOOK_SECRET = "INTERLOCK_WEBHOOK_SECRET"  # noqa: S105 (the variable's name)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Keys people reach for when pasting a secret; each gets a pointer to its *Env sibling.
_INLINE_SECRET_KEYS = {
    "token": "tokenEnv",
    "bottoken": "tokenEnv",
    "secret": "secretEnv",
    "signingsecret": "secretEnv",
    "password": "an environment variable",
    "apikey": "an environment variable",
    "webhookurl": "urlEnv",
}
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# Hosts whose webhook URLs are themselves credentials.
_SECRET_URL_HOSTS = ("hooks.slack.com", "discord.com", "discordapp.com", "webhook.office.com")


def _env_name(value: str) -> str:
    # The value is not echoed: when this fails it is often the secret pasted by mistake.
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(
            "must be the name of an environment variable (letters, digits and _), "
            "not the secret itself"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _to_seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '60s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        seconds = parse_duration(value).total_seconds()
    else:
        raise ValueError("expected a duration such as '60s'")
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


Seconds = Annotated[float, BeforeValidator(_to_seconds)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                target = _INLINE_SECRET_KEYS.get(str(key).replace("_", "").lower())
                if target is not None:
                    raise ValueError(
                        f"'{key}' is not allowed: secrets never go in the config file; "
                        f"put it in an environment variable and name that with {target}"
                    )
        return data


class RateLimit(_Model):
    """At most ``messages`` messages per ``per`` seconds; a burst beyond becomes one digest.

    Attributes:
        messages: the bucket size.
        per: the window in seconds (``"60s"``, ``"1m"`` or a number in the file).
    """

    messages: int = Field(ge=1)
    per: Seconds


class SlackChannelConfig(_Model):
    """A Slack channel through the Bot API.

    Attributes:
        type: ``slack``.
        token_env: the environment variable holding the bot token.
        channel: the Slack channel id (``C0123…``; an id is not a secret).
        channel_env: the environment variable holding the channel id (used when ``channel``
            is not set; default ``SLACK_CHANNEL_ID``).
        api_base: the Web API base URL (https only: the bot token goes there).
        timeout: seconds per HTTP request (one deadline for the whole request).
        rate_limit: optional rate limit.
        allow_private_network: allow a loopback, link-local or private target (SSRF guard).
    """

    type: Literal["slack"]
    token_env: EnvName = ENV_SLACK_TOKEN
    channel: str | None = Field(default=None, min_length=1)
    channel_env: EnvName | None = None
    api_base: str = "https://slack.com/api"
    timeout: Seconds = 10.0
    rate_limit: RateLimit | None = None
    allow_private_network: StrictBool = False

    @property
    def resolved_channel_env(self) -> str:
        """The variable the channel id is read from when ``channel`` is not set."""
        return self.channel_env or "SLACK_CHANNEL_ID"

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        _check_url_has_no_credentials(value, secret_hosts=())
        return value

    @model_validator(mode="after")
    def _https_api_base(self) -> "SlackChannelConfig":
        parts = urllib.parse.urlsplit(self.api_base)
        # The bot token is sent there: in clear only to this machine, and only when asked.
        loopback = parts.hostname in LOOPBACK_HOSTS and self.allow_private_network
        if parts.scheme != "https" and not loopback:
            raise ValueError(
                "apiBase must be an https URL: the bot token is sent there "
                "(plain http only to a loopback test server with allowPrivateNetwork: true)"
            )
        return self


class WebhookChannelConfig(_Model):
    """A generic JSON webhook.

    Attributes:
        type: ``webhook``.
        url_env: the environment variable holding the URL (preferred: URLs carry secrets).
        url: a literal URL; refused when it carries credentials (user info, a query string,
            or a host whose webhook URLs are secrets).
        secret_env: the environment variable holding the HMAC signing secret.
        timeout: seconds per HTTP request (one deadline for the whole request).
        rate_limit: optional rate limit.
        allow_private_network: allow a loopback, link-local or private target (SSRF guard).
    """

    type: Literal["webhook"]
    url_env: EnvName | None = None
    url: str | None = None
    secret_env: EnvName | None = None
    timeout: Seconds = 10.0
    rate_limit: RateLimit | None = None
    allow_private_network: StrictBool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_url_has_no_credentials(value, secret_hosts=_SECRET_URL_HOSTS)
        return value

    @model_validator(mode="after")
    def _one_url(self) -> "WebhookChannelConfig":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of urlEnv (preferred) and url")
        return self


class LogChannelConfig(_Model):
    """The ``interlock.alerts`` logger.

    Attributes:
        type: ``log``.
        rate_limit: optional rate limit (rarely useful).
    """

    type: Literal["log"]
    rate_limit: RateLimit | None = None


ChannelConfig = Annotated[
    SlackChannelConfig | WebhookChannelConfig | LogChannelConfig, Field(discriminator="type")
]
CHANNEL_TYPES = ("slack", "webhook", "log")


def _check_url_has_no_credentials(value: str, *, secret_hosts: tuple[str, ...]) -> None:
    # Messages never repeat the URL: the point is that it may be a secret.
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("the URL carries credentials; put it in an environment variable (urlEnv)")
    if parts.query:
        raise ValueError(
            "the URL has a query string, which often carries a token; "
            "put it in an environment variable (urlEnv)"
        )
    # Host names are case-insensitive and may end in the root's dot: HOOKS.SLACK.COM. is
    # hooks.slack.com.
    host = parts.hostname.lower().rstrip(".")
    if any(host == h or host.endswith("." + h) for h in secret_hosts):
        raise ValueError(
            f"{host} webhook URLs are secrets; put it in an environment variable (urlEnv)"
        )


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        # Event names are upper case; people type them in any case.
        close = difflib.get_close_matches(name.upper(), candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Route(_Model):
    """Send the listed event types (or ``"*"``) to the listed channels.

    Attributes:
        events: event type names, or ``"*"`` for every event.
        channels: names of channels defined under ``alerts.channels``.
    """

    events: list[str] = Field(min_length=1)
    channels: list[str] = Field(min_length=1)

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str]) -> list[str]:
        names = [e.value for e in EventType]
        for name in value:
            if name != ALL_EVENTS and name not in names:
                raise ValueError(f"unknown event type {name!r}{_did_you_mean(name, names)}")
        return value

    def matches(self, event_type: EventType) -> bool:
        """Whether this route takes ``event_type``."""
        return ALL_EVENTS in self.events or event_type.value in self.events


class AlertConfig(_Model):
    """The ``alerts`` section: named channels and the routes to them.

    Attributes:
        channels: channel configs by name.
        routes: the routes, in order.
    """

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    _by_type: dict[EventType, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> "AlertConfig":
        known = list(self.channels)
        for name in known:
            if not _CHANNEL_NAME.match(name):
                raise ValueError(f"channel name {name!r} must be letters, digits, '_', '.' or '-'")
        for index, route in enumerate(self.routes):
            for ref in route.channels:
                if ref not in self.channels:
                    defined = ", ".join(known) or "none"
                    raise ValueError(
                        f"routes[{index}] names unknown channel {ref!r}"
                        f"{_did_you_mean(ref, known)}; defined channels: {defined}"
                    )
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Precompute the channels of every event type, so routing is a dict lookup."""
        table: dict[EventType, tuple[str, ...]] = {}
        for event_type in EventType:
            names: list[str] = []
            for route in self.routes:
                if route.matches(event_type):
                    names.extend(n for n in route.channels if n not in names)
            table[event_type] = tuple(names)
        self._by_type = table

    def channels_for(self, event_type: EventType) -> tuple[str, ...]:
        """The names of the channels an event type goes to, each once, in route order."""
        return self._by_type.get(event_type, ())


def alert_config_path(pipelines_dir: str | os.PathLike[str]) -> Path:
    """Where ``interlock.yaml`` (or ``interlock.yml``) lives for a pipelines directory: inside
    it, else beside it (like ``calendars/``) unless that parent folder is world-writable.
    Returns the inside ``.yaml`` path when none exists.

    Raises:
        ConfigError: there is a settings file both inside and beside the directory.
    """
    from interlock_core.config.loader import shared_parent_allowed

    folder = Path(pipelines_dir).resolve()
    places = [folder, folder.parent] if shared_parent_allowed(folder) else [folder]
    found: list[Path] = []
    for place in places:
        for name in (ALERT_CONFIG_FILENAME, "interlock.yml"):
            if (place / name).exists():
                found.append(place / name)
                break
    if len(found) > 1:
        # The operator's file beside the pipelines directory holds the limits on jobs; one
        # inside, where pipeline authors write, would silently replace it.
        raise ConfigError(
            ConfigIssue(
                f"two settings files: {found[0]} and {found[1]}; keep only one (the one "
                "beside the pipelines directory when pipeline authors may write inside it)",
                file=str(found[0]),
            )
        )
    return found[0] if found else folder / ALERT_CONFIG_FILENAME


def default_alert_config(env: Mapping[str, str]) -> AlertConfig:
    """The config used without a file: the alert events to the log, and to Slack and/or a
    webhook when the environment names them.

    Args:
        env: the environment (``INTERLOCK_SLACK_CHANNEL`` with ``SLACK_BOT_TOKEN`` adds a
            ``slack`` channel; ``INTERLOCK_WEBHOOK_URL`` adds a ``webhook`` channel, signed
            when ``INTERLOCK_WEBHOOK_SECRET`` is set).
    """
    channels: dict[str, Any] = {"log": LogChannelConfig(type="log")}
    if env.get(ENV_SLACK_CHANNEL, "").strip() and env.get(ENV_SLACK_TOKEN, "").strip():
        channels["slack"] = SlackChannelConfig(
            type="slack", token_env=ENV_SLACK_TOKEN, channel_env=ENV_SLACK_CHANNEL
        )
    if env.get(ENV_WEBHOOK_URL, "").strip():
        channels["webhook"] = WebhookChannelConfig(
            type="webhook",
            url_env=ENV_WEBHOOK_URL,
            secret_env=ENV_WEBHOOK_SECRET if env.get(ENV_WEBHOOK_SECRET) else None,
        )
    events = sorted(e.value for e in DEFAULT_ALERT_EVENTS)
    return AlertConfig(channels=channels, routes=[Route(events=events, channels=list(channels))])


def _issue_from_error(error: Mapping[str, Any], source: str | None) -> ConfigIssue:
    loc = list(error.get("loc", ()))
    # Tagged unions put the tag in the location ("channels.x.slack.tokenEnv"): drop it.
    if len(loc) > 2 and loc[0] == "channels" and loc[2] in CHANNEL_TYPES:
        del loc[2]
    path = "alerts"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    hint = None
    if error.get("type") == "union_tag_invalid":
        tag = str((error.get("ctx") or {}).get("tag", ""))
        message = f"unknown channel type {tag!r}; use one of {', '.join(CHANNEL_TYPES)}"
        close = difflib.get_close_matches(tag, list(CHANNEL_TYPES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
    elif error.get("type") == "extra_forbidden":
        message = "unknown key"
    return ConfigIssue(message, file=source, path=path, hint=hint)


def parse_alert_config(data: Any, *, source: str | None = None) -> AlertConfig:
    """Validate the ``alerts`` section (the mapping under ``alerts:``).

    Args:
        data: the parsed section.
        source: the file name, for error messages.

    Raises:
        ConfigError: the section is invalid; values are never echoed (they may be secrets).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(ConfigIssue("must be a mapping", file=source, path="alerts"))
    try:
        return AlertConfig.model_validate(dict(data))
    except ValidationError as exc:
        issues = [_issue_from_error(e, source) for e in exc.errors(include_input=False)]
        raise ConfigError(issues) from None


def load_alert_config(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> AlertConfig:
    """Load the alert routing.

    Args:
        path: ``interlock.yaml``; ``None``, a missing file or a file without an ``alerts``
            section gives :func:`default_alert_config`.
        env: the environment, for the env-only channels of the default config.

    Raises:
        ConfigError: the file is not YAML or its ``alerts`` section is invalid.
    """
    if path is None:
        return default_alert_config(env)
    file = Path(path)
    document = read_settings(file)
    if document is None:
        return default_alert_config(env)
    if not isinstance(document, Mapping):
        raise ConfigError(ConfigIssue("must be a mapping", file=str(file)))
    section = document.get("alerts")
    if section is None:
        return default_alert_config(env)
    return parse_alert_config(section, source=str(file))
