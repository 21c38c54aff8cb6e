"""Rule benchmarks: what a compiled gate costs next to the same checks written inline.

Not a test. Measures, interleaved in one run (ratios are what carries between machines):

- the gate of 6 rules (``RULES`` in bench_engine.py) through ``evaluate_rules``, its
  ``passed`` read (what the engine reads first), and again with every reason read (what
  ``interlock evaluate``, XCom and Dagster metadata read);
- (a) inline Python doing the same six checks, (b) inline Python that also writes a reason
  per rule — the baselines the issue's targets are ratios to;
- the interpreter the compiled rules replaced (tests/core/rules_reference.py), as "before";
- a 50-rule gate, for the cost per rule at 50 against 6 (linear scaling);
- one ``engine.evaluate`` on memory and SQLite stores (store reads, period view, gate), with
  the compiled gate and with the interpreter swapped in, so nobody mistakes the rule cost for
  the whole.

    .venv/bin/python bench/bench_rules.py [--quick] [--out DIR]
"""

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, summary, table, write_results
from bench_engine import NOW, RULES

from interlock_core import lifecycle
from interlock_core.clock import ManualClock
from interlock_core.config.models import MatchMode, Pipeline, Validation
from interlock_core.engine import Interlock
from interlock_core.rule_compiler import compile_rule_uncached
from interlock_core.rule_inline import _factory, gate_function
from interlock_core.rules import evaluate_rules
from interlock_core.sensors import Sensor
from interlock_core.storage import open_store
from tests.core import rules_reference
from tests.scenarios.harness import PipelineSetStub

SENSOR_DATA: dict[str, dict[str, Any]] = {
    "upstream": {"status": "ready"},
    "rows": {"count": 5000, "errors": 0},
    "fresh": {"updatedAt": NOW.isoformat()},
    "stats": {"a": {"b": 1}},
    "region": {"name": "eu"},
}
SENSORS = {
    key: Sensor(key, data, NOW, version) for version, (key, data) in enumerate(SENSOR_DATA.items())
}
TWO_HOURS = dt.timedelta(hours=2)


def fifty_rules() -> list[dict[str, Any]]:
    """50 rules of the same six kinds, all passing (thresholds vary where they can)."""
    rules = []
    for i in range(50):
        rule = dict(RULES[i % len(RULES)])
        if rule["check"] in ("gte", "lt"):
            rule["value"] = rule["value"] + i
        elif rule["check"] == "age_lt":
            rule["value"] = f"{2 + i}h"
        elif rule["check"] == "in":
            rule["value"] = ["eu", "us", f"r{i}"]
        rules.append(rule)
    return rules


def validation_of(rules: list[dict[str, Any]]) -> Validation:
    return Pipeline.model_validate(
        {"pipeline": {"id": "bench"}, "validation": {"rules": rules}}
    ).validation


# --- the baselines: the six checks written by hand -----------------------------------------


def inline_checks(sensors: Mapping[str, Sensor], now: dt.datetime) -> bool:
    """(a) The six checks inline: every rule evaluated, no reasons."""
    upstream = sensors.get("upstream")
    ok_status = upstream is not None and upstream.data.get("status") == "ready"
    rows = sensors.get("rows")
    count = rows.data.get("count") if rows is not None else None
    ok_count = isinstance(count, int | float) and count >= 1000
    errors = rows.data.get("errors") if rows is not None else None
    ok_errors = isinstance(errors, int | float) and errors < 5
    fresh = sensors.get("fresh")
    stamp = fresh.data.get("updatedAt") if fresh is not None else None
    ok_fresh = isinstance(stamp, str) and now - dt.datetime.fromisoformat(stamp) < TWO_HOURS
    stats = sensors.get("stats")
    inner = stats.data.get("a") if stats is not None else None
    ok_stats = isinstance(inner, dict) and inner.get("b") is not None
    region = sensors.get("region")
    name = region.data.get("name") if region is not None else None
    ok_region = name in ("eu", "us")
    return ok_status and ok_count and ok_errors and ok_fresh and ok_stats and ok_region


def inline_checks_with_reasons(
    sensors: Mapping[str, Sensor], now: dt.datetime
) -> tuple[bool, list[str]]:
    """(b) The same checks, each also writing its reason sentence."""
    reasons = []
    upstream = sensors.get("upstream")
    status = upstream.data.get("status") if upstream is not None else None
    ok_status = status == "ready"
    reasons.append(
        f"status is {status!r}" if ok_status else f"status is {status!r}, expected 'ready'"
    )
    rows = sensors.get("rows")
    count = rows.data.get("count") if rows is not None else None
    ok_count = isinstance(count, int | float) and count >= 1000
    reasons.append(
        f"count is {count} (>= 1000)" if ok_count else f"count is {count}, needs >= 1000"
    )
    errors = rows.data.get("errors") if rows is not None else None
    ok_errors = isinstance(errors, int | float) and errors < 5
    reasons.append(f"errors is {errors} (< 5)" if ok_errors else f"errors is {errors}, needs < 5")
    fresh = sensors.get("fresh")
    stamp = fresh.data.get("updatedAt") if fresh is not None else None
    age = now - dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    ok_fresh = age is not None and age < TWO_HOURS
    reasons.append(f"updatedAt is {age} old (< 2h)" if ok_fresh else f"updatedAt is {age} old")
    stats = sensors.get("stats")
    inner = stats.data.get("a") if stats is not None else None
    b = inner.get("b") if isinstance(inner, dict) else None
    ok_stats = b is not None
    reasons.append(f"a.b is {b}" if ok_stats else 'field "a.b" not found in sensor "stats"')
    region = sensors.get("region")
    name = region.data.get("name") if region is not None else None
    ok_region = name in ("eu", "us")
    reasons.append(
        f"name is {name!r} (in ['eu', 'us'])"
        if ok_region
        else f"name is {name!r}, expected one of ['eu', 'us']"
    )
    passed = ok_status and ok_count and ok_errors and ok_fresh and ok_stats and ok_region
    return passed, reasons


# --- what is measured ----------------------------------------------------------------------


def batch(call: Callable[[], object], size: int) -> Callable[[], object]:
    """``call`` ``size`` times in a loop: one sample is a batch (a gate is a few µs)."""

    def run() -> None:
        for _ in range(size):
            call()

    return run


def batch_size(call: Callable[[], object], seconds: float) -> int:
    """How many calls take about ``seconds``: every sample then lasts about as long, so a
    busy moment on a shared machine weighs on all of them alike."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds / 2 or count < 3:
        call()
        count += 1
    return max(1, round(count * seconds / elapsed))


def batched(
    calls: dict[str, Callable[[], object]], seconds: float
) -> tuple[dict[str, Callable[[], object]], dict[str, int]]:
    sizes = {name: batch_size(call, seconds) for name, call in calls.items()}
    return {name: batch(call, sizes[name]) for name, call in calls.items()}, sizes


def gate_calls(six: Validation, fifty: Validation) -> dict[str, Callable[[], object]]:
    def read_every_reason() -> object:
        evaluation = evaluate_rules(six, SENSORS, NOW)
        return [result.reason for result in evaluation.results]

    return {
        "inline (a)": lambda: inline_checks(SENSORS, NOW),
        "inline + reasons (b)": lambda: inline_checks_with_reasons(SENSORS, NOW),
        "gate 6": lambda: evaluate_rules(six, SENSORS, NOW).passed,
        "gate 6 + every reason": read_every_reason,
        "interpreter 6 (before)": lambda: rules_reference.evaluate_rules(six, SENSORS, NOW).passed,
        "gate 50": lambda: evaluate_rules(fifty, SENSORS, NOW).passed,
        "interpreter 50 (before)": lambda: (
            rules_reference.evaluate_rules(fifty, SENSORS, NOW).passed
        ),
    }


def reference_gate(
    pipeline: Pipeline, sensors: Mapping[str, Any], now: dt.datetime
) -> rules_reference.Evaluation:
    """``lifecycle.evaluate_gate`` as it was: the interpreter, rule by rule."""
    trigger_rule, validation = lifecycle.gate_validation(pipeline)
    evaluation = rules_reference.evaluate_rules(validation, sensors, now)
    if trigger_rule is None:
        return evaluation
    first = rules_reference.evaluate_rule(trigger_rule, sensors, now)
    return rules_reference.Evaluation(
        first.passed and evaluation.passed, [first, *evaluation.results], evaluation.mode
    )


def bench_engine(url: str) -> Interlock:
    engine = Interlock(open_store(url), {}, ManualClock(NOW))
    document = {
        "pipeline": {"id": "bench"},
        "schedule": {"period": "hourly"},
        "validation": {"rules": RULES},
    }
    engine.apply(PipelineSetStub({"bench": Pipeline.model_validate(document)}, {}))
    for key, data in SENSOR_DATA.items():
        engine.emit("bench", key, data)
    assert engine.evaluate("bench").ready
    return engine


def engine_calls(engines: dict[str, Interlock]) -> dict[str, Callable[[], object]]:
    compiled_gate = lifecycle.evaluate_gate

    def with_gate(engine: Interlock, gate: Callable[..., Any]) -> Callable[[], object]:
        def call() -> object:
            lifecycle.evaluate_gate = gate  # type: ignore[assignment]
            try:
                return engine.evaluate("bench").ready
            finally:
                lifecycle.evaluate_gate = compiled_gate  # type: ignore[assignment]

        return call

    calls: dict[str, Callable[[], object]] = {}
    for name, engine in engines.items():
        calls[f"engine.evaluate {name}"] = with_gate(engine, compiled_gate)
        calls[f"engine.evaluate {name}, interpreter (before)"] = with_gate(engine, reference_gate)
    return calls


def gate_function_cost(rules: list[dict[str, Any]], repeat: int) -> dict[str, dict[str, float]]:
    """µs to write a validation's gate function (rule_inline): binding a gate of a shape
    already compiled, and compiling a new shape (once per shape, then cached)."""
    # What a gate does once evaluated often enough (rule_compiler.EVALUATIONS_BEFORE_WRITING).
    compiled = [compile_rule_uncached(rule) for rule in validation_of(rules).rules]
    plans = [rule.plan for rule in compiled]
    checks = tuple(rule.check for rule in compiled)
    names = tuple(rule.names for rule in compiled)

    def write() -> None:
        gate_function(plans, checks, names, MatchMode.ALL, False)

    bind, new_shape = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        write()
        bind.append((time.perf_counter() - started) * 1e6)
    for _ in range(max(3, repeat // 50)):
        _factory.cache_clear()
        started = time.perf_counter()
        write()
        new_shape.append((time.perf_counter() - started) * 1e6)
    return {"bind, known shape": summary(bind), "compile a new shape": summary(new_shape)}


def compile_cost(rules: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    """µs to compile a validation once (what a new config costs, once per config hash)."""
    validation = validation_of(rules)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for rule in validation.rules:
            compile_rule_uncached(rule)
        samples.append((time.perf_counter() - started) * 1e6)
    return summary(samples)


# --- report --------------------------------------------------------------------------------


def per_call_us(samples: dict[str, list[float]], sizes: dict[str, int]) -> dict[str, list[float]]:
    return {name: [s * 1e6 / sizes[name] for s in values] for name, values in samples.items()}


def ratio_samples(numerator: list[float], denominator: list[float]) -> list[float]:
    """Round-by-round ratios: each pair was measured side by side."""
    return [n / d for n, d in zip(numerator, denominator, strict=True)]


def target(name: str, ratios: list[float], limit: float) -> dict[str, Any]:
    spread = summary(ratios)
    return {
        "name": name,
        "value": spread["median"],
        "unit": "x",
        "limit": limit,
        "met": spread["median"] <= limit,
        "spread": spread,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="rounds, samples per call (default 300; quick 15)"
    )
    args = parser.parse_args()
    repeat = args.repeat or (15 if args.quick else 300)
    sample_seconds = 0.0005 if args.quick else 0.002

    six, fifty = validation_of(RULES), validation_of(fifty_rules())
    # Same verdicts and the same reasons both ways, or the timings mean nothing.
    for validation in (six, fifty):
        compiled = evaluate_rules(validation, SENSORS, NOW)
        before = rules_reference.evaluate_rules(validation, SENSORS, NOW)
        assert compiled.passed and before.passed
        assert [r.reason for r in compiled.results] == [r.reason for r in before.results]
    assert inline_checks(SENSORS, NOW) and inline_checks_with_reasons(SENSORS, NOW)[0]

    calls, sizes = batched(gate_calls(six, fifty), sample_seconds)
    gates = per_call_us(interleaved(calls, repeat), sizes)

    with tempfile.TemporaryDirectory() as tmp:
        engines = {
            "memory": bench_engine("memory://"),
            "sqlite": bench_engine(f"sqlite:///{tmp}/b.db"),
        }
        calls, engine_sizes = batched(engine_calls(engines), sample_seconds)
        engine_us = per_call_us(interleaved(calls, max(5, repeat // 3)), engine_sizes)
        for engine in engines.values():
            engine.store.close()

    per_rule_6 = [v / 6 for v in gates["gate 6"]]
    per_rule_50 = [v / 50 for v in gates["gate 50"]]
    targets = [
        target(
            "gate of 6 rules / inline code writing a reason per rule (b)",
            ratio_samples(gates["gate 6"], gates["inline + reasons (b)"]),
            3.0,
        ),
        target(
            "gate of 6 rules / inline code writing a reason per rule (b), stretch",
            ratio_samples(gates["gate 6"], gates["inline + reasons (b)"]),
            1.5,
        ),
        target(
            "50-rule gate cost per rule / 6-rule gate cost per rule (linear scaling)",
            ratio_samples(per_rule_50, per_rule_6),
            1.5,
        ),
    ]
    informational = {
        "gate 6 / inline (a)": summary(ratio_samples(gates["gate 6"], gates["inline (a)"])),
        "gate 6 + every reason / inline + reasons (b)": summary(
            ratio_samples(gates["gate 6 + every reason"], gates["inline + reasons (b)"])
        ),
        "interpreter 6 (before) / inline + reasons (b)": summary(
            ratio_samples(gates["interpreter 6 (before)"], gates["inline + reasons (b)"])
        ),
        "interpreter 6 (before) / gate 6 (speed-up)": summary(
            ratio_samples(gates["interpreter 6 (before)"], gates["gate 6"])
        ),
        "interpreter 50 (before) / gate 50 (speed-up)": summary(
            ratio_samples(gates["interpreter 50 (before)"], gates["gate 50"])
        ),
    }
    for name in ("memory", "sqlite"):
        # Measured in different rounds: a ratio of medians, not round by round.
        share = (
            summary(gates["gate 6"])["median"]
            / summary(engine_us[f"engine.evaluate {name}"])["median"]
        )
        informational[f"gate 6 / engine.evaluate {name} (medians)"] = {"median": share}

    rows = []
    for name, values in {**gates, **engine_us}.items():
        s = summary(values)
        rows.append((name, s["median"], s["p10"], s["p90"], s["min"], s["max"]))
    rows.append(("gate 6 per rule", *_cells(per_rule_6)))
    rows.append(("gate 50 per rule", *_cells(per_rule_50)))
    print(
        f"µs per evaluation; {repeat} interleaved rounds, each call batched to about "
        f"{sample_seconds * 1000:g} ms per sample"
    )
    print(table(["call", "median µs", "p10", "p90", "min", "max"], rows))
    print()
    print(
        table(
            ["ratio (round by round)", "median", "p10", "p90"],
            [(t["name"], t["value"], t["spread"]["p10"], t["spread"]["p90"]) for t in targets]
            + [
                (name, s["median"], s.get("p10", ""), s.get("p90", ""))
                for name, s in informational.items()
            ],
        )
    )
    for t in targets:
        verdict = "met" if t["met"] else "MISSED"
        print(f"target {verdict}: {t['name']} = {t['value']:.2f}x (<= {t['limit']}x)")
    compile_six = compile_cost(RULES, 50 if args.quick else 500)
    print(f"compiling the 6 rules once: {compile_six['median']:.1f} µs (median)")
    functions = {
        f"{len(rules)} rules, {what}": spread
        for rules in (RULES, fifty_rules())
        for what, spread in gate_function_cost(rules, 50 if args.quick else 500).items()
    }
    for name, spread in functions.items():
        print(f"gate function of {name}: {spread['median']:.1f} µs (median)")

    write_results(
        "rules",
        {
            "command": "bench/bench_rules.py" + (" --quick" if args.quick else ""),
            "rounds": repeat,
            "sample_ms": sample_seconds * 1000,
            "batch_sizes": {**sizes, **engine_sizes},
            "us_per_call": {name: summary(values) for name, values in gates.items()},
            "us_per_rule": {"gate 6": summary(per_rule_6), "gate 50": summary(per_rule_50)},
            "engine_evaluate_us": {name: summary(values) for name, values in engine_us.items()},
            "compile_6_rules_us": compile_six,
            "gate_function_us": functions,
            "ratios": informational,
            "targets": targets,
        },
        args.out,
    )


def _cells(values: list[float]) -> tuple[float, float, float, float, float]:
    s = summary(values)
    return s["median"], s["p10"], s["p90"], s["min"], s["max"]


if __name__ == "__main__":
    main()
