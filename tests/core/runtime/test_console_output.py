"""`interlock run` prints each event once, alerted or not (a real process: logging as shipped)."""

import os
import subprocess
import sys
import time
from pathlib import Path

FAILING = """\
pipeline: {id: bad}
schedule:
  trigger: {key: go, check: exists}
job:
  type: command
  config: {command: ["false"]}
  maxRetries: 0
  jobCheckIntervalSeconds: 60
"""


def test_each_alerted_event_is_printed_once(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "bad.yaml").write_text(FAILING, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "INTERLOCK_STORE": f"sqlite:///{tmp_path / 'i.db'}",
        "INTERLOCK_PIPELINES": str(pipelines),
    }

    def interlock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "interlock_core.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert interlock("emit", "bad", "go").returncode == 0
    first = interlock("run", "--once")  # evaluates and submits the job
    assert "JOB_TRIGGERED" in first.stdout, first.stdout + first.stderr
    states = tmp_path / ".interlock"  # the command jobs' state files live below
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any('"finished"' in p.read_text() for p in states.rglob("*.json")):
            break
        time.sleep(0.05)
    second = interlock("run", "--once")  # records the failure: alerted events
    output = second.stdout + second.stderr
    assert second.stdout.count("JOB_FAILED") == 1, output
    assert second.stdout.count("RETRY_EXHAUSTED") == 1, output
    assert "JOB_FAILED" not in second.stderr and "RETRY_EXHAUSTED" not in second.stderr, output
