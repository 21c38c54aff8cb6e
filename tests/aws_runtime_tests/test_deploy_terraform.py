"""The Terraform module parses and deploys the very same template (python-hcl2; no binary here)."""

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from cfnlint.decode import decode_str

from aws_runtime.deploy import template_parameters
from aws_runtime.stack_template import (
    DEFINITION_PLACEHOLDER,
    STATE_MACHINE_PATH,
    TEMPLATE_PATH,
    deployed_template,
)

MODULE = TEMPLATE_PATH.parent / "terraform"


def _unquote(text: str) -> str:
    return text[1:-1] if text.startswith('"') and text.endswith('"') else text


def _blocks(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as handle:
            document = hcl2.load(handle)
        for block in document.get(kind, []):
            for label, body in block.items():
                found[_unquote(label)] = body
    return found


def _main() -> dict[str, Any]:
    with (MODULE / "main.tf").open() as handle:
        return hcl2.load(handle)


def test_every_file_parses_and_the_readme_exists() -> None:
    files = sorted(p.name for p in MODULE.glob("*.tf"))
    assert files == ["main.tf", "outputs.tf", "variables.tf", "versions.tf"]
    assert "interlock aws package" in (MODULE / "README.md").read_text()


def test_inputs_follow_the_go_module_where_they_still_make_sense() -> None:
    variables = _blocks("variable")
    for name in (
        "project_name",
        "environment",
        "pipelines_path",
        "bundle_path",
        "code_bucket",
        "lambda_memory_size",
        "log_retention_days",
        "watchdog_schedule",
        "slack_secret_arn",
        "kms_key_arn",
        "sns_alarm_topic_arn",
        "glue_job_arns",
        "emr_cluster_arns",
        "emr_serverless_app_arns",
        "sfn_trigger_arns",
        "lambda_trigger_arns",
        "tags",
    ):
        assert name in variables, name
    required = {name for name, body in variables.items() if "default" not in body}
    assert required == {"environment", "code_bucket", "bundle_path"}
    assert variables["lambda_trigger_arns"]["default"] == []  # never the Go docs' ["*"]


def test_the_stack_is_the_same_template_with_every_parameter_wired() -> None:
    main = _main()
    locals_ = {k: v for block in main["locals"] for k, v in block.items()}
    body = locals_["template_body"]
    assert 'file("${path.module}/../template.yaml")' in body
    assert 'file("${path.module}/../statemachine.asl.json")' in body
    assert json.loads(re.search(r'replace\(file\([^)]*\), ("(?:[^"\\]|\\.)*")', body).group(1)) == (
        DEFINITION_PLACEHOLDER
    )
    assert (MODULE / ".." / "template.yaml").resolve() == TEMPLATE_PATH
    assert (MODULE / ".." / "statemachine.asl.json").resolve() == STATE_MACHINE_PATH
    wired = set(re.findall(r"(\w+) = ", locals_["parameters"]))
    assert wired == set(template_parameters())
    resources = {
        _unquote(kind): {_unquote(name) for name in block}
        for entry in main["resource"]
        for kind, block in entry.items()
    }
    assert resources["aws_cloudformation_stack"] == {"interlock"}
    # No resource of the runtime itself is declared here: the template is the one source.
    assert not {
        k for k in resources if k.startswith(("aws_lambda", "aws_dynamodb", "aws_iam", "aws_sfn"))
    }


def test_terraform_rendering_gives_the_same_deployed_template() -> None:
    # What replace(..., jsonencode(jsonencode(jsondecode(asl)))) produces (keys sorted, compact,
    # <>& escaped like Terraform's jsonencode).
    definition = json.dumps(
        json.loads(STATE_MACHINE_PATH.read_text()), separators=(",", ":"), sort_keys=True
    )
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        definition = definition.replace(char, escape)
    rendered = TEMPLATE_PATH.read_text().replace(DEFINITION_PLACEHOLDER, json.dumps(definition))
    terraform, matches = decode_str(rendered)
    ours, _ = decode_str(deployed_template())
    assert not matches
    text = terraform["Resources"]["RunStateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"][0]
    ours_text = ours["Resources"]["RunStateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"][0]
    assert json.loads(text) == json.loads(ours_text)
    terraform["Resources"].pop("RunStateMachine")
    ours["Resources"].pop("RunStateMachine")
    assert terraform == ours


@pytest.mark.parametrize(
    "name", ["store_url", "control_table_name", "events_table_name", "event_bus_name", "sfn_arn"]
)
def test_outputs_come_from_the_stack(name: str) -> None:
    outputs = _blocks("output")
    assert name in outputs
    keys = set(re.findall(r'outputs\["(\w+)"\]', outputs[name]["value"]))
    document, _ = decode_str(deployed_template())
    assert keys and keys <= set(document["Outputs"])


def test_every_output_names_a_real_stack_output() -> None:
    document, _ = decode_str(deployed_template())
    for name, body in _blocks("output").items():
        for key in re.findall(r'outputs\["(\w+)"\]', body["value"]):
            assert key in document["Outputs"], (name, key)


def test_pipelines_go_through_interlock_aws_apply_without_a_shell() -> None:
    main = _main()
    data = next(
        block[_q]["pipelines" if "pipelines" in block[_q] else '"pipelines"']
        for block in main["resource"]
        for _q in block
        if _unquote(_q) == "terraform_data"
    )
    provisioner = data["provisioner"][0]
    local_exec = provisioner.get('"local-exec"') or provisioner["local-exec"]
    assert '"apply"' in str(local_exec["interpreter"])
    assert "var.pipelines_path" in local_exec["command"]


def test_the_module_has_no_secret_defaults() -> None:
    for path in MODULE.glob("*.tf"):
        text = path.read_text()
        assert "slack_bot_token" not in text
        assert not re.search(r'"\*"', text)
    assert Path(MODULE / "README.md").exists()
