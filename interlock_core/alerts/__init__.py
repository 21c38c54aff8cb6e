"""Alert channels (Slack, webhook, log), their routing config and the dispatcher.

Names are loaded on first use (PEP 562): importing ``interlock_core.alerts.base`` (the engine
does) loads neither the channels nor urllib, http.client, email or ssl; a channel's module is
imported when a config names it (see :mod:`interlock_core.alerts.dispatcher`).
"""

from typing import TYPE_CHECKING

from interlock_core.lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "AlertChannel": "interlock_core.alerts.base",
    "AlertConfig": "interlock_core.alerts.routing",
    "AlertDispatcher": "interlock_core.alerts.dispatcher",
    "AlertSink": "interlock_core.alerts.base",
    "CollectingAlerts": "interlock_core.alerts.base",
    "DEFAULT_ALERT_EVENTS": "interlock_core.alerts.routing",
    "DeliveryError": "interlock_core.alerts.base",
    "DispatcherStats": "interlock_core.alerts.dispatcher",
    "FileThreadStore": "interlock_core.alerts.slack",
    "LogChannel": "interlock_core.alerts.log",
    "MemoryThreadStore": "interlock_core.alerts.slack",
    "NullAlerts": "interlock_core.alerts.base",
    "SlackChannel": "interlock_core.alerts.slack",
    "ThreadStore": "interlock_core.alerts.slack",
    "WebhookChannel": "interlock_core.alerts.webhook",
    "alert_config_path": "interlock_core.alerts.routing",
    "build_channel": "interlock_core.alerts.dispatcher",
    "dead_letter_event": "interlock_core.alerts.dispatcher",
    "default_alert_config": "interlock_core.alerts.routing",
    "default_thread_store": "interlock_core.alerts.slack",
    "load_alert_config": "interlock_core.alerts.routing",
    "parse_alert_config": "interlock_core.alerts.routing",
    "verify_signature": "interlock_core.alerts.webhook",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__, globals())
