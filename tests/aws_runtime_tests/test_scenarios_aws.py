"""Every scenario file, replayed on the AWS runtime (handlers, DynamoDB on moto, simulated time).

The replay skips the simulated minutes where nothing can happen (``tests/scenarios/quiet.py``;
the memory replays prove on every scenario that those minutes do nothing).
``INTERLOCK_REPLAY_CHECK_SKIPS=1`` replays every minute here too and fails when a minute the
replay would skip does anything (slow: minutes per multi-day scenario).
"""

import os
from pathlib import Path

import pytest
from moto import mock_aws

from aws_runtime import context
from interlock_core.storage.dynamodb import create_tables
from tests.aws_runtime_tests.scenario_driver import STATE_MACHINE_ARN, AwsScenarioPlayer
from tests.core.storage.dynamodb_support import CONTROL, EVENTS, STORE_URL, set_aws_env
from tests.scenarios.test_scenarios import FILES


# About 20 DynamoDB requests per simulated minute that is not skipped (the watchdog, the
# stream, the executions); every minute (INTERLOCK_REPLAY_CHECK_SKIPS) takes minutes of CPU.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_aws(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_aws_env(monkeypatch)
    monkeypatch.setenv("INTERLOCK_STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    with mock_aws():
        import boto3

        create_tables(boto3.client("dynamodb"), CONTROL, EVENTS)
        try:
            check = os.environ.get("INTERLOCK_REPLAY_CHECK_SKIPS", "") not in {"", "0"}
            AwsScenarioPlayer(path, STORE_URL, check_skips=check).play()
        finally:
            context.reset()
