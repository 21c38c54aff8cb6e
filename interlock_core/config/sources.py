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


# Code outside the config package that decides how a file loads: ``interlock_core.sensors``
# (rule values are read with its ``parse_number``) and the libraries that parse and validate
# (a croniter or pydantic upgrade may refuse a file the installed one accepted).
_OUTSIDE_MODULES = ("sensors.py",)
_LIBRARIES = ("pydantic", "pydantic-core", "croniter", "PyYAML")


@functools.cache
def _code_digest() -> str:
    """The loading code's source and library versions: any change to how files load changes
    every hash, so an upgrade validates every file again."""
    package = Path(__file__).parent
    root = package.parent
    # Subpackages too (the job-config models live in ``config/job_configs``).
    modules = [*sorted(package.rglob("*.py")), *(root / name for name in _OUTSIDE_MODULES)]
    digest = hashlib.sha256()
    for module in modules:
        name = module.relative_to(root).as_posix()
        digest.update(name.encode() + b"\0" + module.read_bytes())
    for library in _LIBRARIES:
        digest.update(f"\0{library}=={_version(library)}".encode())
    return digest.hexdigest()


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def load_context(calendars: Mapping[str, Any], broken: Mapping[str, str], extra: str) -> str:
    """The load context of a directory, hashed: the loader's code, every calendar (as
    loaded), which calendar files are broken, and ``extra`` (the settings file's text)."""
    body = json.dumps(
        {"code": _code_digest(), "calendars": dict(calendars), "broken": dict(broken)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256((body + "\0" + extra).encode("utf-8", "surrogatepass")).hexdigest()
