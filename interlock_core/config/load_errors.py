"""Translation of pydantic's ValidationErrors into ConfigIssues that name the key as written,
with a "did you mean" hint."""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from interlock_core.config.doc_context import Context, format_path, short
from interlock_core.config.errors import ConfigIssue
from interlock_core.config.normalize import field_aliases, model_at
from interlock_core.config.yaml_lines import FieldPath

__all__ = ["describe", "did_you_mean", "sorted_issues", "translate"]

_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "",
}

# Model-level messages that are about one key of the model: the key to point at.
_MESSAGE_KEYS: list[tuple[re.Pattern[str], FieldPath]] = [
    (re.compile(r"needs a (numeric|list|duration) value|^invalid duration"), ("value",)),
    (re.compile(r"^match mode"), ("trigger",)),
    (re.compile(r"^cron and include"), ("include",)),
]
_HEADER = re.compile(r"^header '([^']+)'")
_NAME_PATTERN = r"^[A-Za-z0-9._:#-]{1,200}$"
_ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


_ABSENT = object()


@dataclass
class _Problem:
    path: FieldPath
    union: FieldPath | None  # the path of the union field whose member failed, if any
    error: ErrorDetails


def translate(
    exc: ValidationError, data: dict[str, Any], root: type[BaseModel], context: Context
) -> list[ConfigIssue]:
    problems = [_problem(error, data) for error in exc.errors()]
    issues: list[ConfigIssue] = []
    unions: dict[FieldPath, list[_Problem]] = {}
    for problem in problems:
        if problem.union is None:
            issues.append(_issue(problem, data, root, context))
        else:
            unions.setdefault(problem.union, []).append(problem)
    for union_path, group in unions.items():
        # A member that got past the type check (e.g. a list with a bad item) is what the
        # user meant: report its errors, not the other members' type mismatches.
        deeper = [p for p in group if len(p.path) > len(union_path)]
        others = [p for p in group if p.error["type"] not in _EXPECTED]
        chosen = deeper or others
        if chosen:
            issues.extend(_issue(problem, data, root, context) for problem in chosen)
            continue
        nouns = [_EXPECTED[p.error["type"]] for p in group if _EXPECTED[p.error["type"]]]
        nouns = list(dict.fromkeys(nouns))
        expected = ", ".join(nouns[:-1]) + f" or {nouns[-1]}" if len(nouns) > 1 else nouns[0]
        message = f"expected {expected}, got {describe(group[0].error['input'])}"
        issues.append(context.issue(union_path, message))
    unique: dict[tuple[int | None, str | None, str], ConfigIssue] = {}
    for issue in issues:
        unique.setdefault((issue.line, issue.path, issue.message), issue)
    return list(unique.values())


def _problem(error: ErrorDetails, data: dict[str, Any]) -> _Problem:
    """Map pydantic's location onto the document: union-member tags (``str``,
    ``list[str]``, ``function-after[...]``) are not keys and are dropped."""
    loc = error["loc"]
    path: list[str | int] = []
    union: FieldPath | None = None
    current: Any = data
    for element in loc:
        if _has(current, element):
            path.append(element)
            current = current[element]
        elif error["type"] == "missing" and (isinstance(current, dict) or current is _ABSENT):
            # The missing key, or an absent section on the way to it (a typed job with no
            # config at all misses job.config.jobName).
            path.append(element)
            current = _ABSENT
        elif union is None:
            union = tuple(path)
    return _Problem(tuple(path), union, error)


def _issue(
    problem: _Problem, data: dict[str, Any], root: type[BaseModel], context: Context
) -> ConfigIssue:
    error = problem.error
    kind = error["type"]
    path = problem.path
    value = error["input"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = context.written(path)[-1]
        model = model_at(root, data, path[:-1])
        known = [info.alias or name for name, info in model.model_fields.items()] if model else []
        hint = did_you_mean(str(key), known)
        if hint is None and known:
            hint = "known keys: " + ", ".join(known)
        # Only the key, and only its start: a file that is not a config (a link to a secret
        # file, a pasted token) must not end up in an event.
        return context.issue(path, f"unknown key {short(str(key))!r}", hint)
    if kind == "missing":
        return context.issue(path[:-1], f"missing required key {path[-1]!r}")
    if kind == "enum":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(value, choices) if isinstance(value, str) else None
        if hint is None:
            hint = "use one of: " + ", ".join(choices)
        if path[-1:] == ("check",):
            return context.issue(path, f"unknown check {describe(value)}", hint)
        if path[-2:] == ("job", "type"):
            return context.issue(path, f"unknown job type {describe(value)}", hint)
        return context.issue(path, f"invalid value {describe(value)}", hint)
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        message = str(cause) if cause is not None else str(error["msg"])
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if _is_scalar(value) and "got" not in message and repr(value) not in message:
            message += f", got {describe(value)}"
        target = _point_at(path, message, data)
        # "sla.maxDuration needs ..." reads "sla.maxDuration: needs ..." after the path.
        for prefix in (format_path(target), format_path(target[-1:])):
            if prefix and re.match(re.escape(prefix) + r" (needs|must) ", message):
                message = message[len(prefix) + 1 :]
                break
        return context.issue(target, message)
    if _EXPECTED.get(kind):
        return context.issue(path, f"expected {_EXPECTED[kind]}, got {describe(value)}")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return context.issue(path, _range_message(kind, ctx, value, root, data, path))
    if kind == "finite_number":
        return context.issue(path, f"expected a finite number, got {describe(value)}")
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == _NAME_PATTERN:
            message = (
                f"invalid name {describe(value)}: use 1 to 200 letters, digits, '.', '_', "
                "':', '#' or '-'"
            )
        elif pattern == _ENV_PATTERN:
            message = f"invalid environment variable name {describe(value)}"
        else:
            message = f"{describe(value)} does not match the pattern {pattern}"
        return context.issue(path, message)
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        message = "must not be empty" if minimum == 1 else f"needs at least {minimum} items"
        return context.issue(path, message)
    if kind == "too_long":
        return context.issue(path, f"has too many items (at most {ctx.get('max_length')})")
    return context.issue(path, str(error["msg"]))


def _point_at(path: FieldPath, message: str, data: dict[str, Any]) -> FieldPath:
    """For an error raised by a whole model, the key of that model the message is about."""
    target: Any = _at(data, path)
    if not isinstance(target, dict):
        return path
    header = _HEADER.match(message)
    if header and header.group(1) in target:
        return (*path, header.group(1))
    for pattern, keys in _MESSAGE_KEYS:
        if pattern.search(message) and _at(target, keys) is not None:
            return (*path, *keys)
    # "dryRun needs ...", "usernameEnv and passwordEnv ...": the message starts with the key.
    first = re.match(r"([A-Za-z][\w.]*) (needs|must|and) ", message)
    if first:
        keys = tuple(first.group(1).split("."))
        if _at(target, keys) is not None:
            return (*path, *keys)
    return path


def _at(data: Any, path: FieldPath) -> Any:
    current = data
    for element in path:
        if not _has(current, element):
            return None
        current = current[element]
    return current


def _has(container: Any, element: Any) -> bool:
    """Whether ``container[element]`` is a key of a mapping or an index of a list."""
    if isinstance(container, dict):
        return isinstance(element, str) and element in container
    if isinstance(container, list):
        return isinstance(element, int) and 0 <= element < len(container)
    return False


def _range_message(
    kind: str,
    ctx: dict[str, Any],
    value: Any,
    root: type[BaseModel],
    data: dict[str, Any],
    path: FieldPath,
) -> str:
    low = high = None
    model = model_at(root, data, path[:-1]) if path else None
    name = field_aliases(model).get(str(path[-1])) if model is not None and path else None
    if model is not None and name is not None:
        for constraint in model.model_fields[name].metadata:
            low = getattr(constraint, "ge", low)
            high = getattr(constraint, "le", high)
    got = describe(value)
    if low is not None and high is not None:
        return f"must be between {low} and {high}, got {got}"
    words = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("greater than", "gt"),
        "less_than": ("less than", "lt"),
    }
    phrase, bound = words[kind]
    return f"must be {phrase} {ctx.get(bound)}, got {got}"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def did_you_mean(word: Any, candidates: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    options = list(dict.fromkeys(candidates))
    lowered = {option.lower(): option for option in options}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean {lowered[close[0]]!r}?" if close else None


def sorted_issues(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: issue.line if issue.line is not None else 0)
