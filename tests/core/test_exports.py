"""The public names stay importable exactly as before, now that packages load them lazily
(PEP 562 ``__getattr__``): every name DESIGN.md §3 pins and every ``__all__`` entry."""

import importlib
import subprocess
import sys

import pytest

# DESIGN.md §3: "interlock_core exports the public API at its top level".
DESIGN_PINNED = [
    "load_pipeline",
    "load_pipelines",
    "ConfigError",
    "evaluate_rules",
    "Evaluation",
    "RuleResult",
    "parse_duration",
    "open_store",
    "Interlock",
]
# Where each top-level export is defined (the same objects as before the lazy package).
TOP_LEVEL = {
    "ConfigError": "interlock_core.config.errors",
    "ConfigIssue": "interlock_core.config.errors",
    "Evaluation": "interlock_core.rules",
    "Event": "interlock_core.events",
    "EventType": "interlock_core.events",
    "Interlock": "interlock_core.engine",
    "InterlockError": "interlock_core.engine",
    "Pipeline": "interlock_core.config.models",
    "PipelineSet": "interlock_core.config.loader",
    "Readiness": "interlock_core.engine",
    "RerunResult": "interlock_core.engine",
    "RuleResult": "interlock_core.rules",
    "Run": "interlock_core.runs",
    "RunStatus": "interlock_core.runs",
    "Sensor": "interlock_core.sensors",
    "SensorError": "interlock_core.sensors",
    "evaluate_rules": "interlock_core.rules",
    "format_duration": "interlock_core.config.durations",
    "load_pipeline": "interlock_core.config.loader",
    "load_pipelines": "interlock_core.config.loader",
    "open_store": "interlock_core.storage",
    "parse_duration": "interlock_core.config.durations",
}
PACKAGES = [
    "interlock_core",
    "interlock_core.config",
    "interlock_core.alerts",
    "interlock_core.jobs",
]


def test_the_top_level_exports_are_the_defining_modules_objects() -> None:
    import interlock_core

    assert sorted(interlock_core.__all__) == sorted(TOP_LEVEL)
    assert set(DESIGN_PINNED) <= set(interlock_core.__all__)
    for name, module in TOP_LEVEL.items():
        assert getattr(interlock_core, name) is getattr(importlib.import_module(module), name)
    assert interlock_core.__version__ == "0.1.0"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_imports_in_a_fresh_interpreter(package: str) -> None:
    # Fresh, so no earlier import has filled the package namespace already.
    code = (
        f"import importlib; p = importlib.import_module({package!r})\n"
        "missing = [n for n in p.__all__ if getattr(p, n, None) is None]\n"
        f"exec('from {package} import ' + ', '.join(p.__all__))\n"
        "assert set(p.__all__) <= set(dir(p)), 'dir() misses exports'\n"
        "print(missing)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import no_such_name")


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, interlock_core, interlock_core.config, interlock_core.alerts\n"
        "heavy = ('pydantic', 'interlock_core.engine', 'yaml', 'ssl', 'http.client')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# Submodules a package imported up front before it became lazy: ``import pkg`` then
# ``pkg.sub.name`` worked, and must go on working (the submodule is imported on first use).
SUBMODULES_READ_AS_ATTRIBUTES = {
    "interlock_core": ["engine", "config", "rules", "storage", "schedule", "lifecycle", "jobs"],
    "interlock_core.config": ["models", "loader", "settings", "stored"],
    "interlock_core.jobs": ["base", "netguard"],
    "interlock_core.alerts": ["base", "routing", "slack"],
}


@pytest.mark.parametrize("package", sorted(SUBMODULES_READ_AS_ATTRIBUTES))
def test_a_submodule_read_as_an_attribute_is_imported(package: str) -> None:
    names = SUBMODULES_READ_AS_ATTRIBUTES[package]
    code = (  # fresh: nothing imported the submodules yet
        f"import importlib; p = importlib.import_module({package!r})\n"
        f"print([n for n in {names!r} if getattr(p, n).__name__ != {package!r} + '.' + n])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
