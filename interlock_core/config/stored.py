"""Configs as the Store keeps them: the normalised pipeline document plus the calendars it
uses, hashed together, so a run attempt can reload exactly the config it started with."""

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from interlock_core.config.calendars import Calendar
from interlock_core.config.models import Pipeline
from interlock_core.config.shared_parts import share_parts
from interlock_core.config.stored_decode import parse_stored


@dataclass(frozen=True)
class ActiveConfig:
    """A parsed stored config: the pipeline, the calendars it references, and its hash."""

    pipeline: Pipeline
    calendars: dict[str, Calendar]
    hash: str


def referenced_calendars(pipeline: Pipeline) -> list[str]:
    """Names of the calendars a pipeline excludes by."""
    names = list(pipeline.schedule.exclude.calendars)
    if pipeline.schedule.calendar:
        names.append(pipeline.schedule.calendar)
    return sorted(set(names))


def envelope(pipeline: Pipeline, calendars: dict[str, Calendar]) -> dict[str, Any]:
    """The document stored for ``pipeline``: its normalised config and used calendars."""
    used = {
        name: calendars[name].model_dump(mode="json", by_alias=True)
        for name in referenced_calendars(pipeline)
        if name in calendars
    }
    return {"config": pipeline.to_document(), "calendars": used}


def envelope_hash(document: dict[str, Any]) -> str:
    """A stable sha256 of a stored document (canonical JSON)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_envelope(document: dict[str, Any], config_hash: str) -> ActiveConfig:
    """Rebuild the pipeline and calendars from a stored document."""
    # Equal parts (rules, job, settings) are shared with configs parsed before: a controller
    # holds every current config, and thousands of pipelines repeat the same parts.
    # Validated when applied: a short command rebuilds it without validating again where
    # that is equivalent (see stored_decode); a controller reading many validates in full.
    pipeline = share_parts(parse_stored(Pipeline, document["config"]))
    calendars = {
        name: parse_stored(Calendar, body) for name, body in document.get("calendars", {}).items()
    }
    return ActiveConfig(pipeline, calendars, config_hash)


class ConfigCache:
    """Parsed configs by (pipeline id, hash), least recently used evicted first.

    A stored version never changes, so an entry never goes stale: the bound only keeps memory
    flat. The engine raises it with the number of pipelines it lists (see :meth:`reserve`), so
    a controller's working set — every current config plus the few older versions in-flight
    runs pinned — always fits and there is no cliff where every lookup misses.
    """

    MINIMUM = 256

    def __init__(self, capacity: int = MINIMUM) -> None:
        self._lock = threading.Lock()
        self._parsed: OrderedDict[tuple[str, str], ActiveConfig] = OrderedDict()
        self.capacity = max(capacity, self.MINIMUM)

    def reserve(self, pipelines: int) -> None:
        """Room for ``pipelines`` current configs plus as many older versions (never shrinks
        below what was reserved before)."""
        self.capacity = max(self.capacity, 2 * pipelines + self.MINIMUM)

    def peek(self, pipeline_id: str, config_hash: str) -> ActiveConfig | None:
        """The parsed config when this version was parsed before (no store read needed)."""
        key = (pipeline_id, config_hash)
        with self._lock:
            cached = self._parsed.get(key)
            if cached is not None:
                self._parsed.move_to_end(key)
            return cached

    def get(self, pipeline_id: str, config_hash: str, document: dict[str, Any]) -> ActiveConfig:
        """The parsed config for this stored version, parsing it once."""
        cached = self.peek(pipeline_id, config_hash)
        if cached is not None:
            return cached
        parsed = parse_envelope(document, config_hash)
        with self._lock:
            self._parsed[(pipeline_id, config_hash)] = parsed
            while len(self._parsed) > self.capacity:
                self._parsed.popitem(last=False)
        return parsed

    def __len__(self) -> int:
        return len(self._parsed)
