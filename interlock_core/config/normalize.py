"""Key normalization of a document before validation: keys renamed to their case as the
models write them (with a warning) and optional keys left empty dropped (Go's "not set")."""

import functools
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from interlock_core.config.doc_context import Context
from interlock_core.config.jobs import JOB_CONFIG_MODELS, JobType
from interlock_core.config.models import Job
from interlock_core.config.yaml_lines import FieldPath

__all__ = ["child_model", "field_aliases", "model_at", "normalize"]


def normalize(value: Any, model: type[BaseModel], path: FieldPath, context: Context) -> Any:
    """Rename keys that match a known key case-insensitively (Go matched keys that way),
    with a warning, and drop optional keys left empty; anything else is left for validation
    to report."""
    if not isinstance(value, dict):
        return value
    plan = _key_plan(model)
    if value.keys() <= plan.keys():
        # Every key written as the model names it (nearly every file): nothing to rename, so
        # one pass drops the unset keys and normalizes the children, as below.
        normalized: dict[str, Any] = {}
        for key, item in value.items():
            field_name, child, is_list, by_sibling = plan[key]
            if (item is None or item == "") and _unset(model, field_name, item):
                continue
            if by_sibling:
                child, is_list = child_model(model, key, value)
            if child is None:
                normalized[key] = item
            elif not is_list:
                normalized[key] = normalize(item, child, (*path, key), context)
            elif isinstance(item, list):
                normalized[key] = [
                    normalize(element, child, (*path, key, position), context)
                    for position, element in enumerate(item)
                ]
            else:
                normalized[key] = item
        return normalized
    aliases = field_aliases(model)
    by_lower = _lower_aliases(model)
    renamed: dict[str, Any] = {}
    for key, item in value.items():
        target = key
        if isinstance(key, str) and key not in aliases:
            canonical = by_lower.get(key.lower())
            if canonical is not None and canonical not in value and canonical not in renamed:
                target = canonical
                context.renames[(path, canonical)] = key
                context.warn(
                    (*path, canonical),
                    f"key {key!r} should be written {canonical!r} (keys are case-sensitive; "
                    "Go ignored case)",
                )
        renamed[target] = item
    for key in list(renamed):
        name = aliases.get(key)
        if name is not None and _unset(model, name, renamed[key]):
            del renamed[key]
    for key, item in renamed.items():
        child, is_list = child_model(model, key, renamed)
        if child is None:
            continue
        if is_list and isinstance(item, list):
            renamed[key] = [
                normalize(element, child, (*path, key, position), context)
                for position, element in enumerate(item)
            ]
        elif not is_list:
            renamed[key] = normalize(item, child, (*path, key), context)
    return renamed


def _unset(model: type[BaseModel], name: str, value: Any) -> bool:
    """Whether an optional key holds Go's "not set": null, or an empty string (Go decoded
    both as the zero value and then used the default)."""
    if value is not None and value != "":
        return False
    always_set, keeps_empty = _field_kind(model, name)
    if always_set:
        return False  # a missing id stays an error; a rule's ``value: ""`` is a real value
    if value == "" and keeps_empty:
        return False  # a field that declares a minimum length reports "" (``driftField: ""``)
    return value is None or (isinstance(value, str) and value == "")


@functools.cache
def _field_kind(model: type[BaseModel], name: str) -> tuple[bool, bool]:
    """(required or typed Any, declares a minimum length) of a field; cached per field."""
    info = model.model_fields[name]
    always_set = info.is_required() or info.annotation is Any
    keeps_empty = any(getattr(meta, "min_length", 0) for meta in info.metadata)
    return always_set, keeps_empty


@functools.cache
def _key_plan(
    model: type[BaseModel],
) -> dict[str, tuple[str, type[BaseModel] | None, bool, bool]]:
    """Known keys of a model -> (field name, child model, is a list of them, the child model
    follows a sibling's value: a job's ``config`` its ``type``); cached, not to be modified."""
    plan: dict[str, tuple[str, type[BaseModel] | None, bool, bool]] = {}
    for alias, name in field_aliases(model).items():
        if model is Job and name == "config":
            plan[alias] = (name, None, False, True)
        else:
            plan[alias] = (name, *_field_model(model, name), False)
    return plan


@functools.cache
def _lower_aliases(model: type[BaseModel]) -> dict[str, str]:
    """Known keys of a model by their lower case (cached; callers must not modify it)."""
    return {alias.lower(): alias for alias in field_aliases(model)}


@functools.cache
def field_aliases(model: type[BaseModel]) -> dict[str, str]:
    """Known keys of a model: alias -> field name, plus each field name (cached: a model's
    fields never change; callers must not modify the result)."""
    known: dict[str, str] = {}
    for name, info in model.model_fields.items():
        known[info.alias or name] = name
    for name in model.model_fields:
        known.setdefault(name, name)
    return known


def child_model(
    model: type[BaseModel], key: str, data: Mapping[str, Any]
) -> tuple[type[BaseModel] | None, bool]:
    """The model of ``data[key]`` (and whether it is a list of them), when there is one."""
    name = field_aliases(model).get(key)
    if name is None:
        return None, False
    if model is Job and name == "config":
        try:
            return JOB_CONFIG_MODELS[JobType(str(data.get("type")))], False
        except ValueError:
            return None, False
    return _field_model(model, name)


@functools.cache
def _field_model(model: type[BaseModel], name: str) -> tuple[type[BaseModel] | None, bool]:
    """The model of a field (and whether it is a list of them); cached per model and field."""
    return _unwrap(model.model_fields[name].annotation)


def _unwrap(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for argument in get_args(annotation):
            found = _unwrap(argument)
            if found[0] is not None:
                return found
        return None, False
    if origin is list:
        inner, _ = _unwrap(get_args(annotation)[0])
        return (inner, True) if inner is not None else (None, False)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def model_at(root: type[BaseModel], data: Any, path: FieldPath) -> type[BaseModel] | None:
    """The model of the mapping at ``path`` in ``data``."""
    model: type[BaseModel] | None = root
    current = data
    position = 0
    while position < len(path) and model is not None:
        key = path[position]
        if not isinstance(key, str) or not isinstance(current, dict):
            return None
        child, is_list = child_model(model, key, current)
        current = current.get(key)
        position += 1
        if is_list:
            if position >= len(path) or not isinstance(path[position], int):
                return None
            if not isinstance(current, list) or not 0 <= int(path[position]) < len(current):
                return None
            current = current[int(path[position])]
            position += 1
        model = child
    return model
