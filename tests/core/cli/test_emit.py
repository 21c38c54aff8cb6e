"""``interlock emit``: field=value parsing, --data, --period and one-line errors."""

import json

import pytest

from interlock_core.cli import parse_scalar
from tests.core.cli.conftest import PERIOD, Cli


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1204", 1204),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
        ("ready", "ready"),
        ("07", "07"),  # not JSON: an hour field stays a string
        ("2026-03-04", "2026-03-04"),
        ('"quoted"', '"quoted"'),  # JSON strings are not scalars we convert
        ("[1, 2]", "[1, 2]"),
        ('{"a": 1}', '{"a": 1}'),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("1e400", "1e400"),  # overflows to inf: kept as text
        (" 12", " 12"),
        ("", ""),
        ("True", "True"),
    ],
)
def test_parse_scalar(raw: str, expected: object) -> None:
    value = parse_scalar(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_pairs_become_typed_fields(ready_cli: Cli) -> None:
    result = ready_cli(
        "emit", "orders", "counts", "count=1204", "status=ready", "ok=true", "gone=null",
        "ratio=0.25", "hour=07", "note=a=b", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    expected = {
        "count": 1204,
        "status": "ready",
        "ok": True,
        "gone": None,
        "ratio": 0.25,
        "hour": "07",
        "note": "a=b",
    }
    assert document["data"] == expected
    assert document["pipelineId"] == "orders"
    assert document["key"] == "counts"
    assert document["version"] == 1
    assert document["writtenAt"].endswith("Z")
    assert ready_cli.store().get_sensors("orders")["counts"].data == expected


def test_data_merges_with_pairs_and_pairs_win(ready_cli: Cli) -> None:
    result = ready_cli(
        "emit", "orders", "counts", "--data", '{"count": 5, "source": {"db": "x"}}', "count=2000"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "stored orders/counts (version 1)"
    sensor = ready_cli.store().get_sensors("orders")["counts"]
    assert sensor.data == {"count": 2000, "source": {"db": "x"}}


def test_period_writes_a_suffixed_key_in_canonical_form(ready_cli: Cli) -> None:
    result = ready_cli("emit", "orders", "counts", "count=1", "--period", "20260304", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["key"] == f"counts#{PERIOD}"
    assert set(ready_cli.store().get_sensors("orders")) == {f"counts#{PERIOD}"}


def test_a_trigger_sensor_opens_the_run_of_its_period(ready_cli: Cli) -> None:
    assert (
        ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD).exit_code == 0
    )
    run = ready_cli.store().get_run("orders", PERIOD)
    assert run is not None and run.status.value == "WAITING"


def test_allow_unknown(ready_cli: Cli) -> None:
    assert ready_cli("emit", "elsewhere", "k", "a=1").exit_code == 1
    result = ready_cli("emit", "elsewhere", "k", "a=1", "--allow-unknown")
    assert result.exit_code == 0, result.stderr
    assert ready_cli.store().get_sensors("elsewhere")["k"].data == {"a": 1}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nope", "k", "a=1"], 1, "unknown pipeline 'nope'"),
        (["orders", "bad key", "a=1"], 1, "invalid sensor key"),
        (["orders", "k", "--period", "2026-13-01"], 2, "invalid period"),
        (["orders", "k", "date=2026-03-05", "--period", PERIOD], 1, "data.date"),
        (["orders", f"k#{PERIOD}", "date=2026-03-05"], 1, "data.date"),
        (["orders", "k", "--data", json.dumps({"blob": "x" * 70_000})], 1, "more than the limit"),
        (["orders", "k", "a"], 2, "expected FIELD=VALUE"),
        (["orders", "k", "=1"], 2, "expected FIELD=VALUE"),
        (["orders", "k", "--data", "[1]"], 2, "must be a JSON object, got array"),
        (["orders", "k", "--data", "null"], 2, "must be a JSON object, got null"),
        (["orders", "k", "--data", '"x"'], 2, "must be a JSON object, got string"),
        (["orders", "k", "--data", "1.5"], 2, "must be a JSON object, got number"),
        (["orders", "k", "--data", "true"], 2, "must be a JSON object, got boolean"),
        (["orders", "k", "--data", "{nope"], 2, "not valid JSON"),
        (["orders", "k", "--data", '{"x": NaN}'], 2, "not valid JSON"),
        # Deeper than the JSON decoder's recursion limit: a usage error, not "RecursionError".
        (["orders", "k", "--data", '{"a":' + "[" * 5000 + "]" * 5000 + "}"], 2, "nested"),
        (["orders", "k", "--data", '{"a":' + "[" * 100 + "]" * 100 + "}"], 1, "64 levels"),
    ],
)
def test_errors_are_one_line_and_write_nothing(
    ready_cli: Cli, args: list[str], code: int, message: str
) -> None:
    result = ready_cli("emit", *args)
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    store = ready_cli.store()
    assert store.get_sensors("orders") == {}
    assert store.get_sensors("nope") == {}
    assert store.list_runs() == []


def test_emit_says_what_the_write_did(ready_cli: Cli) -> None:
    idle = ready_cli("emit", "orders", "counts", "count=5", "--period", PERIOD)
    assert idle.stdout.splitlines() == [
        f"stored orders/counts#{PERIOD} (version 1)",
        "no effect: no run waits for this sensor and it opens none",
    ]
    opened = ready_cli("emit", "orders", "upstream", "status=ready", "--period", PERIOD)
    assert opened.stdout.splitlines()[1] == (
        f"opened the run of {PERIOD} (trigger): its job starts once its gate passes"
    )
    woke = ready_cli("emit", "orders", "counts", "count=5000", "--period", PERIOD, "--json")
    document = json.loads(woke.stdout)
    assert document["key"] == f"counts#{PERIOD}" and document["version"] == 3
    assert document["outcome"] == "woke"
    assert document["woke"] == [PERIOD]
    assert document["opened"] == [] and document["lateData"] == []
    assert document["summary"] == [
        f"woke the waiting run of {PERIOD}: gates are evaluated now (by `interlock run`)"
    ]
    unknown = ready_cli("emit", "elsewhere", "k", "a=1", "--allow-unknown")
    assert unknown.stdout.splitlines()[1] == (
        "no effect: elsewhere is not configured, so the sensor is only stored"
    )


def test_a_deeply_bracketed_pair_value_is_a_string(ready_cli: Cli) -> None:
    # parse_scalar leaked the JSON decoder's RecursionError: "a=[[[...]]]" failed the emit
    # instead of being stored as the string it is.
    raw = "[" * 5000 + "]" * 5000
    assert parse_scalar(raw) == raw
    result = ready_cli("emit", "orders", "k", f"a={raw}")
    assert result.exit_code == 0, result.stderr
    assert ready_cli.store().get_sensors("orders")["k"].data == {"a": raw}


def test_emit_opening_a_job_less_run_says_an_orchestrator_claims_it(ready_cli: Cli) -> None:
    opened = ready_cli("emit", "inventory", "stock", "status=done", "--period", PERIOD)
    assert opened.stdout.splitlines()[1] == (
        f"opened the run of {PERIOD} (trigger): an orchestrator claims it once its gate passes"
    )


def test_an_hourly_period_for_a_daily_pipeline_is_refused(ready_cli: Cli) -> None:
    # No daily run reads orders/upstream#<hour>: storing it would silently gate nothing.
    result = ready_cli("emit", "orders", "upstream", "status=ready", "--period", f"{PERIOD}T03")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --period: orders has daily periods, but '{PERIOD}T03' is hourly "
        "(use a period like 2026-03-04); nothing was written\n"
    )
    assert ready_cli.store().get_sensors("orders") == {}
