"""SLA warning and breach checks: ``{"pipeline": ID, "period": P}`` for one pipeline (a one-shot
schedule), or ``{}`` for every pipeline (the minute watchdog schedule does this too).

The checks are the local runtime's (``interlock_core.watchdog.check_sla`` and
``check_relative_sla``); alerts are deduplicated by store markers, so extra calls are harmless.
"""

import logging
from typing import Any

from aws_runtime import context

log = logging.getLogger("interlock.aws.sla_monitor")


def handler(event: dict[str, Any] | None, lambda_context: Any = None) -> dict[str, Any]:
    """Check SLA deadlines; returns the types of the alerts published."""
    from interlock_core.watchdog import check_relative_sla, check_sla

    event = event or {}
    engine = context.engine()
    pipeline_id = event.get("pipeline")
    if pipeline_id is not None:
        active = engine.config(str(pipeline_id))
        configs = [active] if active is not None else []
    else:
        configs = engine.active_configs()
    now = engine.clock.now()
    published: list[str] = []
    failed: list[str] = []
    for active in configs:
        for check in (check_sla, check_relative_sla):
            try:
                published.extend(event.type.value for event in check(engine, active, now))
            except Exception:
                log.exception("SLA check of %s failed", active.pipeline.id)
                failed.append(active.pipeline.id)
    return {"published": published, "failed": sorted(set(failed))}
