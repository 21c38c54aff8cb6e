"""Handler modules import nothing heavy at cold start: boto3 and the engine come with the first
invocation (and stay for warm ones). Timings are in bench/bench_aws_imports.py; this checks the
property that keeps them low, without timing anything."""

import subprocess
import sys

import pytest

HANDLERS = [
    "stream_router",
    "orchestrator",
    "sla_monitor",
    "watchdog",
    "event_sink",
    "alert_dispatcher",
]


@pytest.mark.parametrize("name", HANDLERS)
def test_importing_a_handler_imports_neither_boto3_nor_the_engine(name: str) -> None:
    code = (
        "import sys\n"
        f"import aws_runtime.handlers.{name} as module\n"
        "assert callable(module.handler)\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'interlock_core.engine', 'pydantic') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
