"""The layout rules of DESIGN.md §1 that import-linter cannot see."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_core_imports_no_optional_dependency_at_module_level() -> None:
    code = (
        "import sys, importlib, pkgutil, interlock_core\n"
        "for m in pkgutil.walk_packages(interlock_core.__path__, 'interlock_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "optional = ('boto3', 'botocore', 'airflow', 'dagster')\n"
        "loaded = sorted(n for n in optional if n in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_the_adapter_packages_are_real_packages() -> None:
    import aws_runtime
    import integrations.airflow
    import integrations.dagster

    for module in (aws_runtime, integrations.airflow, integrations.dagster):
        assert module.__file__ is not None


def test_console_script_and_extras_are_declared() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "interlock"
    assert project["scripts"]["interlock"] == "interlock_core.cli:main"
    assert {"aws", "airflow", "dagster", "all", "dev"} <= set(project["optional-dependencies"])
    assert (ROOT / "interlock_core" / "py.typed").exists()
