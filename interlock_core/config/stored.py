"""Configs as the Store keeps them: the normalised pipeline document plus the calendars it
uses, hashed together, so a run attempt can reload exactly the config it started with."""

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from interlock_core.config.calendars import Calendar
from interlock_core.config.models import Pipeline


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
    pipeline = Pipeline.model_validate(document["config"])
    calendars = {
        name: Calendar.model_validate(body) for name, body in document.get("calendars", {}).items()
    }
    return ActiveConfig(pipeline, calendars, config_hash)


class ConfigCache:
    """Parsed configs by (pipeline id, hash); stored versions never change, so no expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[tuple[str, str], ActiveConfig] = {}

    def get(self, pipeline_id: str, config_hash: str, document: dict[str, Any]) -> ActiveConfig:
        """The parsed config for this stored version, parsing it once."""
        key = (pipeline_id, config_hash)
        with self._lock:
            cached = self._parsed.get(key)
        if cached is not None:
            return cached
        parsed = parse_envelope(document, config_hash)
        with self._lock:
            self._parsed[key] = parsed
        return parsed
