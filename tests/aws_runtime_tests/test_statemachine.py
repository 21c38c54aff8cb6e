"""The state machine definition: valid ASL (asl-validator), and routes only on the orchestrator."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from interlock_core.steps import STEPS

ASL = Path(__file__).parents[2] / "aws_runtime" / "statemachine.asl.json"


def definition() -> dict:  # type: ignore[type-arg]
    return json.loads(ASL.read_text())


def test_tasks_call_the_orchestrator_placeholder_only() -> None:
    states = definition()["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert tasks
    for name, task in tasks.items():
        assert task["Resource"] == "${OrchestratorFunctionArn}", name
        assert task["Parameters"]["mode"] in STEPS, name
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert "Lambda.ServiceException" in retried
        assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_choices_route_every_orchestrator_answer() -> None:
    states = definition()["States"]
    route = states["Route"]
    assert {choice["Variable"] for choice in route["Choices"]} == {"$.step.next"}
    assert {choice["StringEquals"] for choice in route["Choices"]} == set(STEPS)
    waits = [s for s in states.values() if s["Type"] == "Wait"]
    assert waits and all(w["SecondsPath"] == "$.step.wait" for w in waits)
    assert "QueryLanguage" not in definition()  # JSONPath, the default


@pytest.mark.skipif(
    shutil.which("npx") is None and os.environ.get("CI") != "true",
    reason="needs node's npx (CI has it)",
)
def test_asl_validator_accepts_it() -> None:
    result = subprocess.run(
        ["npx", "--yes", "asl-validator", "--json-path", str(ASL)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
