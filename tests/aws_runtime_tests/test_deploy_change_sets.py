"""Updates go through a change set: its changes are listed, it runs, the deploy waits for it.

moto cannot update the full Interlock stack (it fails on resources it never created), so the
change-set path is exercised here on a one-queue stack, in-process.
"""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aws_runtime import deploy

TEMPLATE = json.dumps(
    {
        "Parameters": {"Retention": {"Type": "Number", "Default": 345600}},
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"MessageRetentionPeriod": {"Ref": "Retention"}},
            }
        },
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }
)


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(deploy, "POLL_SECONDS", 0.05)
    with mock_aws():
        client = boto3.client("cloudformation", region_name="eu-west-1")
        client.create_stack(StackName="small", TemplateBody=TEMPLATE)
        yield client


def _arguments(retention: int) -> dict[str, Any]:
    # moto diffs templates, not parameter values: the new version also changes the template.
    template = json.loads(TEMPLATE)
    template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 60
    return {
        "StackName": "small",
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": "Retention", "ParameterValue": str(retention)}],
        "Capabilities": ["CAPABILITY_IAM"],
    }


def test_an_update_lists_its_changes_runs_and_is_waited_for(cfn: Any) -> None:
    lines: list[str] = []
    started = deploy._newest_event_id(cfn, "small")
    assert deploy._update_through_change_set(cfn, _arguments(86400), lines.append, 30, started)
    assert lines[0] == "updating stack small: 1 resource change(s)"
    assert lines[1].split() == ["Modify", "Queue"]
    status = deploy._wait_stack(cfn, "small", started, lines.append, 30)
    assert status == "UPDATE_COMPLETE"
    assert any("UPDATE_COMPLETE" in line for line in lines[2:])
    # Only this deploy's events are shown: none from the stack's creation.
    assert not any("CREATE_COMPLETE" in line for line in lines)
    queue_url = deploy.outputs(cfn, "small")["QueueUrl"]
    attributes = boto3.client("sqs", region_name="eu-west-1").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"


def test_a_refused_change_set_is_a_clear_error(cfn: Any) -> None:
    arguments = {**_arguments(60), "StackName": "no-such-stack"}
    with pytest.raises(deploy.DeployError, match="CloudFormation refused the change set"):
        deploy._update_through_change_set(cfn, arguments, print, 30, None)


def test_failure_reasons_name_the_failed_resources() -> None:
    class Events:
        def describe_stack_events(self, StackName: str) -> dict[str, Any]:
            return {
                "StackEvents": [
                    {
                        "EventId": "3",
                        "LogicalResourceId": "s",
                        "ResourceStatus": "ROLLBACK_COMPLETE",
                    },
                    {
                        "EventId": "2",
                        "LogicalResourceId": "Bus",
                        "ResourceStatus": "CREATE_FAILED",
                        "ResourceStatusReason": "bus already exists",
                    },
                    {
                        "EventId": "1",
                        "LogicalResourceId": "Old",
                        "ResourceStatus": "CREATE_FAILED",
                        "ResourceStatusReason": "an earlier deploy",
                    },
                ]
            }

    assert deploy.failure_reasons(Events(), "s", "1") == ["Bus: bus already exists"]
