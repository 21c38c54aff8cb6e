"""Alert queue (SQS, fed by the bus rule for alert-worthy events) → the alert channels.

The channels and routing are the local runtime's (``interlock_core.alerts``): the routing
comes from ``INTERLOCK_ALERTS`` (JSON of the ``alerts:`` section of interlock.yaml) or, without
it, the defaults; the Slack bot token comes from Secrets Manager (``INTERLOCK_SLACK_SECRET_ARN``:
the token itself, or JSON with ``token`` or ``SLACK_BOT_TOKEN``), read once per container and
never written to the process environment or a log. An event that cannot be delivered after
the dispatcher's retries is dead-lettered as an ``ALERT_DEAD_LETTERED`` event; a message that
is not an Interlock event is reported failed, so SQS moves it to the dead-letter queue.
"""

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.alert_dispatcher")

_secret_env: dict[str, str] | None = None


def handler(event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Deliver the alerts of an SQS batch; report the messages that are not events."""
    from interlock_core.alerts.dispatcher import AlertDispatcher
    from interlock_core.events import Event

    failures: list[dict[str, str]] = []
    events: list[Event] = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            body = json.loads(record["body"])
            detail = body.get("detail", body) if isinstance(body, dict) else body
            events.append(Event.from_dict(detail))
        except Exception:
            log.exception("message %s is not an Interlock event", message_id)
            failures.append({"itemIdentifier": message_id})
    if events:
        environment = alert_environment()
        dispatcher = AlertDispatcher(
            alert_config(environment),
            env=environment,
            on_dead_letter=_dead_letter,
            autostart=False,
        )
        try:
            for item in events:
                dispatcher.publish(item)
            dispatcher.deliver_now()
        finally:
            dispatcher.close(timeout=5.0)
    return {"batchItemFailures": failures}


def alert_environment() -> Mapping[str, str]:
    """The process environment plus the Slack token from Secrets Manager (when configured)."""
    global _secret_env
    if _secret_env is None:
        _secret_env = {}
        arn = os.environ.get("INTERLOCK_SLACK_SECRET_ARN")
        if arn:
            secret = context.client("secretsmanager").get_secret_value(SecretId=arn)
            _secret_env["SLACK_BOT_TOKEN"] = slack_token(secret.get("SecretString", ""))
    return {**os.environ, **_secret_env}


def slack_token(secret: str) -> str:
    """The token in a secret string: the token itself, or JSON naming it."""
    text = secret.strip()
    if text.startswith("{"):
        data = json.loads(text)
        for key in ("token", "SLACK_BOT_TOKEN", "slackBotToken", "botToken"):
            if isinstance(data.get(key), str):
                return str(data[key])
        raise ValueError("the Slack secret is JSON without a token, SLACK_BOT_TOKEN or botToken")
    return text


def alert_config(environment: Mapping[str, str]) -> Any:
    """The alert routing: ``INTERLOCK_ALERTS`` (JSON), else the defaults for ``environment``."""
    from interlock_core.alerts.routing import default_alert_config, parse_alert_config

    text = environment.get("INTERLOCK_ALERTS", "").strip()
    if not text:
        return default_alert_config(environment)
    return parse_alert_config(json.loads(text), source="INTERLOCK_ALERTS")


def reset_secrets() -> None:
    """Forget the cached secret (tests)."""
    global _secret_env
    _secret_env = None


def _dead_letter(event: Any, reason: str) -> None:
    from interlock_core.events import EventType

    if event.type == EventType.ALERT_DEAD_LETTERED:
        return
    context.engine().publish(
        EventType.ALERT_DEAD_LETTERED,
        event.pipeline_id,
        f"alert {event.type.value} not delivered: {reason}",
        period=event.period,
        detail={"eventId": event.id, "reason": reason},
    )
