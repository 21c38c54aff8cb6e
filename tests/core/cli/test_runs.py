"""``status``, ``claim``, ``report``, ``rerun`` and ``resolve``."""

import datetime as dt
import json

import pytest

from interlock_core.runs import Run, RunStatus
from tests.core.cli.conftest import PERIOD, Cli

OWNER = "airflow:dag/run-1"


def _claimed(cli: Cli) -> None:
    assert cli("emit", "inventory", "stock", "status=done", "--period", PERIOD).exit_code == 0
    result = cli("claim", "inventory", PERIOD, "--owner", OWNER)
    assert result.exit_code == 0, result.stderr


def _succeeded(cli: Cli) -> None:
    _claimed(cli)
    result = cli("report", "inventory", PERIOD, "success", "--owner", OWNER)
    assert result.exit_code == 0, result.stderr


def _only_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# ----------------------------------------------------------------------------- status


def test_status_of_an_empty_store(cli: Cli) -> None:
    cli.store()  # created, as `interlock apply` or `interlock run` would
    result = cli("status")
    assert result.exit_code == 0
    assert result.stdout.strip() == "no runs yet"
    assert json.loads(cli("status", "--json").stdout) == []


def test_status_table_and_json(ready_cli: Cli) -> None:
    ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    ready_cli("emit", "inventory", "stock", "status=done", "--period", "2026-03-05")
    result = ready_cli("status")
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:4] == ["pipeline", "period", "status", "attempt"]
    assert "job run id" in header and "message" in header
    # Newest period first.
    assert rows[0].split()[:4] == ["inventory", "2026-03-05", "WAITING", "1"]
    assert rows[1].split()[:4] == ["orders", PERIOD, "WAITING", "1"]
    assert "evaluate at" in rows[1]

    runs = json.loads(ready_cli("status", "orders", "--json").stdout)
    assert len(runs) == 1
    assert runs[0]["pipelineId"] == "orders"
    assert runs[0]["period"] == PERIOD
    assert runs[0]["status"] == "WAITING"
    assert runs[0]["nextAction"] == "evaluate"
    assert runs[0]["jobRunId"] is None

    limited = ready_cli("status", "--limit", "1")
    assert len(limited.stdout.splitlines()) == 3  # header, one run, the --limit hint
    assert "use --limit" in limited.stdout


def test_status_of_an_unknown_pipeline_fails_and_suggests_a_name(ready_cli: Cli) -> None:
    result = ready_cli("status", "inventry")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: unknown pipeline 'inventry'")
    assert "did you mean inventory?" in result.stderr


# ----------------------------------------------------------------------------- claim, report


def test_claim_and_report_success(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    run = ready_cli.store().get_run("inventory", PERIOD)
    assert run is not None and run.status.value == "CLAIMED" and run.owner == OWNER
    # The same owner again (a task retry) is a no-op.
    again = ready_cli("claim", "inventory", PERIOD, "--owner", OWNER, "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["status"] == "CLAIMED"

    result = ready_cli("report", "inventory", PERIOD, "success", "--owner", OWNER)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"reported: inventory {PERIOD}: SUCCEEDED")
    assert "SUCCEEDED" in ready_cli("status", "inventory").stdout


def test_report_failed_with_message(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    result = ready_cli(
        "report", "inventory", PERIOD, "failed", "--owner", OWNER, "--message", "disk full",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "FAILED"
    assert document["message"] == "disk full"


def test_report_without_owner_over_a_live_claim_needs_force(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    refused = ready_cli("report", "inventory", PERIOD, "success")
    assert refused.exit_code == 1
    assert f"claimed by {OWNER}" in refused.stderr and "--force" in refused.stderr
    run = ready_cli.store().get_run("inventory", PERIOD)
    assert run is not None and run.status.value == "CLAIMED"

    forced = ready_cli("report", "inventory", PERIOD, "success", "--force")
    assert forced.exit_code == 0, forced.stderr
    reported = [
        e for e in ready_cli.store().query_events("inventory") if e.type.value == "CLAIM_REPORTED"
    ]
    assert reported[-1].detail["forced"] is True and reported[-1].detail["owner"] == OWNER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["orders", PERIOD, "--owner", OWNER], "has a job"),
        (["inventory", PERIOD, "--owner", OWNER], "gate not ready"),
        (["nope", PERIOD, "--owner", OWNER], "unknown pipeline"),
    ],
)
def test_claim_refusals(ready_cli: Cli, args: list[str], message: str) -> None:
    result = ready_cli("claim", *args)
    assert result.exit_code == 1
    assert message in _only_error_line(result.stderr)


def test_claim_by_another_owner_is_refused(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    result = ready_cli("claim", "inventory", PERIOD, "--owner", "dagster:other")
    assert result.exit_code == 1
    assert f"claimed by {OWNER}" in _only_error_line(result.stderr)


def test_claim_needs_an_owner(ready_cli: Cli) -> None:
    assert ready_cli("claim", "inventory", PERIOD).exit_code == 2


def test_report_refusals(ready_cli: Cli) -> None:
    no_run = ready_cli("report", "inventory", PERIOD, "success")
    assert no_run.exit_code == 1
    assert "no run for inventory" in _only_error_line(no_run.stderr)

    ready_cli("emit", "inventory", "stock", "status=done", "--period", PERIOD)
    unclaimed = ready_cli("report", "inventory", PERIOD, "success")
    assert unclaimed.exit_code == 1
    assert "not claimed" in _only_error_line(unclaimed.stderr)

    ready_cli("claim", "inventory", PERIOD, "--owner", OWNER)
    other = ready_cli("report", "inventory", PERIOD, "success", "--owner", "someone")
    assert other.exit_code == 1
    assert f"claimed by {OWNER}, not someone" in _only_error_line(other.stderr)
    run = ready_cli.store().get_run("inventory", PERIOD)
    assert run is not None and run.status.value == "CLAIMED"

    assert ready_cli("report", "inventory", PERIOD, "done").exit_code == 2


# ----------------------------------------------------------------------------- rerun


def test_rerun_rejected_then_accepted(ready_cli: Cli) -> None:
    _succeeded(ready_cli)
    rejected = ready_cli("rerun", "inventory", PERIOD, "--reason", "fix")
    assert rejected.exit_code == 1
    assert rejected.stdout == ""
    assert "no sensor changed" in _only_error_line(rejected.stderr)

    # A new sensor after the success lets the circuit breaker pass.
    ready_cli("emit", "inventory", "extra", "n=1", "--period", PERIOD)
    accepted = ready_cli("rerun", "inventory", PERIOD, "--reason", "fix", "--json")
    assert accepted.exit_code == 0, accepted.stderr
    document = json.loads(accepted.stdout)
    assert document["accepted"] is True
    assert document["run"]["attempt"] == 2
    assert document["run"]["status"] == "WAITING"
    events = ready_cli("events", "--type", "RERUN_ACCEPTED,RERUN_REJECTED", "--json")
    types = [json.loads(line)["type"] for line in events.stdout.splitlines()]
    assert types == ["RERUN_REJECTED", "RERUN_ACCEPTED"]


def test_rerun_force_passes_the_circuit_breaker(ready_cli: Cli) -> None:
    _succeeded(ready_cli)
    assert ready_cli("rerun", "inventory", PERIOD, "--reason", "code-fix").exit_code == 1
    forced = ready_cli("rerun", "inventory", PERIOD, "--reason", "code-fix", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.startswith("accepted: ")
    assert "attempt 2" in forced.stdout


def test_rerun_default_reason_is_manual(ready_cli: Cli) -> None:
    _succeeded(ready_cli)
    ready_cli("emit", "inventory", "extra", "n=1", "--period", PERIOD)
    result = ready_cli("rerun", "inventory", PERIOD)
    assert result.exit_code == 0, result.stderr
    assert "reason: manual" in result.stdout


def test_rerun_of_a_missing_or_running_run_is_rejected(ready_cli: Cli) -> None:
    missing = ready_cli("rerun", "inventory", PERIOD)
    assert missing.exit_code == 1
    assert "no run for inventory" in missing.stderr
    _claimed(ready_cli)
    claimed = ready_cli("rerun", "inventory", PERIOD, "--json")
    assert claimed.exit_code == 1
    assert json.loads(claimed.stdout)["accepted"] is False


def test_rerun_errors(ready_cli: Cli) -> None:
    unknown = ready_cli("rerun", "nope", PERIOD)
    assert unknown.exit_code == 1
    assert "unknown pipeline" in _only_error_line(unknown.stderr)
    bad_period = ready_cli("rerun", "inventory", "March")
    assert bad_period.exit_code == 2  # a malformed argument is a usage error
    assert "invalid period" in _only_error_line(bad_period.stderr)


# ----------------------------------------------------------------------------- resolve


def test_resolve_failed_then_retry(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    # the claim is live: its owner may still be working, so an operator needs --force
    refused = ready_cli("resolve", "inventory", PERIOD, "--failed")
    assert refused.exit_code == 1 and "claim is live" in refused.stderr
    failed = ready_cli(
        "resolve", "inventory", PERIOD, "--failed", "--note", "owner gone", "--force"
    )
    assert failed.exit_code == 0, failed.stderr
    assert failed.stdout.startswith(f"resolved: inventory {PERIOD}: FAILED")

    retry = ready_cli("resolve", "inventory", PERIOD, "--retry", "--json")
    assert retry.exit_code == 0, retry.stderr
    document = json.loads(retry.stdout)
    assert document["status"] == "WAITING"
    assert document["attempt"] == 2
    resolved = ready_cli("events", "--type", "RUN_RESOLVED", "--json").stdout.splitlines()
    assert [json.loads(line)["detail"]["resolution"] for line in resolved] == ["failed", "retry"]


def test_resolve_succeeded(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    result = ready_cli("resolve", "inventory", PERIOD, "--succeeded", "--force")
    assert result.exit_code == 0, result.stderr
    run = ready_cli.store().get_run("inventory", PERIOD)
    assert run is not None and run.status.value == "SUCCEEDED"


@pytest.mark.parametrize("flags", [[], ["--failed", "--retry"], ["--succeeded", "--failed"]])
def test_resolve_needs_exactly_one_flag(ready_cli: Cli, flags: list[str]) -> None:
    _claimed(ready_cli)
    result = ready_cli("resolve", "inventory", PERIOD, *flags)
    assert result.exit_code == 2
    assert "exactly one of" in _only_error_line(result.stderr)
    run = ready_cli.store().get_run("inventory", PERIOD)
    assert run is not None and run.status.value == "CLAIMED"


def test_resolve_refusals(ready_cli: Cli) -> None:
    no_run = ready_cli("resolve", "inventory", PERIOD, "--failed")
    assert no_run.exit_code == 1
    assert "no run for inventory" in _only_error_line(no_run.stderr)
    ready_cli("emit", "inventory", "stock", "status=done", "--period", PERIOD)
    waiting = ready_cli("resolve", "inventory", PERIOD, "--succeeded")
    assert waiting.exit_code == 1
    assert "nothing to resolve" in _only_error_line(waiting.stderr)


# ----------------------------------------------------------------------------- new attempts


def test_reopening_a_run_names_the_new_attempt(ready_cli: Cli) -> None:
    _claimed(ready_cli)
    assert ready_cli("resolve", "inventory", PERIOD, "--failed", "--force").exit_code == 0
    retry = ready_cli("resolve", "inventory", PERIOD, "--retry")
    assert retry.exit_code == 0, retry.stderr
    assert retry.stdout.startswith(f"resolved: inventory {PERIOD}: WAITING (new attempt 2)")

    claim = ready_cli("claim", "inventory", PERIOD, "--owner", OWNER)
    assert "(attempt 2)" in claim.stdout
    ready_cli("report", "inventory", PERIOD, "success", "--owner", OWNER)
    ready_cli("emit", "inventory", "extra", "n=1", "--period", PERIOD)
    rerun = ready_cli("rerun", "inventory", PERIOD)
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.stdout.startswith("accepted: ")
    assert "attempt 3" in rerun.stdout


def test_an_accepted_rerun_names_its_attempt_even_if_the_message_does_not() -> None:
    from datetime import UTC, datetime

    from interlock_core.cli import _with_new_attempt
    from interlock_core.runs import Run, RunStatus

    now = datetime.now(UTC)
    run = Run(
        pipeline_id="p",
        period=PERIOD,
        status=RunStatus.WAITING,
        attempt=4,
        opened_at=now,
        attempt_started_at=now,
        updated_at=now,
    )
    assert _with_new_attempt("rerun accepted", run) == "rerun accepted (new attempt 4)"
    assert _with_new_attempt("reopened as attempt 4", run) == "reopened as attempt 4"
    assert _with_new_attempt("rerun accepted", None) == "rerun accepted"


def test_resolve_retry_of_an_uncertain_run_needs_force(ready_cli: Cli) -> None:
    now = dt.datetime.now(dt.UTC)
    store = ready_cli.store()
    store.create_run(
        Run(
            pipeline_id="orders",
            period=PERIOD,
            status=RunStatus.UNCERTAIN,
            opened_at=now,
            attempt_started_at=now,
            updated_at=now,
            finished_at=now,
        )
    )
    refused = ready_cli("resolve", "orders", PERIOD, "--retry")
    assert refused.exit_code == 1
    assert "no job id was recorded" in refused.stderr and "--force" in refused.stderr
    rerun = ready_cli("rerun", "orders", PERIOD)
    assert rerun.exit_code == 1 and "no job id was recorded" in rerun.stderr

    forced = ready_cli("resolve", "orders", PERIOD, "--retry", "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["attempt"] == 2
    resolved = ready_cli("events", "--type", "RUN_RESOLVED", "--json").stdout.splitlines()
    assert json.loads(resolved[-1])["detail"]["forced"] is True


def test_status_shows_a_dry_run_pass_as_a_dry_run(ready_cli: Cli) -> None:
    now = dt.datetime.now(dt.UTC)
    ready_cli.store().create_run(
        Run(
            pipeline_id="orders",
            period=PERIOD,
            status=RunStatus.SUCCEEDED,
            opened_at=now,
            attempt_started_at=now,
            updated_at=now,
            finished_at=now,
            dry_run=True,
            message="dry run: the job would have been triggered",
        )
    )
    table = ready_cli("status", "orders")
    assert table.exit_code == 0, table.stderr
    assert "DRY_RUN" in table.stdout and "SUCCEEDED" not in table.stdout
    # machines are not fooled either: a script waiting for SUCCEEDED must keep waiting
    as_json = ready_cli("status", "orders", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    (document,) = json.loads(as_json.stdout)
    assert document["status"] == "DRY_RUN" and document["dryRun"] is True
    run = ready_cli.store().get_run("orders", PERIOD)
    assert run is not None and run.is_dry_run_pass and not run.is_success
