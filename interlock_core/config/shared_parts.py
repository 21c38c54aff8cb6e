"""Identical parts of parsed configs shared between pipelines.

Thousands of pipelines repeat the same rules, evaluation settings, exclusions, job configs
and SLAs; parsed separately, each pipeline carries its own copies (~7 KB of pydantic objects
per pipeline). The models are frozen, so an equal part can be swapped for one shared
instance without anyone noticing — as long as "equal" also means the same type and the same
set of explicitly given fields (``model_fields_set`` decides e.g. ``Pipeline.trigger_tz`` and
``to_document``). Values compare by type too (``1``, ``1.0`` and ``True`` are equal in Python
but not in a config; ``0.0`` and ``-0.0`` differ by their bits), and a part holding anything
else (a datetime, an unknown object) is simply not shared.

Shared parts are kept weakly: a part no longer used by any config leaves the table, so
long-running controllers that see many config versions do not grow it.
"""

import contextlib
import datetime as dt
import threading
import weakref
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

from interlock_core.config.models import PipelineInfo

Model = TypeVar("Model", bound=BaseModel)

# Types whose equality means "interchangeable" once the type is part of the key. Not
# datetime (aware datetimes in different zones compare equal) and not float (-0.0 == 0.0).
_PLAIN = frozenset({str, int, bool, type(None), dt.timedelta, dt.date})


class _NotShareable(Exception):
    """A value whose equality does not mean interchangeable (kept as it is)."""


class PartSharer:
    """Swaps the parts of parsed models for equal parts seen before (see module doc)."""

    def __init__(self, unique: tuple[type[BaseModel], ...] = ()) -> None:
        self._unique = unique
        self._parts: weakref.WeakValueDictionary[Any, BaseModel] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._parts)

    def share_parts(self, model: Model) -> Model:
        """``model`` with each of its sub-models replaced by an equal shared one (``model``
        itself is kept: the top level is one per pipeline)."""
        # On an odd value, the parts before it are shared and the rest stay as parsed.
        with self._lock, contextlib.suppress(_NotShareable):
            self._share_fields(model)
        return model

    def _share_fields(self, model: BaseModel) -> tuple[Any, ...]:
        """Shares the sub-models in ``model``'s fields; returns the key of its fields."""
        fields = model.__dict__
        items = []
        for name, value in fields.items():
            shared, key = self._share_value(value)
            if shared is not value:
                fields[name] = shared  # frozen: only the instance dict takes the swap
            items.append((name, key))
        return tuple(items)

    def _share_value(self, value: Any) -> tuple[Any, Any]:
        """The value to keep (shared when possible) and the key it is known by."""
        if isinstance(value, BaseModel):
            return self._share_model(value)
        if isinstance(value, list):
            keys = []
            for index, item in enumerate(value):
                shared, key = self._share_value(item)
                if shared is not item:
                    value[index] = shared
                keys.append(key)
            return value, (list, tuple(keys))
        if isinstance(value, dict):
            keys = []
            for name, item in value.items():
                shared, key = self._share_value(item)
                if shared is not item:
                    value[name] = shared
                keys.append((_leaf_key(name), key))
            return value, (dict, tuple(keys))
        return value, _leaf_key(value)

    def _share_model(self, model: BaseModel) -> tuple[BaseModel, Any]:
        if isinstance(model, self._unique):
            # One per pipeline (its id): a table entry would only cost memory.
            return model, (object, id(model))
        try:
            fields = self._share_fields(model)
            if model.__pydantic_private__ or model.__pydantic_extra__:
                raise _NotShareable
        except _NotShareable:
            # Not shareable itself; a unique key keeps its parent unshared too.
            return model, (object, id(model))
        key = (type(model), frozenset(model.model_fields_set), fields)
        shared = self._parts.get(key)
        if shared is None:
            self._parts[key] = model
            return model, (type(model), id(model))
        return shared, (type(model), id(shared))


def _leaf_key(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN or isinstance(value, Enum):
        return (kind, value)
    if kind is float:
        return (float, value.hex())
    raise _NotShareable


_SHARER = PartSharer(unique=(PipelineInfo,))
share_parts = _SHARER.share_parts
"""Shares the sub-models of a parsed config with equal ones parsed before (process-wide)."""
