"""InterlockSensor.poke() and execute() against a real SQLite store, without a DAG run."""

from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from integrations.airflow.errors import InterlockFatalError, InterlockUnavailableError
from integrations.airflow.sensors import InterlockSensor
from integrations.airflow.triggers import InterlockTrigger
from tests.airflow_tests.helpers import owner, task_context

PERIOD = "2026-03-04"


def sensor(**kwargs) -> InterlockSensor:
    kwargs.setdefault("pipeline_id", "inventory")
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("timeout", 5)
    return InterlockSensor(task_id="gate", **kwargs)


def test_poke_waits_with_the_failing_rules_then_claims_the_run(interlock, capsys) -> None:
    gate = sensor()

    waiting = gate.poke(task_context())

    assert waiting.is_done is False
    evaluation = waiting.xcom_value
    assert evaluation["period"] == PERIOD and evaluation["ready"] is False
    assert [r["passed"] for r in evaluation["rules"]] == [False, False, False]
    assert 'sensor "stock" not found' in evaluation["rules"][0]["reason"]
    assert evaluation["run"] is None
    block = capsys.readouterr().out  # Airflow's structlog writes task logs to stdout here
    assert "Interlock inventory 2026-03-04 (wait_for=ready): NOT READY — 0 of 3" in block
    assert "[FAIL] stock.status equals" in block and "[FAIL] feed.state in" in block

    interlock.make_ready(PERIOD)
    done = gate.poke(task_context())

    assert done.is_done is True
    assert done.xcom_value["ready"] is True
    assert done.xcom_value["run"]["status"] == "CLAIMED"
    run = interlock.engine().run("inventory", PERIOD)
    assert run.status == "CLAIMED" and run.owner == owner()


def test_a_retried_task_finds_its_own_claim(interlock) -> None:
    interlock.make_ready(PERIOD)
    assert sensor().poke(task_context()).is_done
    again = sensor().poke(task_context())
    assert again.is_done and again.xcom_value["run"]["attempt"] == 1


def test_another_dag_run_holding_the_claim_is_fatal(interlock) -> None:
    interlock.make_ready(PERIOD)
    interlock.engine().claim("inventory", PERIOD, "dagster:other")
    with pytest.raises(InterlockFatalError, match="claimed by dagster:other"):
        sensor().poke(task_context())


def test_the_period_is_the_data_interval_start_in_the_pipeline_time_zone(interlock) -> None:
    # 23:30 UTC on 4 March is 23:00 in London (winter): hour 23 UTC for an hourly pipeline.
    late = task_context(interval_start=datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    assert sensor(pipeline_id="hourly").poke(late).xcom_value["period"] == "2026-03-04T23"
    summer = task_context(interval_start=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    assert sensor().poke(summer).xcom_value["period"] == "2026-06-30"


def test_an_explicit_period_wins(interlock) -> None:
    checked = sensor(period="2026-03-01").poke(task_context())
    assert checked.xcom_value["period"] == "2026-03-01"


def test_no_period_and_no_data_interval_fails_never_skips(interlock) -> None:
    gate = sensor(soft_fail=True)
    with pytest.raises(InterlockFatalError, match="no data interval"):
        gate.poke(task_context(interval_start=None))
    with pytest.raises(AirflowFailException, match="no data interval"):
        gate.execute(task_context(interval_start=None))


def test_an_excluded_period_skips(interlock) -> None:
    with pytest.raises(AirflowSkipException, match="excluded"):
        sensor(period="2026-12-25").poke(task_context())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pipeline_id": "nope"}, "unknown Interlock pipeline 'nope'"),
        ({"pipeline_id": "with-job"}, "has a job"),
        ({"period": "2026-03-04T10"}, "daily periods"),
        ({"period": "March"}, "period"),
    ],
)
def test_setup_errors_fail_the_task_even_with_soft_fail(interlock, kwargs, message) -> None:
    gate = sensor(soft_fail=True, **kwargs)
    with pytest.raises(AirflowFailException, match=message):
        gate.execute(task_context())


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize("store", ["garbage-sqlite", "refused-postgresql"])
def test_a_store_that_cannot_be_reached_fails_with_retries_even_with_soft_fail(
    store, deferrable, tmp_path, monkeypatch
) -> None:
    if store == "garbage-sqlite":
        garbage = tmp_path / "not-a-database.db"
        garbage.write_bytes(b"this is not SQLite" * 100)
        url = f"sqlite:///{garbage}"
    else:  # nothing listens on port 1: connection refused
        url = "postgresql://interlock@127.0.0.1:1/interlock?connect_timeout=2"
    monkeypatch.setenv("INTERLOCK_STORE", url)
    with pytest.raises(InterlockUnavailableError, match="cannot"):
        sensor(soft_fail=True, deferrable=deferrable).execute(task_context())


def test_a_missing_sqlite_store_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", f"sqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(AirflowFailException, match=r"no Interlock store at .*missing\.db"):
        sensor(soft_fail=True).execute(task_context())
    assert not (tmp_path / "missing.db").exists()


def test_no_store_configured_at_all_is_fatal(monkeypatch) -> None:
    monkeypatch.delenv("INTERLOCK_STORE", raising=False)
    with pytest.raises(AirflowFailException, match="INTERLOCK_STORE"):
        sensor(soft_fail=True).execute(task_context())


def test_wait_for_succeeded_follows_another_owners_run(interlock) -> None:
    gate = sensor(pipeline_id="upstream", wait_for="succeeded")
    assert gate.poke(task_context()).is_done is False
    engine = interlock.engine()
    engine.emit("upstream", "ready", {"ok": True}, PERIOD)
    engine.claim("upstream", PERIOD, "dagster:run-1")
    assert gate.poke(task_context()).xcom_value["run"]["status"] == "CLAIMED"
    engine.report("upstream", PERIOD, "success", owner="dagster:run-1")
    done = gate.poke(task_context())
    assert done.is_done and done.xcom_value["run"]["status"] == "SUCCEEDED"


def test_wait_for_succeeded_fails_at_once_when_the_run_fails(interlock) -> None:
    engine = interlock.engine()
    engine.emit("upstream", "ready", {"ok": True}, PERIOD)
    engine.claim("upstream", PERIOD, "dagster:run-1")
    engine.report("upstream", PERIOD, "failed", owner="dagster:run-1", message="disk full")
    gate = sensor(pipeline_id="upstream", wait_for="succeeded", soft_fail=True)
    with pytest.raises(AirflowFailException, match=r"ended FAILED .*disk full"):
        gate.execute(task_context())


def test_deferrable_pokes_once_then_defers_with_the_deadline(interlock) -> None:
    gate = sensor(deferrable=True, timeout=120, exponential_backoff=True, max_wait=7)
    before = datetime.now(UTC).timestamp()
    with pytest.raises(TaskDeferred) as deferred:
        gate.execute(task_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, InterlockTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert (trigger.pipeline_id, trigger.period, trigger.wait_for) == ("inventory", PERIOD, "ready")
    assert trigger.owner == owner()
    assert trigger.timeout == 120 and before <= trigger.started_at <= before + 5
    assert trigger.deadline == trigger.started_at + 120
    assert trigger.exponential_backoff is True and trigger.max_wait == 7
    assert deferred.value.timeout.total_seconds() >= 120


def test_deferrable_returns_at_once_when_already_ready(interlock) -> None:
    interlock.make_ready(PERIOD)
    payload = sensor(deferrable=True).execute(task_context())
    assert payload["run"]["status"] == "CLAIMED"


def test_wait_for_is_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="wait_for"):
        sensor(wait_for="done")


def test_an_interlock_asset_event_names_the_period(interlock) -> None:
    from types import SimpleNamespace

    def event(pipeline_id: str, period: str, minute: int) -> SimpleNamespace:
        payload = {"source": "interlock", "pipeline_id": pipeline_id, "period": period}
        return SimpleNamespace(
            extra={"from_trigger": True, "payload": payload},
            timestamp=datetime(2026, 3, 5, 6, minute, tzinfo=UTC),
        )

    events = {
        "interlock-inventory": [
            event("inventory", "2026-03-02", 1),
            event("inventory", "2026-03-03", 2),  # the latest wins
            event("other", "2026-03-01", 3),
        ]
    }
    context = task_context(interval_start=None, triggering_asset_events=events)
    assert sensor().poke(context).xcom_value["period"] == "2026-03-03"


DRY = """\
pipeline: {id: dry, owner: test}
schedule:
  timezone: UTC
  trigger: {key: ready, check: exists}
validation:
  trigger: ALL
  rules:
    - {key: ready, check: exists}
job:
  type: command
  config: {command: ["true"]}
dryRun: true
"""


def test_a_dry_run_pass_is_not_a_success_to_wait_for(interlock) -> None:
    from interlock_core import load_pipelines

    (interlock.pipelines / "dry.yaml").write_text(DRY)
    engine = interlock.engine()
    engine.apply(load_pipelines(interlock.pipelines))
    engine.emit("dry", "ready", {"ok": True}, PERIOD)
    run = engine.advance("dry", PERIOD)
    assert run.status == "SUCCEEDED" and run.dry_run  # recorded, yet no job ran
    checked = sensor(pipeline_id="dry", wait_for="succeeded").poke(task_context())
    assert checked.is_done is False
    assert checked.xcom_value["run"]["dry_run"] is True


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_a_period_template_rendering_blank_means_no_period_not_the_wall_clock(
    interlock, blank
) -> None:
    # period="{{ params.period }}" with an empty param: the data interval decides, as for
    # period=None — never the wall clock's current period (which "   " used to pick).
    checked = sensor(period=blank).poke(task_context())
    assert checked.xcom_value["period"] == PERIOD
    with pytest.raises(InterlockFatalError, match="no data interval"):
        sensor(period=blank).poke(task_context(interval_start=None))


@pytest.mark.parametrize(
    ("interval_start", "period"),
    [
        (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "2026-01-15"),  # GMT midnight
        (datetime(2026, 6, 30, 23, 0, tzinfo=UTC), "2026-07-01"),  # BST midnight
        (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), "2026-03-29"),  # the day clocks go forward
        (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), "2026-10-25"),  # the day they go back
        (datetime(2026, 10, 25, 23, 59, tzinfo=UTC), "2026-10-25"),  # 23:59 GMT, same day
    ],
)
def test_a_daily_pipeline_takes_the_local_date_of_a_london_midnight(
    interlock, interval_start, period
) -> None:
    from interlock_core import load_pipelines
    from tests.airflow_tests.conftest import INVENTORY

    folder = interlock.pipelines.parent / "london"
    folder.mkdir()
    london = INVENTORY.replace("id: inventory", "id: london").replace(
        "timezone: UTC", "timezone: Europe/London"
    )
    (folder / "london.yaml").write_text(london)
    interlock.engine().apply(load_pipelines(folder))
    checked = sensor(pipeline_id="london").poke(task_context(interval_start=interval_start))
    assert checked.xcom_value["period"] == period
