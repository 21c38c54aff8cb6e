"""Every benchmark still runs: ``--quick --out DIR`` in a fresh process, and its JSON has the
shape ``bench/run_all`` and ``bench/baseline`` rely on (machine info, a ``targets`` list).

Benchmarks are found by glob, so a new ``bench/bench_*.py`` is covered the day it lands. The
numbers themselves are not judged here (a quick run on a busy machine proves nothing); that a
benchmark runs, and reports what it measured in the common shape, is.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
MACHINE_KEYS = {"cpu", "cores", "memory_gib", "python", "platform", "load_average_1m", "commit"}


def _written(out: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]


def _check_document(document: dict[str, Any], source: str) -> None:
    assert isinstance(document.get("benchmark"), str), f"{source}: no benchmark name"
    machine = document.get("machine")
    assert isinstance(machine, dict), f"{source}: no machine info"
    assert set(machine) >= MACHINE_KEYS, f"{source}: machine lacks {MACHINE_KEYS - set(machine)}"
    targets = document.get("targets")
    assert isinstance(targets, list), f"{source}: no targets list"
    for target in targets:
        assert isinstance(target.get("name"), str) and target["name"], f"{source}: {target}"
        assert isinstance(target.get("value"), int | float), f"{source}: value of {target}"
        assert isinstance(target.get("limit"), int | float), f"{source}: limit of {target}"
        assert isinstance(target.get("unit"), str), f"{source}: unit of {target}"
        assert isinstance(target.get("met"), bool), f"{source}: met of {target}"


def test_benchmarks_are_found() -> None:
    assert {"bench_engine", "bench_store", "bench_postgres", "bench_aws_imports"} <= {
        path.stem for path in SCRIPTS
    }


@pytest.mark.timeout(180)
@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_benchmark_runs_quick_and_writes_its_json(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "INTERLOCK_BENCH_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    documents = _written(out)
    assert documents, f"{script.name} wrote no JSON into --out"
    for document in documents:
        _check_document(document, script.name)


FAKE_MET = """
import json, sys
out = sys.argv[sys.argv.index("--out") + 1]
target = {"name": "ratio", "value": 4.0, "unit": "x", "limit": 3.0, "met": False}
doc = {"benchmark": "fake_met", "machine": {}, "targets": [target], "quick": "--quick" in sys.argv}
open(f"{out}/fake_met.json", "w").write(json.dumps(doc))
"""
FAKE_CRASH = "raise SystemExit('boom')\n"


def _run_all(directory: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "import _run_all; sys.exit(_run_all.main(sys.argv[3:], Path(sys.argv[2])))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(BENCH), str(directory), "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_all_reports_a_missed_target_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "bench_fake.py").write_text(FAKE_MET)
    (tmp_path / "helper_not_a_bench.py").write_text(FAKE_CRASH)
    completed = _run_all(tmp_path, tmp_path / "out", "--quick")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    row = next(line for line in completed.stdout.splitlines() if "fake_met" in line)
    assert "ratio" in row and "NO" in row and "<= 3" in row
    assert json.loads((tmp_path / "out" / "fake_met.json").read_text())["quick"] is True


def test_run_all_exits_non_zero_when_a_benchmark_crashes(tmp_path: Path) -> None:
    (tmp_path / "bench_a_fine.py").write_text(FAKE_MET)
    (tmp_path / "bench_b_crash.py").write_text(FAKE_CRASH)
    completed = _run_all(tmp_path, tmp_path / "out")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "CRASHED" in completed.stdout and "bench_b_crash.py" in completed.stderr
    assert "fake_met" in completed.stdout  # the others still ran and are reported


def test_run_all_counts_a_benchmark_that_writes_nothing_as_crashed(tmp_path: Path) -> None:
    (tmp_path / "bench_silent.py").write_text("print('measured nothing')\n")
    completed = _run_all(tmp_path, tmp_path / "out")
    assert completed.returncode == 1
    assert "wrote no JSON" in completed.stdout


def test_run_all_names_every_benchmark_alike_in_its_table() -> None:
    sys.path.insert(0, str(BENCH))
    import _run_all

    target = {"name": "t", "value": 1.0, "unit": "s", "limit": 2.0, "met": True}
    outcomes = [
        {"script": f"bench_{name}.py", "problem": "", "documents": [document]}
        for name, document in (
            ("apply", {"benchmark": "bench_apply", "targets": [target]}),
            ("rules", {"benchmark": "rules", "targets": [target]}),
        )
    ]
    assert [row[0] for row in _run_all.target_rows(outcomes)] == ["apply", "rules"]
