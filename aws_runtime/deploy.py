"""Deploy the CloudFormation stack and apply pipelines to it (``interlock aws deploy|apply``).

Every AWS client comes from boto3's default session, so ``AWS_PROFILE``, ``AWS_REGION`` and
``AWS_ENDPOINT_URL`` work as for the AWS CLI. Progress goes through an ``echo`` callable so
the command decides where it is printed.
"""

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from aws_runtime.schedules import Deployment, ScheduleChange, desired_schedules, reconcile
from aws_runtime.stack_template import TEMPLATE_PATH, content_key, deployed_template
from interlock_core.config import ConfigError, PipelineSet, load_pipelines
from interlock_core.engine import ApplyResult, Interlock
from interlock_core.storage import open_store

Echo = Callable[[str], None]
BUNDLE_PREFIX = "interlock/bundles"
TEMPLATE_PREFIX = "interlock/templates"
POLL_SECONDS = 2.0
STACK_TIMEOUT_SECONDS = 3600.0
FAILED_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")
DONE_STATUSES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "DELETE_COMPLETE",
        "DELETE_FAILED",
    }
)
REQUIRED_OUTPUTS = (
    "StoreUrl",
    "SchedulerGroupName",
    "SchedulerRoleArn",
    "OrchestratorFunctionArn",
)


class DeployError(Exception):
    """The deployment failed; the message says why (no traceback needed)."""


def _boto3() -> Any:
    import boto3  # the aws extra; imported here so `interlock --help` stays boto3-free

    return boto3


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with timeouts (``AWS_ENDPOINT_URL`` is honoured by boto3 itself)."""
    from botocore.config import Config

    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 5})
    return _boto3().client(service, region_name=region, config=config)


def template_parameters(template_path: Path = TEMPLATE_PATH) -> dict[str, dict[str, Any]]:
    """The template's parameters, by name."""
    loader = type("CfnLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)
    document = yaml.load(template_path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    return dict(document.get("Parameters", {}))


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs checked against the template's parameters.

    Raises:
        DeployError: a pair without ``=``, an unknown key, or a key the deployer sets itself.
    """
    known = template_parameters()
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"--parameter must be KEY=VALUE, got {pair!r}")
        if key in {"CodeBucket", "CodeKey"}:
            raise DeployError(f"--parameter {key} is set by deploy (use --bucket / --package)")
        if key not in known:
            raise DeployError(
                f"unknown --parameter {key!r}; the template has: {', '.join(sorted(known))}"
            )
        result[key] = value
    return result


# ----------------------------------------------------------------------------- stack


def upload(s3: Any, bucket: str, data: bytes, prefix: str, suffix: str, echo: Echo) -> str:
    """Upload ``data`` under its content-addressed key unless it is already there."""
    key = content_key(data, prefix, suffix)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        echo(f"s3://{bucket}/{key} already uploaded")
        return key
    except Exception as exc:
        if _error_code(exc) not in {"404", "NoSuchKey", "NotFound"}:
            raise DeployError(f"cannot read s3://{bucket}/{key}: {_message(exc)}") from None
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as exc:
        raise DeployError(f"cannot upload to s3://{bucket}/{key}: {_message(exc)}") from None
    echo(f"uploaded s3://{bucket}/{key} ({len(data) / 1e6:.1f} MB)")
    return key


def deploy_stack(
    cfn: Any,
    s3: Any,
    *,
    stack_name: str,
    bucket: str,
    bundle: bytes,
    parameters: Mapping[str, str],
    region: str,
    echo: Echo,
    timeout: float = STACK_TIMEOUT_SECONDS,
) -> dict[str, str]:
    """Create the stack, or update it through a change set; wait; return its outputs.

    Raises:
        DeployError: the stack failed (its failed resources and reasons in the message).
    """
    code_key = upload(s3, bucket, bundle, BUNDLE_PREFIX, ".zip", echo)
    template = deployed_template().encode("utf-8")
    template_key = upload(s3, bucket, template, TEMPLATE_PREFIX, ".yaml", echo)
    template_url = f"https://s3.{region}.amazonaws.com/{bucket}/{template_key}"
    current = _describe(cfn, stack_name)
    if current is not None and current["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} is ROLLBACK_COMPLETE (its creation failed) and cannot be "
            f"updated; delete it (aws cloudformation delete-stack --stack-name {stack_name}) "
            "and deploy again"
        )
    if current is not None and current["StackStatus"].endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {stack_name} is busy ({current['StackStatus']}); try later")
    values = {**parameters, "CodeBucket": bucket, "CodeKey": code_key}
    previous = {p["ParameterKey"] for p in (current or {}).get("Parameters", [])}
    stack_parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]
    # An upgrade keeps every setting it is not told to change.
    stack_parameters += [
        {"ParameterKey": key, "UsePreviousValue": True} for key in sorted(previous - set(values))
    ]
    # Progress and failure reasons are the stack events after the newest one seen now (no
    # comparison of this machine's clock with AWS's).
    started = _newest_event_id(cfn, stack_name) if current is not None else None
    arguments = {
        "StackName": stack_name,
        "TemplateURL": template_url,
        "Parameters": stack_parameters,
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": "interlock:stack", "Value": stack_name}],
    }
    if current is None:
        echo(f"creating stack {stack_name}")
        try:
            cfn.create_stack(**arguments)
        except Exception as exc:
            raise DeployError(_stack_failure(cfn, stack_name, started, exc)) from None
    elif not _update_through_change_set(cfn, arguments, echo, timeout, started):
        return outputs(cfn, stack_name)
    status = _wait_stack(cfn, stack_name, started, echo, timeout)
    if status not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
        reasons = failure_reasons(cfn, stack_name, started)
        raise DeployError(
            f"stack {stack_name} ended {status}"
            + ("".join(f"\n  {line}" for line in reasons) if reasons else "")
        )
    echo(f"stack {stack_name}: {status}")
    return outputs(cfn, stack_name)


def _update_through_change_set(
    cfn: Any, arguments: dict[str, Any], echo: Echo, timeout: float, started: str | None
) -> bool:
    """Create, show and execute an update change set; False when there is nothing to do."""
    stack_name = arguments["StackName"]
    name = f"interlock-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
    try:
        created = cfn.create_change_set(ChangeSetName=name, ChangeSetType="UPDATE", **arguments)
    except Exception as exc:
        raise DeployError(f"CloudFormation refused the change set: {_message(exc)}") from None
    description = _wait_change_set(cfn, created["Id"], timeout)
    if description["Status"] == "FAILED":
        reason = description.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(ChangeSetName=created["Id"])
            echo(f"stack {stack_name} is up to date (no changes)")
            return False
        raise DeployError(f"change set failed: {reason}")
    changes = description.get("Changes", [])
    if not changes:
        cfn.delete_change_set(ChangeSetName=created["Id"])
        echo(f"stack {stack_name} is up to date (no changes)")
        return False
    echo(f"updating stack {stack_name}: {len(changes)} resource change(s)")
    for change in changes:
        resource = change.get("ResourceChange", {})
        replacement = " (replacement)" if resource.get("Replacement") == "True" else ""
        action, logical_id = resource.get("Action", "?"), resource.get("LogicalResourceId", "?")
        echo(f"  {action:<8} {logical_id}{replacement}")
    try:
        cfn.execute_change_set(ChangeSetName=created["Id"])
    except Exception as exc:
        raise DeployError(_stack_failure(cfn, stack_name, started, exc)) from None
    return True


def _stack_failure(cfn: Any, stack_name: str, started: str | None, exc: Exception) -> str:
    reasons = failure_reasons(cfn, stack_name, started)
    return f"stack {stack_name} failed: {_message(exc)}" + "".join(f"\n  {r}" for r in reasons)


def _describe(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        if "does not exist" in _message(exc):
            return None
        raise DeployError(f"cannot describe stack {stack_name}: {_message(exc)}") from None
    return stacks[0] if stacks else None


def _wait_change_set(cfn: Any, change_set_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = cfn.describe_change_set(ChangeSetName=change_set_id)
        if description["Status"] in {"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE"}:
            return description
        if time.monotonic() > deadline:
            raise DeployError(f"change set {change_set_id} still {description['Status']}")
        time.sleep(POLL_SECONDS / 4)


def _wait_stack(cfn: Any, stack_name: str, started: str | None, echo: Echo, timeout: float) -> str:
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        for event in reversed(_events_since(cfn, stack_name, started)):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            echo(
                f"  {event['ResourceStatus']:<24} {event['LogicalResourceId']}"
                + (f" ({reason})" if reason and "FAILED" in event["ResourceStatus"] else "")
            )
        stack = _describe(cfn, stack_name)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        if status in DONE_STATUSES:
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _stack_events(cfn: Any, stack_name: str) -> list[dict[str, Any]]:
    try:
        return list(cfn.describe_stack_events(StackName=stack_name)["StackEvents"])
    except Exception:
        return []  # progress is best effort; the stack status decides


def _newest_event_id(cfn: Any, stack_name: str) -> str | None:
    events = _stack_events(cfn, stack_name)
    return str(events[0]["EventId"]) if events else None


def _events_since(cfn: Any, stack_name: str, started: str | None) -> list[dict[str, Any]]:
    """The stack's events newer than the event ``started`` (all when None), newest first."""
    newer = []
    for event in _stack_events(cfn, stack_name):
        if started is not None and event["EventId"] == started:
            break
        newer.append(event)
    return newer


def failure_reasons(cfn: Any, stack_name: str, started: str | None) -> list[str]:
    """``LOGICAL_ID: reason`` of every resource that failed after the event ``started``."""
    lines = []
    for event in reversed(_events_since(cfn, stack_name, started)):
        if event["ResourceStatus"].endswith("_FAILED") and event.get("ResourceStatusReason"):
            lines.append(f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}")
    return lines


def outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs, by key."""
    stack = _describe(cfn, stack_name)
    if stack is None:
        raise DeployError(f"stack {stack_name} does not exist")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def find_stack_by_store(cfn: Any, store_url: str) -> dict[str, str]:
    """The outputs of the stack whose ``StoreUrl`` output is ``store_url``.

    Raises:
        DeployError: no stack (or more than one) has that StoreUrl.
    """
    matches = []
    try:
        for page in cfn.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                values = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                if values.get("StoreUrl") == store_url:
                    matches.append((stack["StackName"], values))
    except Exception as exc:
        raise DeployError(
            f"cannot list the stacks to find StoreUrl {store_url} ({_message(exc)}); "
            "name the stack with --stack-name"
        ) from None
    if len(matches) != 1:
        found = "no stack" if not matches else f"{len(matches)} stacks"
        raise DeployError(
            f"{found} with StoreUrl {store_url} in this account and region; "
            "name the stack with --stack-name"
        )
    return matches[0][1]


def deployment_of(values: Mapping[str, str]) -> Deployment:
    """The scheduler settings in a stack's outputs."""
    missing = [key for key in REQUIRED_OUTPUTS if not values.get(key)]
    if missing:
        raise DeployError(
            f"the stack has no output {', '.join(missing)} (deployed by an old template?)"
        )
    return Deployment(
        group=values["SchedulerGroupName"],
        role_arn=values["SchedulerRoleArn"],
        orchestrator_arn=values["OrchestratorFunctionArn"],
    )


# ----------------------------------------------------------------------------- apply


def load_checked(directory: Path) -> PipelineSet:
    """Load a pipelines directory; every file must be valid.

    Raises:
        ConfigError: any file is invalid (all issues), or the directory has no pipelines.
    """
    folder = directory.resolve()
    pipeline_set = load_pipelines(folder)
    if pipeline_set.errors:
        raise ConfigError([issue for error in pipeline_set.errors for issue in error.issues])
    if not pipeline_set.pipelines:
        raise DeployError(f"no pipeline files (*.yaml, *.yml) in {folder}; nothing applied")
    return pipeline_set


def apply_pipelines(
    pipeline_set: PipelineSet, store_url: str, deployment: Deployment, scheduler: Any
) -> tuple[ApplyResult, list[ScheduleChange]]:
    """Write the configs through the engine and reconcile the cron schedules.

    Schedules are computed before anything is written, so a cron Scheduler cannot express
    stops the apply with nothing changed.
    """
    desired_schedules(pipeline_set.pipelines.values(), deployment)  # raises on a bad cron
    store = open_store(store_url)
    try:
        result = Interlock(store).apply(pipeline_set, partial=False)
    finally:
        store.close()
    changes = reconcile(scheduler, pipeline_set.pipelines.values(), deployment)
    return result, changes


# ----------------------------------------------------------------------------- errors


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    message = response.get("Error", {}).get("Message")
    text = str(message or exc)
    # An error body botocore could not parse (e.g. JSON where XML was expected): its message.
    embedded = re.search(r'"message": "((?:[^"\\]|\\.)*)"', text)
    if message is None and embedded:
        text = embedded.group(1)
    return " ".join(text.split())
