"""One EventBridge Scheduler schedule per cron pipeline (DESIGN.md §10).

Each schedule fires the pipeline's cron in its time zone and invokes the orchestrator with
``{"mode": "open-tick", "pipeline": ID}``, which opens the run of the current tick
(idempotently). ``reconcile`` makes the schedule group match the pipelines: it creates the
missing schedules, updates the changed ones and deletes those whose pipeline is gone or no
longer has a cron. Only schedules named ``cron-…`` are Interlock's cron schedules; anything
else in the group (the watchdog's tick, one-shot SLA schedules) is left alone.
"""

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from interlock_core.config.models import Pipeline

SCHEDULE_PREFIX = "cron-"
MAX_NAME = 64
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]")
# A day-of-week number (not a step: "1-5/2" keeps its "/2").
_DOW_NUMBER = re.compile(r"(?<![/\d])\d+")


@dataclasses.dataclass(frozen=True)
class Deployment:
    """Where cron schedules go and what they invoke (from the stack's outputs)."""

    group: str
    role_arn: str
    orchestrator_arn: str


@dataclasses.dataclass(frozen=True)
class ScheduleChange:
    """One reconciled schedule."""

    pipeline_id: str
    name: str
    action: str  # created, updated, deleted, unchanged
    expression: str = ""
    timezone: str = ""


def schedule_name(pipeline_id: str) -> str:
    """The schedule name of a pipeline: ``cron-<id>``, made safe and unique when it must be."""
    safe = _NAME_UNSAFE.sub("-", pipeline_id)
    name = SCHEDULE_PREFIX + safe
    if safe == pipeline_id and len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(pipeline_id.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11]}-{digest}"


def scheduler_cron(cron: str) -> str:
    """A five-field cron as EventBridge Scheduler writes it: ``cron(m h dom mon dow *)``.

    Scheduler needs ``?`` in one of the day fields and numbers days of the week 1-7 from
    Sunday (cron: 0-7 from Sunday, 7 also Sunday).

    Raises:
        ValueError: both day-of-month and day-of-week are restricted (cron means "either";
            Scheduler cannot say it).
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {cron!r} must have 5 fields")
    minute, hour, day, month, weekday = fields
    if weekday == "*":
        weekday = "?"
    elif day == "*":
        day = "?"
        weekday = _DOW_NUMBER.sub(lambda m: str(int(m.group()) % 7 + 1), weekday)
    else:
        raise ValueError(
            f"cron expression {cron!r} restricts both the day of the month and the day of "
            "the week, which EventBridge Scheduler cannot express; use one of them"
        )
    return f"cron({minute} {hour} {day} {month} {weekday} *)"


def desired_schedules(
    pipelines: Iterable[Pipeline], deployment: Deployment
) -> dict[str, dict[str, Any]]:
    """The ``CreateSchedule`` arguments of every cron pipeline, by schedule name.

    Raises:
        ValueError: a cron Scheduler cannot express (names the pipeline).
    """
    result: dict[str, dict[str, Any]] = {}
    for pipeline in sorted(pipelines, key=lambda p: p.id):
        cron = pipeline.schedule.cron
        if not cron:
            continue
        try:
            expression = scheduler_cron(cron)
        except ValueError as exc:
            raise ValueError(f"pipeline {pipeline.id}: {exc}") from None
        name = schedule_name(pipeline.id)
        result[name] = {
            "Name": name,
            "GroupName": deployment.group,
            "Description": f"Interlock cron tick of pipeline {pipeline.id}",
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": pipeline.schedule.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": deployment.orchestrator_arn,
                "RoleArn": deployment.role_arn,
                "Input": json.dumps({"mode": "open-tick", "pipeline": pipeline.id}),
                # A missed tick is caught up by the watchdog; no retry storm on errors.
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            },
        }
    return result


def reconcile(
    client: Any, pipelines: Iterable[Pipeline], deployment: Deployment
) -> list[ScheduleChange]:
    """Make the group's ``cron-`` schedules match the cron pipelines.

    Args:
        client: a boto3 ``scheduler`` client.
        pipelines: every pipeline now configured (a pipeline not listed loses its schedule).
        deployment: the stack's scheduler group, scheduler role and orchestrator.
    """
    wanted = desired_schedules(pipelines, deployment)
    existing = _existing(client, deployment.group)
    changes: list[ScheduleChange] = []
    for name, arguments in wanted.items():
        pipeline_id = json.loads(arguments["Target"]["Input"])["pipeline"]
        change = ScheduleChange(
            pipeline_id,
            name,
            "created",
            arguments["ScheduleExpression"],
            arguments["ScheduleExpressionTimezone"],
        )
        if name not in existing:
            client.create_schedule(**arguments)
        elif _differs(existing[name], arguments):
            client.update_schedule(**arguments)
            change = dataclasses.replace(change, action="updated")
        else:
            change = dataclasses.replace(change, action="unchanged")
        changes.append(change)
    for name in sorted(set(existing) - set(wanted)):
        client.delete_schedule(GroupName=deployment.group, Name=name)
        changes.append(ScheduleChange(_pipeline_of(existing[name], name), name, "deleted"))
    return changes


def _existing(client: Any, group: str) -> dict[str, dict[str, Any]]:
    """Interlock's cron schedules in the group, by name (as GetSchedule returns them)."""
    names: list[str] = []
    token = None
    while True:
        page = client.list_schedules(
            GroupName=group, NamePrefix=SCHEDULE_PREFIX, **({"NextToken": token} if token else {})
        )
        names += [
            item["Name"]
            for item in page.get("Schedules", [])
            if item["Name"].startswith(SCHEDULE_PREFIX) and item.get("GroupName", group) == group
        ]
        token = page.get("NextToken")
        if not token:
            break
    return {name: client.get_schedule(GroupName=group, Name=name) for name in names}


def _pipeline_of(schedule: Mapping[str, Any], name: str) -> str:
    try:
        return str(json.loads(schedule["Target"]["Input"])["pipeline"])
    except (KeyError, ValueError, TypeError):
        return name[len(SCHEDULE_PREFIX) :]


def _differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    target, wanted_target = current.get("Target", {}), wanted["Target"]
    return (
        current.get("ScheduleExpression") != wanted["ScheduleExpression"]
        or current.get("ScheduleExpressionTimezone") != wanted["ScheduleExpressionTimezone"]
        or current.get("State") != wanted["State"]
        or any(target.get(key) != wanted_target[key] for key in ("Arn", "RoleArn", "Input"))
    )
