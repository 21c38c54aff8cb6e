"""The CloudFormation template: cfn-lint clean, the same tables as the store, least privilege."""

import json
import re
from typing import Any

import pytest
from cfnlint import api as cfnlint_api
from cfnlint.decode import decode_str

from aws_runtime.stack_template import (
    DEFINITION_PLACEHOLDER,
    STATE_MACHINE_PATH,
    TEMPLATE_PATH,
    deployed_template,
    render_template,
)
from interlock_core.storage.dynamodb_schema import (
    TTL_ATTRIBUTE,
    control_table_definition,
    events_table_definition,
)

FUNCTIONS = {
    "StreamRouterFunction": "stream_router",
    "OrchestratorFunction": "orchestrator",
    "SlaMonitorFunction": "sla_monitor",
    "WatchdogFunction": "watchdog",
    "EventSinkFunction": "event_sink",
    "AlertDispatcherFunction": "alert_dispatcher",
}
STORE = {"ControlTable", "EventsTable"}
KMS = {"KmsKeyArn"}
# What each function's role may name: its own log group and the resources its job needs.
ALLOWED = {
    "StreamRouterFunction": {
        "StreamRouterLogs",
        "RunStateMachine",
        "StreamDeadLetterQueue",
        *STORE,
        *KMS,
    },
    "OrchestratorFunction": {
        "OrchestratorLogs",
        "GlueJobArns",
        "EmrClusterArns",
        "EmrServerlessAppArns",
        "JobStateMachineArns",
        "JobLambdaArns",
        *STORE,
        *KMS,
    },
    "SlaMonitorFunction": {"SlaMonitorLogs", *STORE, *KMS},
    "WatchdogFunction": {"WatchdogLogs", "RunStateMachine", *STORE, *KMS},
    "EventSinkFunction": {
        "EventSinkLogs",
        "EventsTable",
        "EventBus",
        "StreamDeadLetterQueue",
        *KMS,
    },
    "AlertDispatcherFunction": {
        "AlertDispatcherLogs",
        "AlertQueue",
        "SlackSecretArn",
        *STORE,
        *KMS,
    },
}
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::NoValue", "AWS::StackName"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document, matches = decode_str(deployed_template())
    assert not matches
    return document


def _lint(text: str) -> list[str]:
    """cfn-lint's findings (errors and warnings) through its Python API."""
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in cfnlint_api.lint(text)]


def test_cfn_lint_passes_on_the_file_and_on_the_deployed_template() -> None:
    assert _lint(TEMPLATE_PATH.read_text()) == []
    assert _lint(deployed_template()) == []


def test_cfn_lint_catches_a_broken_template() -> None:
    broken = TEMPLATE_PATH.read_text().replace("Runtime: !Ref PythonRuntime", "Runtime: cobol", 1)
    assert any(finding.startswith("E") for finding in _lint(broken))


def test_the_state_machine_is_the_asl_file_inlined(template: dict[str, Any]) -> None:
    definition = template["Resources"]["RunStateMachine"]["Properties"]["DefinitionString"]
    text, variables = definition["Fn::Sub"]
    assert json.loads(text) == json.loads(STATE_MACHINE_PATH.read_text())
    assert "${OrchestratorFunctionArn}" in text
    assert variables == {"OrchestratorFunctionArn": {"Fn::GetAtt": ["OrchestratorFunction", "Arn"]}}
    assert TEMPLATE_PATH.read_text().count(DEFINITION_PLACEHOLDER) == 1


def test_render_refuses_what_is_not_a_state_machine() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        render_template(TEMPLATE_PATH.read_text(), "{nope")
    with pytest.raises(ValueError, match="States"):
        render_template(TEMPLATE_PATH.read_text(), "[]")
    with pytest.raises(ValueError, match="exactly once"):
        render_template("Resources: {}", '{"States": {}}')


def _table(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


@pytest.mark.parametrize(
    ("logical_id", "definition"),
    [
        ("ControlTable", control_table_definition("x")),
        ("EventsTable", events_table_definition("x")),
    ],
)
def test_tables_match_the_store_schema(
    template: dict[str, Any], logical_id: str, definition: dict[str, Any]
) -> None:
    table = _table(template, logical_id)
    assert table["KeySchema"] == definition["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        definition["AttributeDefinitions"], key=str
    )
    assert table["GlobalSecondaryIndexes"] == definition["GlobalSecondaryIndexes"]
    assert (
        table["StreamSpecification"]["StreamViewType"]
        == definition["StreamSpecification"]["StreamViewType"]
    )
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "SSESpecification" in table


def test_functions_run_the_contract_handlers_with_their_own_roles(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    roles = set()
    for logical_id, name in FUNCTIONS.items():
        properties = resources[logical_id]["Properties"]
        assert properties["Handler"] == f"aws_runtime.handlers.{name}.handler"
        role = properties["Role"]["Fn::GetAtt"][0]
        assert resources[role]["Type"] == "AWS::IAM::Role"
        roles.add(role)
        assert "INTERLOCK_STORE" in properties["Environment"]["Variables"]
    assert len(roles) == len(FUNCTIONS)


def test_stream_mappings_report_partial_failures_and_bisect(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    targets = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource["Properties"]
        source = properties["EventSourceArn"]["Fn::GetAtt"]
        targets[source[0]] = properties["FunctionName"]["Ref"]
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        if source[1] == "StreamArn":
            assert properties["BisectBatchOnFunctionError"] is True
            assert "OnFailure" in properties["DestinationConfig"]
    assert targets == {
        "ControlTable": "StreamRouterFunction",
        "EventsTable": "EventSinkFunction",
        "AlertQueue": "AlertDispatcherFunction",
    }


def test_every_parameter_but_the_code_location_has_a_default(template: dict[str, Any]) -> None:
    without = {name for name, p in template["Parameters"].items() if "Default" not in p}
    assert without == {"CodeBucket", "CodeKey"}


def test_outputs_name_the_store_and_what_the_cli_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    store = outputs["StoreUrl"]["Value"]["Fn::Sub"]
    assert store == "dynamodb://${ControlTable}?events=${EventsTable}&region=${AWS::Region}"
    for key in (
        "StateMachineArn",
        "EventBusName",
        "ControlTableName",
        "EventsTableName",
        "SchedulerGroupName",
        "SchedulerRoleArn",
        "OrchestratorFunctionArn",
    ):
        assert key in outputs


def test_alarms_become_infra_alarm_events(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms}
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/States", "ExecutionsFailed") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    for alarm in alarms:
        assert alarm["Properties"]["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")
    rule = resources["InfraAlarmRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["state"]["value"] == ["ALARM"]
    target = rule["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["AlertQueue", "Arn"]}
    assert '"detail-type": "INFRA_ALARM"' in target["InputTransformer"]["InputTemplate"]


# ----------------------------------------------------------------------------- IAM


def _branches(node: Any) -> list[Any]:
    """Both sides of every Fn::If (a condition may hold or not); NoValue dropped."""
    if isinstance(node, dict) and "Fn::If" in node:
        return [x for branch in node["Fn::If"][1:] for x in _branches(branch)]
    if node == {"Ref": "AWS::NoValue"}:
        return []
    return [node]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for policy_node in role["Properties"].get("Policies", []):
        for policy in _branches(policy_node):
            for statement_node in policy["PolicyDocument"]["Statement"]:
                result.extend(_branches(statement_node))
    return result


def _references(node: Any) -> set[str]:
    """Logical ids and parameters a resource expression names."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= names - set(variables)
                found |= _references(variables)
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, str):
        found.add(f"literal:{node}")
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _literal_text(node: Any) -> list[str]:
    """Every literal string inside a resource expression (Sub texts included)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in _literal_text(value)]
    if isinstance(node, list):
        return [t for item in node for t in _literal_text(item)]
    return []


def _role_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each function's statements: its role's inline policies and the policies attached to it."""
    resources = template["Resources"]
    result = {}
    for function in FUNCTIONS:
        role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = _statements(resources[role])
        for resource in resources.values():
            if (
                resource["Type"] == "AWS::IAM::Policy"
                and {"Ref": role} in resource["Properties"]["Roles"]
            ):
                statements += resource["Properties"]["PolicyDocument"]["Statement"]
        result[function] = statements
    return result


def test_no_statement_anywhere_has_a_wildcard_action(template: dict[str, Any]) -> None:
    checked = 0
    for logical_id, resource in template["Resources"].items():
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = _statements(resource)
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::SQS::QueuePolicy"}:
            documents = resource["Properties"]["PolicyDocument"]["Statement"]
        for statement in documents:
            assert statement["Effect"] == "Allow", logical_id
            assert "NotAction" not in statement and "NotResource" not in statement, logical_id
            for action in _as_list(statement["Action"]):
                assert "*" not in action, f"{logical_id}: wildcard action {action}"
                checked += 1
    assert checked > 40


def test_each_function_role_reaches_only_its_own_resources(template: dict[str, Any]) -> None:
    for function, statements in _role_statements(template).items():
        assert statements, function
        for statement in statements:
            resources = _as_list(statement["Resource"])
            assert resources, f"{function}: statement {statement.get('Sid')} has no resource"
            for resource in resources:
                assert resource != "*", f"{function}: {statement.get('Sid')} on every resource"
                names = {n for n in _references(resource) if not n.startswith("literal:")}
                assert names, f"{function}: {statement.get('Sid')} names no resource: {resource}"
                names -= PSEUDO
                outside = names - ALLOWED[function]
                assert not outside, f"{function}: {statement.get('Sid')} reaches {outside}"
                for text in _literal_text(resource):
                    # A pattern may only follow a named resource (its index, stream, executions).
                    assert not text.startswith("*"), f"{function}: {text}"


def test_the_check_fails_on_a_role_that_reaches_too_far(template: dict[str, Any]) -> None:
    greedy = json.loads(json.dumps(template))
    role = greedy["Resources"]["EventSinkRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"].append(
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": {"Fn::GetAtt": ["ControlTable", "Arn"]},
        }
    )
    with pytest.raises(AssertionError, match="ControlTable"):
        test_each_function_role_reaches_only_its_own_resources(greedy)
    role["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    with pytest.raises(AssertionError, match="wildcard"):
        test_no_statement_anywhere_has_a_wildcard_action(greedy)


def _conditions_of(role: dict[str, Any]) -> dict[str, list[str]]:
    """Condition -> Sids of the role's statements that exist only under it."""
    found: dict[str, list[str]] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                condition, present, absent = statement["Fn::If"]
                assert absent == {"Ref": "AWS::NoValue"}
                found.setdefault(condition, []).append(present["Sid"])
    return found


def test_optional_permissions_exist_only_when_their_parameter_is_given(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert _conditions_of(resources["OrchestratorRole"]) == {
        "HasGlueJobs": ["GlueJobs", "GlueDriverLogs"],
        "HasEmrClusters": ["EmrSteps"],
        "HasEmrServerlessApps": ["EmrServerlessJobs", "EmrServerlessJobRuns"],
        "HasJobStateMachines": ["JobStateMachines", "JobExecutions"],
        "HasJobLambdas": ["JobLambdas"],
        "HasKmsKey": ["Kms"],
    }
    assert _conditions_of(resources["AlertDispatcherRole"]) == {
        "HasSlackSecret": ["SlackToken"],
        "HasKmsKey": ["Kms"],
    }
    for role in ("StreamRouterRole", "SlaMonitorRole", "WatchdogRole", "EventSinkRole"):
        assert _conditions_of(resources[role]) == {"HasKmsKey": ["Kms"]}
    for condition in ("HasGlueJobs", "HasJobLambdas", "HasKmsKey", "HasSlackSecret"):
        assert condition in template["Conditions"]
