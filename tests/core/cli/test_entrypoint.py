"""The real entry points: ``python -m interlock_core.cli`` and the ``interlock`` script."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interlock_core import Interlock, load_pipelines, open_store
from tests.core.cli.conftest import INVENTORY, PERIOD

ROOT = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTERLOCK_")}
    env["INTERLOCK_STORE"] = f"sqlite:///{tmp_path / 'i.db'}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_module_entry_point_emit_and_evaluate(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    env = _env(tmp_path)
    env["INTERLOCK_PIPELINES"] = str(pipelines)
    base = [sys.executable, "-m", "interlock_core.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )

    # Each start costs about a second (imports), so two calls prove the entry point.
    emitted = run("emit", "inventory", "stock", "status=done", "--period", PERIOD)
    assert emitted.returncode == 0, emitted.stderr
    assert emitted.stdout.splitlines()[0] == f"stored inventory/stock#{PERIOD} (version 1)"
    assert emitted.stdout.splitlines()[1].startswith(f"opened the run of {PERIOD} (trigger)")
    evaluated = run("evaluate", "inventory", "--period", PERIOD, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    assert document["ready"] is True
    assert document["run"]["status"] == "WAITING"


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "interlock"
    if not script.exists():
        pytest.skip("the interlock console script is not installed in this environment")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            cwd=tmp_path,
            timeout=60,
        )

    # A read-only command does not create the store it is pointed at.
    missing = run("status", "--json")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"error: no store at {tmp_path / 'i.db'} (apply pipelines with `interlock apply DIR` "
        "or start `interlock run` first, or point --store / INTERLOCK_STORE at a store)\n"
    )
    assert not (tmp_path / "i.db").exists()
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    assert run("apply", "pipelines").returncode == 0
    result = run("status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_reader_closing_the_pipe_stops_output_quietly(tmp_path: Path) -> None:
    # `interlock events | head -1`: more output than the pipe buffers, the reader gone early.
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    engine = Interlock(open_store(f"sqlite:///{tmp_path / 'i.db'}"))
    engine.apply(load_pipelines(tmp_path))
    engine.open_runs("inventory", first="2025-10-01", last="2025-12-31")
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 4096)  # ~50 KB of events cannot fit
    process = subprocess.Popen(
        [sys.executable, "-m", "interlock_core.cli", "events", "--json", "--limit", "1000"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert json.loads(reader.readline())["type"] == "CONFIG_APPLIED"
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""
