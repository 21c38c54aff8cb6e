"""The provider as Airflow sees it: discovery, the connection type, the example DAGs, and
what importing it costs a DAG file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.airflow import get_provider_info

ROOT = Path(__file__).resolve().parents[2]


def test_provider_info_names_the_distribution() -> None:
    info = get_provider_info()
    assert info["package-name"] == "interlock"
    assert info["connection-types"][0]["connection-type"] == "interlock"


def test_providers_manager_discovers_the_provider_and_its_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert manager.providers["interlock"].data["name"] == "Interlock"
    triggers = [t for t in manager.trigger if t.package_name == "interlock"]
    assert [t.trigger_class_name for t in triggers] == ["integrations.airflow.triggers"]
    widgets = manager.connection_form_widgets
    assert {"extra__interlock__store", "extra__interlock__pipelines"} <= set(widgets)
    behaviour = manager.field_behaviours["interlock"]
    assert "password" in behaviour["hidden_fields"]
    assert behaviour["placeholders"]["extra__interlock__store"].startswith("sqlite:////")

    hook = ProvidersManagerTaskRuntime().hooks["interlock"]
    assert hook.hook_class_name == "integrations.airflow.hooks.InterlockHook"
    assert (hook.connection_type, hook.connection_testable) == ("interlock", True)


def test_the_example_dags_import_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "examples" / "airflow"), bundle_path=ROOT)
    assert bag.import_errors == {}
    assert {"warehouse_inventory", "inventory_producer", "gold_orders_published"} <= set(
        bag.dag_ids
    )
    gate = bag.dags["warehouse_inventory"].get_task("wait_for_inventory_inputs")
    assert gate.pipeline_id == "warehouse-inventory" and gate.deferrable is True


def test_the_test_dags_import_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).parent / "dags"), bundle_path=ROOT)
    assert bag.import_errors == {}
    assert "interlock_happy_deferrable" in bag.dag_ids


IMPORTS = (
    "import integrations.airflow, integrations.airflow.sensors, integrations.airflow.operators,"
    " integrations.airflow.hooks, integrations.airflow.triggers\n"
)


def test_importing_the_provider_and_the_example_dags_loads_no_engine(tmp_path) -> None:
    # DAG files are parsed over and over: the engine and its store load on first use only.
    code = (
        IMPORTS
        + "import runpy, sys, json\n"
        + f"for name in {sorted(p.name for p in (ROOT / 'examples' / 'airflow').glob('*.py'))!r}:\n"
        + f"    runpy.run_path({str(ROOT / 'examples' / 'airflow')!r} + '/' + name)\n"
        + "print(json.dumps(sorted(m for m in sys.modules if m.startswith('interlock_core'))))\n"
    )
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("name", ["InterlockSensor", "InterlockEmitOperator", "emit"])
def test_the_package_exports_its_public_names_lazily(name) -> None:
    import integrations.airflow

    assert getattr(integrations.airflow, name).__name__ == name
    with pytest.raises(AttributeError):
        integrations.airflow.NoSuchThing  # noqa: B018
