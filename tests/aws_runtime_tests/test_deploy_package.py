"""``interlock aws package``: a reproducible Lambda bundle for Lambda's platform."""

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from aws_runtime.packaging import (
    MAX_ZIP_BYTES,
    PackageError,
    build_bundle,
    pip_command,
    runtime_requirements,
)
from tests.aws_runtime_tests.deploy_support import INTERLOCK, built_bundle

HANDLERS = (
    "stream_router",
    "orchestrator",
    "sla_monitor",
    "watchdog",
    "event_sink",
    "alert_dispatcher",
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_bundle_holds_the_handlers_and_the_dependencies_for_lambda() -> None:
    bundle = built_bundle()
    size = bundle.path.stat().st_size
    assert size < MAX_ZIP_BYTES
    assert f"{size / 1e6:.1f} MB" in bundle.output
    with zipfile.ZipFile(bundle.path) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    for handler in HANDLERS:
        assert f"aws_runtime/handlers/{handler}.py" in names
    assert "aws_runtime/statemachine.asl.json" in names
    assert "interlock_core/engine.py" in names
    # Compiled for Lambda (aarch64 manylinux, CPython 3.12), not for this machine.
    core = [n for n in names if n.startswith("pydantic_core/") and n.endswith(".so")]
    assert core and all("cpython-312-aarch64-linux-gnu" in n for n in core)
    assert any(n.startswith("yaml/") for n in names) and any(
        n.startswith("croniter/") for n in names
    )
    # Lambda provides boto3; no tests, caches, byte-code, console scripts or deploy files.
    for name in names:
        top = name.split("/")[0]
        assert top not in {"boto3", "botocore", "s3transfer", "bin", "tests"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    assert "aws_runtime/template.yaml" not in names
    assert not any(n.startswith("aws_runtime/terraform") for n in names)
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} <= {0o100644, 0o100755}


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = built_bundle()
    again = tmp_path / "again.zip"
    result = subprocess.run(
        [INTERLOCK, "aws", "package", "--out", str(again), "--wheels", str(first.wheels)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _sha(again) == _sha(first.path)


def test_pip_installs_for_the_lambda_platform_only(tmp_path: Path) -> None:
    command = pip_command(tmp_path, ["pyyaml>=6"], arch="x86_64", python="3.13")
    assert command[command.index("--platform") + 1] == "manylinux2014_x86_64"
    assert command[command.index("--python-version") + 1] == "3.13"
    assert "--only-binary=:all:" in command and "--no-compile" in command
    requirements = runtime_requirements()
    assert not any(
        r.lower().startswith(("boto3", "botocore", "apache-airflow", "dagster"))
        for r in requirements
    )
    assert any(r.startswith("pydantic") for r in requirements)


def test_bad_options_and_pip_failures_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="--arch must be one of"):
        build_bundle(tmp_path / "x.zip", arch="sparc")
    with pytest.raises(PackageError, match="--python must be one of"):
        build_bundle(tmp_path / "x.zip", python="2.7")
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    with pytest.raises(PackageError, match="pip could not install"):
        build_bundle(tmp_path / "x.zip", wheels=empty)
    assert not (tmp_path / "x.zip").exists()
    result = subprocess.run(
        [INTERLOCK, "aws", "package", "--out", str(tmp_path / "y.zip"), "--wheels", str(empty)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: pip could not install")
    assert "Traceback" not in result.stderr
