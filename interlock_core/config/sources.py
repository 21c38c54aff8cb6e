"""Source hashes of pipeline files: what decides how a file loads, so that a re-apply can tell
a file that is byte for byte the one that produced a stored config (DESIGN.md §2; used by
``load_pipelines(..., unchanged=...)`` and :mod:`interlock_core.applying`)."""

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UnchangedLookup = Callable[[str, str], str | None]
"""``(real path of a file, its source hash) -> pipeline id`` when that file produced the
pipeline's current config, else None (see ``load_pipelines``)."""


@dataclass(frozen=True)
class Skip:
    """How a directory load skips unchanged files: the lookup and the load context."""

    lookup: UnchangedLookup
    context: str


def source_hash(text: str, name: str, context: str) -> str:
    """What decides how a pipeline file loads, hashed: its text, its name (the default id)
    and the load context (:func:`load_context`)."""
    digest = hashlib.sha256(context.encode())
    digest.update(b"\0" + name.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    """The config package's source: any change to how files load changes every hash."""
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


def load_context(calendars: Mapping[str, Any], broken: Mapping[str, str], extra: str) -> str:
    """The load context of a directory, hashed: the loader's code, every calendar (as
    loaded), which calendar files are broken, and ``extra`` (the settings file's text)."""
    body = json.dumps(
        {"code": _code_digest(), "calendars": dict(calendars), "broken": dict(broken)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256((body + "\0" + extra).encode("utf-8", "surrogatepass")).hexdigest()
