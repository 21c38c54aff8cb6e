"""The CloudFormation template as deployed: template.yaml with the state machine inlined.

``aws_runtime/statemachine.asl.json`` is the one source of truth for the run state machine.
``template.yaml`` holds a quoted placeholder where the definition goes; every deployer
replaces it with the ASL file as a JSON string literal (a JSON string is a valid YAML
double-quoted scalar), and CloudFormation's ``Fn::Sub`` then fills the ASL's
``${OrchestratorFunctionArn}``. ``interlock aws deploy`` does it here; the Terraform module
does the same with ``replace(file(...), ..., jsonencode(...))``.
"""

import hashlib
import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_PATH = PACKAGE_DIR / "template.yaml"
STATE_MACHINE_PATH = PACKAGE_DIR / "statemachine.asl.json"
DEFINITION_PLACEHOLDER = '"__INTERLOCK_STATE_MACHINE_DEFINITION__"'


def render_template(template_text: str, definition_text: str) -> str:
    """Inline a state machine definition into the template text.

    Args:
        template_text: the text of ``template.yaml``.
        definition_text: the ASL JSON text (its ``${...}`` placeholders are left for Fn::Sub).

    Returns:
        The template to deploy.

    Raises:
        ValueError: the definition is not a JSON object, or the template has no placeholder.
    """
    try:
        definition = json.loads(definition_text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"state machine definition is not JSON: {exc}") from None
    if not isinstance(definition, dict) or "States" not in definition:
        raise ValueError("state machine definition must be an ASL object with States")
    if template_text.count(DEFINITION_PLACEHOLDER) != 1:
        raise ValueError(f"the template must hold {DEFINITION_PLACEHOLDER} exactly once")
    # Compact, key order kept: the text CloudFormation stores is the file's content.
    compact = json.dumps(definition, separators=(",", ":"))
    return template_text.replace(DEFINITION_PLACEHOLDER, json.dumps(compact))


def deployed_template(
    template_path: Path = TEMPLATE_PATH, definition_path: Path = STATE_MACHINE_PATH
) -> str:
    """The template to deploy, read from the package's own files."""
    try:
        definition_text = definition_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"state machine definition not found: {definition_path}") from None
    return render_template(template_path.read_text(encoding="utf-8"), definition_text)


def content_key(data: bytes, prefix: str, suffix: str) -> str:
    """A content-addressed S3 key: ``PREFIX/SHA256SUFFIX`` (same bytes, same key)."""
    return f"{prefix.rstrip('/')}/{hashlib.sha256(data).hexdigest()}{suffix}"
