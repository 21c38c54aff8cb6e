"""One EventBridge Scheduler schedule per cron pipeline: names, expressions, reconciliation."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aws_runtime.schedules import (
    Deployment,
    desired_schedules,
    reconcile,
    schedule_name,
    scheduler_cron,
)
from interlock_core.config.models import Pipeline

GROUP = "interlock-prod"
DEPLOYMENT = Deployment(
    group=GROUP,
    role_arn="arn:aws:iam::123456789012:role/scheduler",
    orchestrator_arn="arn:aws:lambda:eu-west-1:123456789012:function:orchestrator",
)


def _pipeline(pipeline_id: str, cron: str | None, timezone: str = "UTC") -> Pipeline:
    schedule: dict[str, Any] = {"timezone": timezone}
    if cron:
        schedule["cron"] = cron
    else:
        schedule["trigger"] = {"key": "upstream", "check": "exists"}
    return Pipeline.model_validate({"pipeline": {"id": pipeline_id}, "schedule": schedule})


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 6 * * *", "cron(0 6 * * ? *)"),
        ("*/15 * * * *", "cron(*/15 * * * ? *)"),
        ("30 6 * * 1-5", "cron(30 6 ? * 2-6 *)"),
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 6,0", "cron(0 0 ? * 7,1 *)"),
        ("0 9 * * MON-FRI", "cron(0 9 ? * MON-FRI *)"),
        ("0 9 * * 1-5/2", "cron(0 9 ? * 2-6/2 *)"),
        ("0 3 1 * *", "cron(0 3 1 * ? *)"),
        ("0 3 1,15 1-6 *", "cron(0 3 1,15 1-6 ? *)"),
    ],
)
def test_cron_becomes_a_scheduler_expression(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


def test_a_cron_restricting_both_day_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="both the day of the month and the day of the week"):
        scheduler_cron("0 3 1 * 1")
    with pytest.raises(ValueError, match=r"pipeline odd: .*day of the week"):
        desired_schedules([_pipeline("odd", "0 3 1 * 1")], DEPLOYMENT)


def test_schedule_names_are_safe_unique_and_short() -> None:
    assert schedule_name("daily-sales") == "cron-daily-sales"
    odd = schedule_name("sales/eu daily")
    assert odd.startswith("cron-sales-eu-daily-") and len(odd) <= 64
    assert schedule_name("sales/eu daily") != schedule_name("sales-eu daily")
    long_name = schedule_name("x" * 200)
    assert len(long_name) == 64 and long_name != schedule_name("x" * 199)


def test_desired_schedules_target_the_orchestrator_in_the_pipeline_time_zone() -> None:
    wanted = desired_schedules(
        [_pipeline("gate", None), _pipeline("daily", "0 6 * * *", "America/New_York")], DEPLOYMENT
    )
    assert list(wanted) == ["cron-daily"]
    schedule = wanted["cron-daily"]
    assert schedule["GroupName"] == GROUP
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedule["Target"]["Arn"] == DEPLOYMENT.orchestrator_arn
    assert schedule["Target"]["RoleArn"] == DEPLOYMENT.role_arn
    assert json.loads(schedule["Target"]["Input"]) == {"mode": "open-tick", "pipeline": "daily"}


@pytest.fixture
def scheduler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("scheduler", region_name="eu-west-1")
        client.create_schedule_group(Name=GROUP)
        # Not Interlock's cron schedules: reconciliation leaves them alone.
        client.create_schedule(
            Name="watchdog",
            GroupName=GROUP,
            ScheduleExpression="rate(1 minute)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": DEPLOYMENT.orchestrator_arn, "RoleArn": DEPLOYMENT.role_arn},
        )
        yield client


def _actions(changes: list[Any]) -> dict[str, str]:
    return {change.name: change.action for change in changes}


def test_reconcile_creates_updates_deletes_and_leaves_the_rest(scheduler: Any) -> None:
    first = [_pipeline("a", "0 6 * * *"), _pipeline("b", "0 7 * * *"), _pipeline("gate", None)]
    assert _actions(reconcile(scheduler, first, DEPLOYMENT)) == {
        "cron-a": "created",
        "cron-b": "created",
    }
    assert _actions(reconcile(scheduler, first, DEPLOYMENT)) == {
        "cron-a": "unchanged",
        "cron-b": "unchanged",
    }
    second = [_pipeline("a", "0 6 * * *", "Europe/Paris"), _pipeline("gate", None)]
    changes = reconcile(scheduler, second, DEPLOYMENT)
    assert _actions(changes) == {"cron-a": "updated", "cron-b": "deleted"}
    assert [c.pipeline_id for c in changes if c.action == "deleted"] == ["b"]
    names = {s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]}
    assert names == {"cron-a", "watchdog"}
    schedule = scheduler.get_schedule(GroupName=GROUP, Name="cron-a")
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
