"""InterlockResource used directly, outside a Dagster run (scripts, tests, notebooks)."""

from pathlib import Path

import dagster as dg
import pytest

from integrations.dagster import InterlockResource, close_engines


def test_a_resource_configured_with_env_vars_works_when_called_directly(
    tmp_path: Path, pipelines_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The docs configure the resource with dg.EnvVar; outside a run Dagster has not resolved
    # it, and the variable's *name* must not be taken for a store URL.
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{tmp_path / 'interlock.db'}")
    monkeypatch.setenv("INTERLOCK_PIPELINES", str(pipelines_dir))
    resource = InterlockResource(
        store=dg.EnvVar("INTERLOCK_STORE"), pipelines=dg.EnvVar("INTERLOCK_PIPELINES")
    )
    try:
        assert resource.evaluate("inventory").pipeline_id == "inventory"
        assert (tmp_path / "interlock.db").exists()
    finally:
        close_engines()


def test_an_unset_env_var_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLOCK_STORE_UNSET", raising=False)
    resource = InterlockResource(store=dg.EnvVar("INTERLOCK_STORE_UNSET"))
    with pytest.raises(ValueError, match="environment variable INTERLOCK_STORE_UNSET is not set"):
        resource.get_engine()
