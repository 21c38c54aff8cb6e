"""What a gate evaluation returns (DESIGN.md §3): one ``RuleResult`` per rule and the
``Evaluation`` that combines them.

A compiled gate (``rule_compiler``) keeps an ``Outcome`` tuple per rule, or just the scalar
value a rule found where its gate function checked it inline (``rule_inline``; the rule's
judge makes the outcome from it later), and leaves the rest for later: most evaluations are
read only for ``passed``, and writing a sentence (or even a result object) per rule cost more
than the checks themselves. ``Evaluation.results`` is made from those the first time it is
read, and each ``RuleResult.reason`` the first time it is read (failing rules, ``interlock
evaluate``, XCom and metadata through ``to_document``, ``asdict``, ``==``, ``repr``,
pickling); both are then kept. They are the same values an eager evaluation would hold:
outcomes keep what the rule looked at with ``now`` already applied, a kept value is immutable
and is judged at the same ``now``, and a list or map a rule found had its reason written when
the rule ran. Results and evaluations made with their constructors behave exactly as before.
"""

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from interlock_core.config.models import MatchMode
from interlock_core.rule_values import Unusable, printable


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule.

    Attributes:
        key: the sensor key the rule reads.
        check: the check name (``"gte"``, ``"age_lt"``, ...).
        field: the field the rule reads, or None.
        passed: whether the rule holds.
        reason: a short sentence saying why, for passing rules too.
        actual: the value the rule looked at (the field value, or the write time for age
            checks without a field); None when there was nothing to look at.
    """

    key: str
    check: str
    field: str | None
    passed: bool
    reason: str
    actual: Any = None

    def to_document(self) -> dict[str, Any]:
        """This result as a JSON-safe dict, the one shape every adapter shows.

        ``actual`` is made JSON-safe: datetimes become ISO strings, non-finite floats None,
        and anything JSON cannot hold its ``str``.
        """
        return {
            "key": self.key,
            "check": self.check,
            "field": self.field,
            "passed": self.passed,
            "reason": self.reason,
            "actual": json_safe(self.actual),
        }


Outcome = tuple[bool, Any, Callable[[Any], str], str, Any, str]
"""What a compiled rule found, before it is a ``RuleResult``:
``(passed, actual, render, prefix, value, suffix)``; its reason is
``prefix + render(value) + suffix``, made printable, written when first read."""

RuleNames = tuple[str, str, "str | None"]
"""``(key, check, field)`` of a rule, as its results report them."""

Judge = Callable[[Any, dt.datetime], Outcome]
"""A rule's check of a field value that was found: ``(actual, now) -> Outcome``."""

GateSpec = tuple[Sequence[RuleNames], "Sequence[Judge | None] | None"]
"""``(names, judges)`` of a gate's rules, in rule order. ``judges`` is None when every
evaluation keeps an ``Outcome`` per rule; else a rule with a judge may keep just the value
it found (never a tuple), to be judged when the results are read (``rule_inline``)."""


def no_text(value: Any) -> str:
    """The ``render`` of an outcome whose reason is all in its prefix."""
    return ""


class _ReasonOnFirstRead:
    """``RuleResult.reason`` for results made from an ``Outcome``.

    A non-data descriptor: a result made by ``RuleResult(...)`` holds its reason in its own
    ``__dict__``, which wins over this. A result made by ``result_of`` holds the outcome
    instead; reading ``reason`` falls through to here, which writes the sentence once and
    stores it the same way.
    """

    def __get__(self, result: RuleResult | None, owner: type | None = None) -> str:
        if result is None:
            # Class access: no default value for the dataclass field.
            raise AttributeError("reason")
        state = result.__dict__
        _, _, render, prefix, value, suffix = state["_outcome"]
        # Two threads may both write it: the text is the same, the second store is harmless.
        text = printable(prefix + render(value) + suffix)
        state["reason"] = text
        return text


# Set after @dataclass has read the class: the field stays required in RuleResult(...).
RuleResult.reason = _ReasonOnFirstRead()  # type: ignore[assignment]

_new_object = object.__new__
_set_state = object.__setattr__


def result_of(names: RuleNames, outcome: Outcome) -> RuleResult:
    """The ``RuleResult`` of an outcome; its reason is written when first read. Equal, in
    every respect, to the result made with that reason by ``RuleResult(...)``."""
    result: RuleResult = _new_object(RuleResult)
    _set_state(
        result,
        "__dict__",
        {
            "key": names[0],
            "check": names[1],
            "field": names[2],
            "passed": outcome[0],
            "actual": outcome[1],
            "_outcome": outcome,
        },
    )
    return result


def rendered_result(
    key: str, check: str, field: str | None, passed: bool, actual: Any, reason: str
) -> RuleResult:
    """``RuleResult(key, check, field, passed, reason, actual)``, made in one step (the
    frozen dataclass __init__ sets each field with its own call)."""
    result: RuleResult = _new_object(RuleResult)
    _set_state(
        result,
        "__dict__",
        {
            "key": key,
            "check": check,
            "field": field,
            "passed": passed,
            "reason": reason,
            "actual": actual,
        },
    )
    return result


def json_safe(value: Any) -> Any:
    """``value`` with datetimes (at any depth) as ISO strings, NaN/inf as None, and other
    values JSON cannot hold as their ``str``: what metadata, XCom and ``--json`` can carry."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of a set of rules combined by a match mode.

    Attributes:
        passed: whether the gate is open.
        results: one result per rule, in rule order.
        mode: how the results were combined.
    """

    passed: bool
    results: list[RuleResult]
    mode: MatchMode = MatchMode.ALL

    @property
    def failed(self) -> list[RuleResult]:
        """The results of the rules that did not pass, in rule order."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """One line for logs and alerts.

        Example: ``2 of 3 rules pass; failing: row-count (count is 12, needs >= 1000)``.
        """
        total = len(self.results)
        if total == 0:
            if self.mode == MatchMode.ANY:
                return "no rules: ANY needs at least one (fails)"
            return "no rules to check (passes)"
        passing = total - len(self.failed)
        text = f"{passing} of {total} rules pass" if total != 1 else f"{passing} of 1 rule passes"
        if self.mode == MatchMode.ANY:
            text = f"ANY: {text}"
        if self.failed:
            text += "; failing: " + "; ".join(f"{r.key} ({r.reason})" for r in self.failed)
        return text


class _ResultsOnFirstRead:
    """``Evaluation.results`` for evaluations a compiled gate made: the rule results are
    made from the gate's outcomes (or the values its rules found, see ``GateSpec``) when
    first read (often only ``passed`` is), then kept. A non-data descriptor, as
    ``_ReasonOnFirstRead``."""

    def __get__(self, evaluation: "Evaluation | None", owner: type | None = None) -> Any:
        if evaluation is None:
            raise AttributeError("results")
        state = evaluation.__dict__
        (names, judges), now, kept = state["_outcomes"]
        if judges is None:
            results = [result_of(*pair) for pair in zip(names, kept, strict=True)]
        else:
            results = []
            for rule_names, judge, outcome in zip(names, judges, kept, strict=True):
                if judge is not None and type(outcome) is not tuple:
                    # A kept value is an immutable scalar: judged now, it gives the outcome
                    # the rule gave when it ran.
                    outcome = judged(judge, outcome, now)
                results.append(result_of(rule_names, outcome))
        # Two threads may both make the list; equal lists, the last one stays.
        state["results"] = results
        return results


def _evaluation_state(evaluation: Evaluation) -> dict[str, Any]:
    # Pickle and copy see the fields only, with the results made: what a compiled gate keeps
    # to make them (its rules' closures) is not for pickling.
    return {"passed": evaluation.passed, "results": evaluation.results, "mode": evaluation.mode}


Evaluation.results = _ResultsOnFirstRead()  # type: ignore[assignment]
Evaluation.__getstate__ = _evaluation_state  # type: ignore[method-assign,assignment]


def judged(judge: Judge, actual: Any, now: dt.datetime) -> Outcome:
    """``judge(actual, now)``, never raising: guarded as a rule's own closure is."""
    try:
        return judge(actual, now)
    except Unusable as exc:
        return (False, None, no_text, printable(str(exc)), None, "")
    except Exception as exc:
        return (False, None, no_text, f"could not evaluate rule ({type(exc).__name__})", None, "")


def evaluation_of(
    passed: bool, names: Sequence[RuleNames], outcomes: list[Outcome], mode: MatchMode
) -> Evaluation:
    """``Evaluation(passed, results, mode)`` whose results are made from ``names`` and
    ``outcomes`` (one per rule, in rule order) when first read."""
    evaluation: Evaluation = _new_object(Evaluation)
    _set_state(
        evaluation,
        "__dict__",
        {"passed": passed, "mode": mode, "_outcomes": ((names, None), None, outcomes)},
    )
    return evaluation
