"""The rule engine (DESIGN.md §3): declarative checks over sensor data, combined by a match mode.

Everything here is pure: callers pass ``now`` and the sensors. Producers write whatever they
like into sensors, so nothing a sensor contains may make evaluation raise; a value that cannot
be checked fails its rule with a reason instead (the gate fails closed).

Rules are compiled once per rule/validation object into plain Python checks
(``rule_compiler``; cached while the object lives) and reasons are written when first read
(``rule_results``). The functions here are the public entry points and keep their meaning.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from interlock_core.config.models import MatchMode, Rule, Validation
from interlock_core.rule_compiler import (
    CompiledGate,
    CompiledRule,
    RuleCheck,
    compile_rule,
    compile_rules,
    compile_validation,
    validation_gate,
)
from interlock_core.rule_results import Evaluation, RuleResult, json_safe
from interlock_core.rule_values import EPOCH_MILLISECONDS_FROM, FUTURE_TOLERANCE

__all__ = [
    "EPOCH_MILLISECONDS_FROM",
    "FUTURE_TOLERANCE",
    "CompiledGate",
    "CompiledRule",
    "Evaluation",
    "RuleCheck",
    "RuleResult",
    "compile_rule",
    "compile_rules",
    "compile_validation",
    "evaluate_rule",
    "evaluate_rule_list",
    "evaluate_rules",
    "json_safe",
]


def evaluate_rules(
    validation: Validation, sensors: Mapping[str, Any], now: dt.datetime
) -> Evaluation:
    """Evaluate a pipeline's gate.

    Args:
        validation: the rules and their match mode (compiled on first use, then reused while
            this object lives).
        sensors: sensor key -> data dict, or key -> ``Sensor`` (data plus write time, which
            ``age_lt``/``age_gt`` rules without a field need).
        now: the instant every rule is evaluated at.

    Returns:
        Every rule's result, in rule order, and whether the match mode is satisfied.
    """
    return validation_gate(validation).evaluate(sensors, now)


def evaluate_rule_list(
    rules: Iterable[Rule],
    mode: MatchMode | str,
    sensors: Mapping[str, Any],
    now: dt.datetime,
) -> Evaluation:
    """Evaluate rules and combine them: ALL (every rule passes) or ANY (at least one does).

    Every rule is evaluated, even once the outcome is known, so the results say everything
    that is wrong. ALL with no rules passes; ANY with no rules fails. A mode other than ALL
    or ANY is treated as ALL, the stricter of the two.

    Args:
        rules: the rules, e.g. ``postRun.rules`` or ``[schedule.trigger]``.
        mode: ``MatchMode.ALL``/``MatchMode.ANY`` or the same names as text, any case.
        sensors: as for ``evaluate_rules``.
        now: the instant every rule is evaluated at.

    Returns:
        The combined evaluation.
    """
    return compile_rules(rules, mode).evaluate(sensors, now)


def evaluate_rule(rule: Rule, sensors: Mapping[str, Any], now: dt.datetime) -> RuleResult:
    """Evaluate one rule.

    Never raises because of sensor content: a value the check cannot use fails the rule
    with a reason.

    Args:
        rule: the rule (a ``TriggerCondition`` works too).
        sensors: as for ``evaluate_rules``.
        now: the instant to measure ages against (naive means UTC).

    Returns:
        The rule's result.
    """
    return compile_rule(rule)(sensors, now)
