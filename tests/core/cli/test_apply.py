"""``interlock apply`` and the automatic apply of ``--pipelines`` (DESIGN.md §2)."""

import json

from tests.core.cli.conftest import BROKEN_ORDERS, INVENTORY, ORDERS, Cli


def _actions(cli: Cli, *extra: str) -> dict[str, str]:
    result = cli("apply", str(cli.pipelines), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    return {change["pipelineId"]: change["action"] for change in document["changes"]}


def test_one_bad_file_writes_nothing_and_names_file_and_line(cli: Cli) -> None:
    cli.write("inventory.yaml", INVENTORY)
    cli.write("bad.yaml", BROKEN_ORDERS)

    result = cli("apply", str(cli.pipelines))

    assert result.exit_code == 1
    assert "bad.yaml:10:" in result.stderr
    assert "did you mean 'gte'" in result.stderr
    assert "nothing was applied" in result.stderr
    assert result.stdout == ""
    store = cli.store()
    assert store.list_configs() == []
    assert store.query_events() == []
    # The good file in the same directory was not applied either.
    assert cli("evaluate", "inventory").exit_code == 2


def test_created_then_unchanged_then_removed(cli: Cli) -> None:
    cli.write("inventory.yaml", INVENTORY)
    cli.write("bad.yaml", BROKEN_ORDERS)
    assert cli("apply", str(cli.pipelines)).exit_code == 1

    cli.write("bad.yaml", ORDERS)  # fixed
    result = cli("apply", str(cli.pipelines))
    assert result.exit_code == 0, result.stderr
    assert "inventory" in result.stdout and "orders" in result.stdout
    assert "2 created" in result.stdout
    assert sorted(c.pipeline_id for c in cli.store().list_configs()) == ["inventory", "orders"]

    assert _actions(cli) == {"inventory": "unchanged", "orders": "unchanged"}

    (cli.pipelines / "bad.yaml").unlink()
    assert _actions(cli) == {"inventory": "unchanged", "orders": "removed"}
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["inventory"]
    removed = cli("events", "--type", "PIPELINE_REMOVED", "--json")
    assert [json.loads(line)["pipelineId"] for line in removed.stdout.splitlines()] == ["orders"]


def test_apply_an_updated_file(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    assert _actions(cli) == {"orders": "created"}
    cli.write("orders.yaml", ORDERS.replace("value: 1000", "value: 2000"))
    assert _actions(cli) == {"orders": "updated"}


def test_apply_a_missing_directory_is_one_error(cli: Cli) -> None:
    result = cli("apply", str(cli.pipelines / "nope"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "directory not found" in result.stderr


def test_pipelines_option_applies_file_by_file_and_keeps_the_last_good_config(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    cli.write("inventory.yaml", INVENTORY)
    first = cli("status", auto=True)
    assert first.exit_code == 0
    assert "applied: orders created" in first.stderr
    assert sorted(c.pipeline_id for c in cli.store().list_configs()) == ["inventory", "orders"]

    # Nothing changed: a no-op prints nothing extra.
    again = cli("status", auto=True)
    assert again.exit_code == 0
    assert again.stderr == ""

    good_hash = cli.store().get_config("orders")
    assert good_hash is not None
    cli.write("orders.yaml", BROKEN_ORDERS)
    broken = cli("status", auto=True)
    assert broken.exit_code == 0
    assert broken.stderr.startswith("warning: ")
    assert "orders.yaml:10:" in broken.stderr
    assert "last good config stays active" in broken.stderr
    kept = cli.store().get_config("orders")
    assert kept is not None and kept.hash == good_hash.hash
    # The gate still has its count rule: the typo did not switch it off.
    evaluation = json.loads(cli("evaluate", "orders", "--json", auto=True).stdout)
    assert [rule["check"] for rule in evaluation["rules"]] == ["equals", "gte"]

    events = cli("events", "--type", "CONFIG_INVALID", "--json")
    invalid = [json.loads(line) for line in events.stdout.splitlines()]
    assert len(invalid) == 1
    assert invalid[0]["pipelineId"] == "orders"
    assert invalid[0]["detail"]["line"] == 10


def test_pipelines_option_from_another_directory_keeps_the_config(cli: Cli) -> None:
    """The stored source must not depend on the working directory of each command."""
    cli.write("orders.yaml", ORDERS)
    assert cli("apply", "pipelines").exit_code == 0  # relative to tmp_path
    cli.write("orders.yaml", BROKEN_ORDERS)
    result = cli("status", auto=True)  # absolute --pipelines
    assert result.exit_code == 0
    assert "removed" not in result.stderr
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["orders"]


def test_pipelines_option_is_read_from_the_environment(cli: Cli) -> None:
    from click.testing import CliRunner

    from interlock_core.cli import main

    cli.write("orders.yaml", ORDERS)
    env = {"INTERLOCK_STORE": cli.store_url, "INTERLOCK_PIPELINES": str(cli.pipelines)}
    result = CliRunner().invoke(main, ["status"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["orders"]


def test_store_and_pipelines_options_after_the_command(cli: Cli) -> None:
    from click.testing import CliRunner

    from interlock_core.cli import main

    cli.write("orders.yaml", ORDERS)
    args = ["status", "--store", cli.store_url, "--pipelines", str(cli.pipelines), "--json"]
    result = CliRunner().invoke(main, args, env={"INTERLOCK_STORE": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["orders"]


def test_validate_still_works_and_writes_nothing(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    cli.write("bad.yaml", BROKEN_ORDERS)
    result = cli("validate", str(cli.pipelines), auto=True)
    assert result.exit_code == 1
    assert "bad.yaml:10:" in result.stdout
    assert cli.store().list_configs() == []


# ----------------------------------------------------------------------------- empty directories


def test_apply_of_a_directory_without_pipeline_files_is_refused(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    cli.write("inventory.yaml", INVENTORY)
    assert _actions(cli) == {"inventory": "created", "orders": "created"}
    project = cli.pipelines.parent

    # The parent of the pipelines directory, by mistake: nothing is removed.
    result = cli("apply", str(project))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"error: no pipeline files (*.yaml, *.yml) in {project}; nothing applied — did you "
        f"mean {cli.pipelines}?"
    )
    assert sorted(c.pipeline_id for c in cli.store().list_configs()) == ["inventory", "orders"]
    assert cli("events", "--type", "PIPELINE_REMOVED", "--json").stdout == ""

    empty = project / "empty"
    empty.mkdir()
    refused = cli("apply", str(empty), "--json")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert (
        refused.stderr == f"error: no pipeline files (*.yaml, *.yml) in {empty}; nothing applied\n"
    )
    assert len(cli.store().list_configs()) == 2

    # Deleting some files still removes their pipelines.
    (cli.pipelines / "inventory.yaml").unlink()
    assert _actions(cli) == {"orders": "unchanged", "inventory": "removed"}


def test_the_pipelines_option_skips_an_empty_directory(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    assert cli("apply", str(cli.pipelines)).exit_code == 0
    (cli.pipelines / "orders.yaml").rename(cli.pipelines.parent / "orders.yaml.bak")

    result = cli("status", "--json", auto=True)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert result.stderr == (
        f"warning: no pipeline files (*.yaml, *.yml) in {cli.pipelines}; nothing applied "
        "(the store's pipelines stay as they are)\n"
    )
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["orders"]
    assert cli("events", "--type", "PIPELINE_REMOVED", "--json").stdout == ""


# ----------------------------------------------------------------------------- settings file


def test_apply_refuses_an_invalid_settings_file(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    settings = cli.pipelines / "interlock.yaml"
    settings.write_text(
        "alerts:\n  channels: {ops: {type: slak}}\n  routes: [{events: ['*'], channels: [ops]}]\n",
        encoding="utf-8",
    )
    result = cli("apply", str(cli.pipelines))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {settings}: alerts.channels.ops: unknown channel type 'slak'; use one of "
        "slack, webhook, log (did you mean 'slack'?)",
        "error: 1 error in 1 file; nothing was applied",
    ]
    assert cli.store().list_configs() == []

    settings.write_text("alerts:\n  channels: {ops: {type: log}}\n", encoding="utf-8")
    assert _actions(cli) == {"orders": "created"}


def test_apply_warns_about_yaml_in_subdirectories(cli: Cli) -> None:
    cli.write("orders.yaml", ORDERS)
    (cli.pipelines / "drafts").mkdir()
    (cli.pipelines / "drafts" / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    result = cli("apply", str(cli.pipelines))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"warning: {cli.pipelines / 'drafts'}: 1 YAML file in a subdirectory, not loaded "
        f"(pipeline files must be directly in {cli.pipelines})\n"
    )
    assert [c.pipeline_id for c in cli.store().list_configs()] == ["orders"]
