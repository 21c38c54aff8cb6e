"""Alert channels (Slack, webhook, log), their routing config and the dispatcher."""

from interlock_core.alerts.base import (
    AlertChannel,
    AlertSink,
    CollectingAlerts,
    DeliveryError,
    NullAlerts,
)
from interlock_core.alerts.dispatcher import (
    AlertDispatcher,
    DispatcherStats,
    build_channel,
    dead_letter_event,
)
from interlock_core.alerts.log import LogChannel
from interlock_core.alerts.routing import (
    DEFAULT_ALERT_EVENTS,
    AlertConfig,
    alert_config_path,
    default_alert_config,
    load_alert_config,
    parse_alert_config,
)
from interlock_core.alerts.slack import (
    FileThreadStore,
    MemoryThreadStore,
    SlackChannel,
    ThreadStore,
    default_thread_store,
)
from interlock_core.alerts.webhook import WebhookChannel, verify_signature

__all__ = [
    "DEFAULT_ALERT_EVENTS",
    "AlertChannel",
    "AlertConfig",
    "AlertDispatcher",
    "AlertSink",
    "CollectingAlerts",
    "DeliveryError",
    "DispatcherStats",
    "FileThreadStore",
    "LogChannel",
    "MemoryThreadStore",
    "NullAlerts",
    "SlackChannel",
    "ThreadStore",
    "WebhookChannel",
    "alert_config_path",
    "build_channel",
    "dead_letter_event",
    "default_alert_config",
    "default_thread_store",
    "load_alert_config",
    "parse_alert_config",
    "verify_signature",
]
