"""Load pipeline and calendar files into models (DESIGN.md §2).

Every problem with a file's content is a :class:`ConfigError` naming the file, the line and the
field path as written (``validation.rules[1].value``), with a "did you mean" hint for unknown
keys, checks and job types. A directory load reports every bad file and still returns the good
ones.
"""

import contextlib
import difflib
import functools
import gc
import hashlib
import json
import logging
import math
import os
import re
import stat
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from interlock_core.config.calendars import Calendar
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.jobs import JOB_CONFIG_MODELS, JobType
from interlock_core.config.models import Job, Pipeline
from interlock_core.config.sources import Skip, UnchangedLookup, load_context, source_hash
from interlock_core.config.yaml_lines import FieldPath, YamlDocument, load_yaml

__all__ = [
    "CALENDARS_DIR",
    "MAX_FILE_BYTES",
    "LoadedPipeline",
    "PipelineSet",
    "config_hash",
    "find_calendar_dirs",
    "format_path",
    "load_calendar",
    "load_calendars",
    "load_pipeline",
    "load_pipeline_document",
    "load_pipeline_files",
    "load_pipeline_text",
    "load_pipelines",
    "parse_pipeline_text",
    "read_config_text",
    "shared_parent_allowed",
    "source_hash",
]

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
"""Largest config file accepted; real pipeline files are a few kilobytes."""

CALENDARS_DIR = "calendars"
"""The folder of named calendars, inside or beside the pipelines directory."""

_SUFFIXES = (".yaml", ".yml")
# The runtime's own settings (alert routing) may sit among the pipeline files.
SETTINGS_FILES = frozenset({"interlock.yaml", "interlock.yml"})


@dataclass(frozen=True)
class LoadedPipeline:
    """One pipeline file, loaded.

    Attributes:
        pipeline: the validated config.
        document: the document as loaded, with keys in their canonical case; what the engine
            stores and hashes (:func:`config_hash`), and what :func:`load_pipeline_document`
            turns back into the same pipeline.
        warnings: ``file:line: message`` lines for things that load but should be fixed.
        source: the file name (or ``<string>``).
        id_line: the line of ``pipeline.id``, if known.
    """

    pipeline: Pipeline
    document: dict[str, Any]
    warnings: list[str]
    source: str
    id_line: int | None = None


@dataclass
class PipelineSet:
    """The result of loading a directory: the good pipelines and every problem.

    Attributes:
        pipelines: the valid pipelines by pipeline id.
        errors: one ConfigError per bad file (pipeline or calendar).
        warnings: ``file:line: message`` lines for things that load but should be fixed.
        calendars: the named calendars found beside or inside the directory.
        sources: the file of each valid pipeline, by pipeline id.
        documents: the loaded document of each valid pipeline, by pipeline id (for hashing
            and storage; keys in canonical case).
        unchanged: pipelines not loaded because their file is the one that produced their
            current stored config (``load_pipelines(..., unchanged=...)``), with their file.
        source_hashes: the :func:`source_hash` of each loaded pipeline's file that loaded
            without warnings (filled when ``unchanged`` is given), by pipeline id.
        stored_configs: the stored config (``StoredConfig``) each unchanged pipeline's file
            produced, as read while loading (filled by ``applying.load_changed``), so that
            the apply need not read and decode those documents again.
    """

    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: dict[str, Path] = field(default_factory=dict)
    source_hashes: dict[str, str] = field(default_factory=dict)
    stored_configs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no file had an error."""
        return not self.errors


# --------------------------------------------------------------------------------------------
# Public functions


def load_pipeline(
    path: str | os.PathLike[str], *, calendars: Mapping[str, Calendar] | None = None
) -> Pipeline:
    """Load one pipeline file.

    Args:
        path: the YAML file.
        calendars: the named calendars its exclusions may refer to. None looks for a
            ``calendars/`` folder inside or beside the file's directory.

    Returns:
        The pipeline. Warnings are logged.

    Raises:
        ConfigError: the file is missing, unreadable or invalid; every problem is listed.
    """
    result = load_pipeline_files([path], calendars=calendars)
    for warning in result.warnings:
        logger.warning("%s", warning)
    if result.pipelines:
        # An invalid calendar file that this pipeline does not use does not make it invalid.
        for error in result.errors:
            logger.warning("%s", error)
        return next(iter(result.pipelines.values()))
    own = [error for error in result.errors if error.file == str(Path(path))] or result.errors
    raise ConfigError([issue for error in own for issue in error.issues])


def load_pipeline_text(
    text: str, source: str = "<string>", *, calendars: Mapping[str, Calendar] | None = None
) -> Pipeline:
    """Load a pipeline from YAML text.

    Args:
        text: the YAML document.
        source: the name used in messages.
        calendars: known calendar names; None skips the check of calendar references.

    Returns:
        The pipeline. Warnings are logged.

    Raises:
        ConfigError: the text is not a valid pipeline; every problem is listed.
    """
    loaded = parse_pipeline_text(text, source, calendars=calendars)
    for warning in loaded.warnings:
        logger.warning("%s", warning)
    return loaded.pipeline


def parse_pipeline_text(
    text: str,
    source: str = "<string>",
    *,
    stem: str | None = None,
    calendars: Mapping[str, Calendar] | None = None,
) -> LoadedPipeline:
    """Load a pipeline from YAML text, keeping its document and warnings.

    Args:
        text: the YAML document.
        source: the name used in messages.
        stem: the file name without extension: the pipeline id when ``pipeline.id`` is absent
            (Go keyed pipelines by file name), and compared with the id otherwise.
        calendars: known calendar names; None skips the check of calendar references.

    Returns:
        The pipeline, its document and warnings.

    Raises:
        ConfigError: the text is not a valid pipeline; every problem is listed.
    """
    warnings: list[str] = []
    return _parse(text, source, stem, _CalendarIndex.of(calendars), warnings)


def load_pipeline_document(
    document: Mapping[str, Any],
    source: str = "<document>",
    *,
    calendars: Mapping[str, Calendar] | None = None,
) -> Pipeline:
    """Validate an already parsed document, e.g. one read back from the Store.

    Args:
        document: a pipeline document (as in :attr:`PipelineSet.documents`).
        source: the name used in messages.
        calendars: known calendar names; None skips the check of calendar references.

    Returns:
        The pipeline.

    Raises:
        ConfigError: the document is not a valid pipeline (no line numbers).
    """
    if not isinstance(document, Mapping):
        raise ConfigError(
            ConfigIssue(f"a pipeline must be a mapping, got {_describe(document)}", file=source)
        )
    data = dict(document)
    warnings: list[str] = []
    loaded = _validate(
        data, YamlDocument(data, {}), source, None, _CalendarIndex.of(calendars), warnings
    )
    return loaded.pipeline


def load_pipelines(
    directory: str | os.PathLike[str],
    *,
    unchanged: UnchangedLookup | None = None,
    context: str = "",
) -> PipelineSet:
    """Load every pipeline file of a directory, and the calendars beside or inside it.

    Pipeline files are the ``*.yaml``/``*.yml`` files directly in ``directory`` (hidden files
    and the runtime's ``interlock.yaml`` are skipped). Calendars are the files of
    ``<directory>/calendars`` and ``<directory>/../calendars``.

    Args:
        directory: the pipelines directory.
        unchanged: asked ``(real path, source hash)`` for each file; a pipeline id means
            "this exact file produced that pipeline's current config", and the file is not
            parsed (it lands in :attr:`PipelineSet.unchanged`). None parses every file.
        context: whatever else decides how files load (the settings file's text), folded
            into every :func:`source_hash`.

    Returns:
        The valid pipelines and one error per bad file; one bad file never hides the others.

    Raises:
        ConfigError: the directory itself does not exist or cannot be read.
    """
    folder = Path(directory)
    if not folder.is_dir():
        message = "is not a directory" if folder.exists() else "directory not found"
        raise ConfigError(ConfigIssue(message, file=str(folder)))
    try:
        # scandir knows which entries are folders without a stat per file.
        with os.scandir(folder) as scan:
            names = sorted(
                entry.name
                for entry in scan
                if os.path.splitext(entry.name)[1].lower() in _SUFFIXES
                and not entry.name.startswith(".")
                and entry.name.lower() not in SETTINGS_FILES
                and not entry.is_dir()
            )
    except OSError as exc:
        raise ConfigError(
            ConfigIssue(f"cannot read the directory: {_os_reason(exc)}", file=str(folder))
        ) from None
    files = [folder / name for name in names]
    result = PipelineSet()
    index = _load_calendar_dirs(find_calendar_dirs(folder), result)
    skip = None
    if unchanged is not None:
        calendars = {
            name: calendar.model_dump(mode="json") for name, calendar in result.calendars.items()
        }
        skip = Skip(unchanged, load_context(calendars, dict(index.broken), context))
    _load_files(files, index, result, root=folder, skip=skip)
    if not files:
        result.warnings.append(f"{folder}: no pipeline files (*.yaml, *.yml) found")
    return result


def load_pipeline_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    calendars: Mapping[str, Calendar] | None = None,
) -> PipelineSet:
    """Load the given pipeline files as one set (pipeline ids must be unique among them).

    Args:
        paths: pipeline files.
        calendars: the named calendars the files may refer to. None looks for ``calendars/``
            folders inside or beside the files' directories.

    Returns:
        The valid pipelines and one error per bad file.
    """
    files = [Path(path) for path in paths]
    result = PipelineSet()
    if calendars is None:
        dirs: list[Path] = []
        for file in files:
            for candidate in find_calendar_dirs(file.parent):
                if candidate not in dirs:
                    dirs.append(candidate)
        index = _load_calendar_dirs(dirs, result)
    else:
        result.calendars = dict(calendars)
        index = _CalendarIndex.of(calendars)
    _load_files(files, index, result)
    return result


def shared_parent_allowed(directory: str | os.PathLike[str]) -> bool:
    """Whether files beside a pipelines directory (``../calendars``, ``../interlock.yaml``)
    may be read: not when its parent is writable by everyone (``/tmp``), where anyone could
    have put them."""
    try:
        mode = Path(directory).absolute().parent.stat().st_mode
    except OSError:
        return False
    return not mode & stat.S_IWOTH


def find_calendar_dirs(directory: str | os.PathLike[str]) -> list[Path]:
    """The calendar folders of a pipelines directory: ``<dir>/calendars`` and
    ``<dir>/../calendars`` (unless that parent is world-writable), those that exist."""
    folder = Path(directory)
    found: list[Path] = []
    seen: set[Path] = set()
    candidates = [folder / CALENDARS_DIR]
    if shared_parent_allowed(folder):
        candidates.append(folder.parent / CALENDARS_DIR)
    for candidate in candidates:
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):
            continue
        if candidate.is_dir() and real not in seen:
            seen.add(real)
            found.append(candidate)
    return found


def load_calendar(path: str | os.PathLike[str]) -> Calendar:
    """Load one calendar file (``{name, description, days, dates}``).

    Args:
        path: the YAML file; its stem is the name when ``name`` is absent.

    Returns:
        The calendar. Warnings are logged.

    Raises:
        ConfigError: the file is missing, unreadable or invalid.
    """
    warnings: list[str] = []
    calendar = _load_calendar_file(Path(path), warnings)
    for warning in warnings:
        logger.warning("%s", warning)
    return calendar


def load_calendars(directory: str | os.PathLike[str]) -> dict[str, Calendar]:
    """Load every calendar file of a directory.

    Args:
        directory: a ``calendars/`` folder.

    Returns:
        The calendars by name.

    Raises:
        ConfigError: the directory is unreadable, or some file is invalid (every problem of
            every file is listed).
    """
    folder = Path(directory)
    if not folder.is_dir():
        message = "is not a directory" if folder.exists() else "directory not found"
        raise ConfigError(ConfigIssue(message, file=str(folder)))
    result = PipelineSet()
    _load_calendar_dirs([folder], result)
    if result.errors:
        raise ConfigError([issue for error in result.errors for issue in error.issues])
    for warning in result.warnings:
        logger.warning("%s", warning)
    return result.calendars


def config_hash(document: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a document's canonical JSON: keys sorted, no spaces, UTF-8.

    Args:
        document: a pipeline document (as in :attr:`PipelineSet.documents`).

    Returns:
        64 hex digits; equal documents give equal hashes whatever their key order.
    """
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_path(path: FieldPath) -> str:
    """Write a field path the way it reads in YAML: ``validation.rules[1].value``."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
            continue
        # A key is the only part of a file an error repeats, and only its start.
        element = _short(element)
        if re.fullmatch(r"[A-Za-z0-9_$-]+", element):
            text += f".{element}" if text else element
        else:
            text += f"[{element!r}]"
    return text


# --------------------------------------------------------------------------------------------
# Files


def read_config_text(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> str:
    """The text of a config file, read defensively.

    A symbolic link that resolves outside ``root`` is refused (links inside it, as Kubernetes
    ConfigMap mounts use, are fine): a pipelines directory must not be a way to read
    ``/etc/shadow`` or a ``.env`` into an event. The file is opened non-blocking and checked
    with ``fstat`` to be a regular file, so a FIFO cannot hang a controller. At most
    :data:`MAX_FILE_BYTES` are read.

    Args:
        path: the file.
        root: the folder the file must really live in (None: anywhere, e.g. a file the
            operator named explicitly).

    Raises:
        ConfigError: naming the file and the problem (never its content).
    """
    path = Path(path)
    source = str(path)
    # Any link on the way counts, not only the file's own: a ``calendars`` folder linked to
    # /etc holds plain files that are outside the pipelines directory all the same.
    if root is not None and path.resolve() != path.absolute():
        try:
            inside = path.resolve().is_relative_to(Path(root).resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            message = "is a symbolic link to a file outside its directory; refused"
            raise ConfigError(ConfigIssue(message, file=source))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(ConfigIssue("file not found", file=source)) from None
    except IsADirectoryError:
        raise ConfigError(ConfigIssue("is a directory, not a file", file=source)) from None
    except OSError as exc:
        raise ConfigError(
            ConfigIssue(f"cannot read the file: {_os_reason(exc)}", file=source)
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(ConfigIssue("is a directory, not a file", file=source))
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(ConfigIssue("is not a regular file", file=source))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        raw = b"".join(chunks)
    except OSError as exc:
        raise ConfigError(
            ConfigIssue(f"cannot read the file: {_os_reason(exc)}", file=source)
        ) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        message = f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; is it a config file?"
        raise ConfigError(ConfigIssue(message, file=source))
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"the file is not UTF-8 text (undecodable byte at offset {exc.start})"
        raise ConfigError(ConfigIssue(message, file=source, line=line)) from None


def _read_text(path: Path, root: Path | None = None) -> str:
    return read_config_text(path, root)


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return True  # let the careful path report it


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


_TENURE_AT_LEAST = 100_000
"""Young objects from which a load moves them to the oldest generation (fewer are scanned in
a few milliseconds)."""

_tenured_at: int | None = None
"""The count of full collections when a load last moved its objects to the oldest generation
(see :func:`no_cycle_collection`)."""


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector during a bulk load: every file leaves thousands of
    long-lived objects (nodes, dicts, models), and the collector would otherwise rescan all
    of them again and again (a fifth of a 10 000-file load). Whatever cycles a file makes
    (a YAML alias to its own parent) are collected once it is switched back on.

    What the load allocated (and any other young object) is then moved to the oldest
    generation as it is (freeze, then unfreeze), so switching the collector back on does not
    start by scanning all of it as young objects (a quarter to half a second after a 10 000-
    file load); cycles among it are found by the next full collection. Skipped while anything
    else is frozen, which unfreeze would release; for a small load, whose young objects are
    quickly scanned; and until a full collection has run since the last time: objects moved
    this way do not count towards the next full collection, so a program that loads again
    and again would otherwise pile up garbage that nothing frees."""
    global _tenured_at
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        full_collections = gc.get_stats()[-1]["collections"]
        if (
            gc.get_count()[0] >= _TENURE_AT_LEAST
            and gc.get_freeze_count() == 0
            and _tenured_at != full_collections
        ):
            gc.freeze()
            gc.unfreeze()
            _tenured_at = full_collections
        if enabled:
            gc.enable()


def _load_files(
    files: list[Path],
    index: "_CalendarIndex",
    result: PipelineSet,
    root: Path | None = None,
    skip: Skip | None = None,
) -> None:
    loaded: dict[Path, LoadedPipeline] = {}
    kept: dict[Path, tuple[str, str]] = {}  # file -> (pipeline id, text) of unchanged files
    hashes: dict[Path, str] = {}
    # When no link leads to the folder, a file of it that is no link is really in it: no
    # need to resolve every file's path (one lstat instead of one per path component).
    real_root = root is not None and root.resolve() == root.absolute()
    with no_cycle_collection():
        for file in files:
            try:
                if real_root and not _is_link(file):
                    # The real path only matters to the unchanged-file lookup.
                    text = _read_text(file)
                    real = os.path.abspath(file) if skip is not None else ""
                else:
                    text, real = _read_text(file, root), ""
                if skip is not None:
                    digest = source_hash(text, file.name, skip.context)
                    pipeline_id = skip.lookup(real or os.path.realpath(file), digest)
                    if pipeline_id is not None:
                        kept[file] = (pipeline_id, text)
                        continue
                    hashes[file] = digest
                warned = len(result.warnings)
                loaded[file] = _parse(text, str(file), file.stem, index, result.warnings)
                if len(result.warnings) > warned:
                    hashes.pop(file, None)  # a file with warnings reloads, to repeat them
            except ConfigError as exc:
                result.errors.append(exc)
        # An unchanged file whose id another file now claims is loaded after all, so the
        # duplicate is reported exactly as a full load reports it.
        claimed = {item.pipeline.id for item in loaded.values()}
        for file, (pipeline_id, text) in list(kept.items()):
            if pipeline_id in claimed:
                del kept[file]
                loaded[file] = _parse(text, str(file), file.stem, index, result.warnings)
    by_id: dict[str, list[Path]] = {}
    for file, item in loaded.items():
        by_id.setdefault(item.pipeline.id, []).append(file)
    for file, (pipeline_id, _text) in kept.items():
        result.unchanged[pipeline_id] = file
    for pipeline_id, paths in by_id.items():
        if len(paths) > 1:
            # Ambiguous: neither file wins, so a copy of a file can never silently replace it.
            for file in paths:
                others = ", ".join(str(other) for other in paths if other != file)
                message = f"pipeline id {pipeline_id!r} is also used by {others}"
                issue = ConfigIssue(
                    message, file=str(file), line=loaded[file].id_line, path="pipeline.id"
                )
                result.errors.append(ConfigError(issue))
            continue
        file = paths[0]
        item = loaded[file]
        result.pipelines[pipeline_id] = item.pipeline
        result.sources[pipeline_id] = file
        result.documents[pipeline_id] = item.document
        if file in hashes:
            result.source_hashes[pipeline_id] = hashes[file]
    result.errors.sort(key=lambda error: error.file or "")


# --------------------------------------------------------------------------------------------
# Calendars


@dataclass(frozen=True)
class _CalendarIndex:
    """Known calendars, or None when calendar references are not checked."""

    known: Mapping[str, Calendar] | None
    broken: Mapping[str, str] = field(default_factory=dict)  # name -> its invalid file

    @classmethod
    def of(cls, calendars: Mapping[str, Calendar] | None) -> "_CalendarIndex":
        return cls(calendars)


def _load_calendar_dirs(dirs: list[Path], result: PipelineSet) -> _CalendarIndex:
    broken: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for folder in dirs:
        try:
            files = sorted(
                entry
                for entry in folder.iterdir()
                if entry.suffix.lower() in _SUFFIXES and not entry.name.startswith(".")
            )
        except OSError as exc:
            result.errors.append(
                ConfigError(
                    ConfigIssue(f"cannot read the directory: {_os_reason(exc)}", file=str(folder))
                )
            )
            continue
        for file in files:
            try:
                # The folder holding ``calendars`` bounds it (a ConfigMap may link it inside).
                calendar = _load_calendar_file(file, result.warnings, root=folder.parent)
            except ConfigError as exc:
                result.errors.append(exc)
                broken[file.stem] = str(file)
                continue
            if calendar.name in origin:
                message = f"calendar {calendar.name!r} is also defined in {origin[calendar.name]}"
                result.errors.append(ConfigError(ConfigIssue(message, file=str(file), path="name")))
                broken[calendar.name] = str(file)
                result.calendars.pop(calendar.name, None)
                continue
            origin[calendar.name] = file
            result.calendars[calendar.name] = calendar
    return _CalendarIndex(result.calendars, broken)


def _load_calendar_file(path: Path, warnings: list[str], root: Path | None = None) -> Calendar:
    source = str(path)
    document = load_yaml(_read_text(path, root), source)
    data = _require_mapping(document, source, "calendar")
    context = _Context(source, document, warnings)
    try:
        data = _normalize(data, Calendar, (), context)
        if "name" not in data:
            data["name"] = path.stem
        try:
            calendar = Calendar.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_sorted(_translate(exc, data, Calendar, context))) from None
        except Exception as exc:
            raise _unexpected(exc, source) from exc
        if calendar.name != path.stem:
            context.warn(
                ("name",),
                f"calendar name {calendar.name!r} differs from the file name {path.stem!r}; "
                f"pipelines refer to it as {calendar.name!r}",
            )
        return calendar
    finally:
        context.flush()


# --------------------------------------------------------------------------------------------
# One pipeline


def _parse(
    text: str, source: str, stem: str | None, index: _CalendarIndex, warnings: list[str]
) -> LoadedPipeline:
    document = load_yaml(text, source)
    data = _require_mapping(document, source, "pipeline")
    return _validate(data, document, source, stem, index, warnings)


def _require_mapping(document: YamlDocument, source: str, what: str) -> dict[str, Any]:
    if document.data is None:
        raise ConfigError(
            ConfigIssue(f"the file is empty; a {what} file is a YAML mapping", file=source, line=1)
        )
    if not isinstance(document.data, dict):
        message = (
            f"a {what} file must be a YAML mapping (key: value), got {_describe(document.data)}"
        )
        raise ConfigError(ConfigIssue(message, file=source, line=1))
    return document.data


def _validate(
    raw: dict[str, Any],
    document: YamlDocument,
    source: str,
    stem: str | None,
    index: _CalendarIndex,
    warnings: list[str],
) -> LoadedPipeline:
    context = _Context(source, document, warnings)
    try:
        return _validate_pipeline(raw, context, stem, index)
    finally:
        context.flush()


def _validate_pipeline(
    raw: dict[str, Any], context: "_Context", stem: str | None, index: _CalendarIndex
) -> LoadedPipeline:
    source = context.source
    try:
        data = _normalize(raw, Pipeline, (), context)
        if stem is not None:
            _default_id(data, stem, context)
        issues = _calendar_issues(data, index, context)
        pipeline: Pipeline | None = None
        try:
            pipeline = Pipeline.model_validate(data)
        except ValidationError as exc:
            issues = _translate(exc, data, Pipeline, context) + issues
        issues += [
            context.issue(
                path,
                f"{value!r} is not a finite number (the store keeps JSON, "
                "which has no infinity or NaN)",
            )
            for path, value in _non_finite_numbers(data, ())
        ]
    except ConfigError:
        raise
    except Exception as exc:
        raise _unexpected(exc, source) from exc
    if issues or pipeline is None:
        raise ConfigError(_sorted(issues))
    id_line = context.line_of(("pipeline", "id"))
    if stem is not None and stem != pipeline.id:
        context.warn(
            ("pipeline", "id"),
            f"file name {stem!r} differs from pipeline.id {pipeline.id!r}; "
            f"runs are keyed by the id {pipeline.id!r}",
        )
    return LoadedPipeline(pipeline, data, context.sorted_warnings(), source, id_line)


def _non_finite_numbers(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, float]]:
    """Every infinity or NaN in a document (``.inf``, ``.nan``, ``1e400``): JSON cannot hold
    them, so a stored config would read back as ``null`` where the file said a number."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _non_finite_numbers(item, (*path, position))


def _unexpected(exc: Exception, source: str) -> ConfigError:
    # The promise is "only ConfigError for any content": a validator bug must not escape as
    # something else, but its type is kept in the message for the bug report.
    return ConfigError(
        ConfigIssue(f"cannot validate the file ({type(exc).__name__}: {exc})", file=source)
    )


def _default_id(data: dict[str, Any], stem: str, context: "_Context") -> None:
    # Go's deployed runtime keyed a pipeline by its file name and never required pipeline.id.
    info = data.get("pipeline")
    if "pipeline" not in data:
        data["pipeline"] = {"id": stem}
    elif isinstance(info, dict) and info.get("id") in (None, ""):
        data["pipeline"] = {**info, "id": stem}
    else:
        return
    context.warn(("pipeline",), f"pipeline.id is missing; using the file name {stem!r} as the id")


def _calendar_issues(
    data: dict[str, Any], index: _CalendarIndex, context: "_Context"
) -> list[ConfigIssue]:
    if index.known is None:
        return []
    schedule = data.get("schedule")
    if not isinstance(schedule, dict):
        return []
    references: list[tuple[FieldPath, Any]] = []
    if "calendar" in schedule:
        references.append((("schedule", "calendar"), schedule["calendar"]))
    exclude = schedule.get("exclude")
    if isinstance(exclude, dict) and isinstance(exclude.get("calendars"), list):
        for position, name in enumerate(exclude["calendars"]):
            references.append((("schedule", "exclude", "calendars", position), name))
    issues = []
    for path, name in references:
        if not isinstance(name, str) or name in index.known:
            continue  # a wrong type is reported by the model
        if name in index.broken:
            issues.append(
                context.issue(path, f"calendar {name!r} is invalid (see {index.broken[name]})")
            )
            continue
        hint = _did_you_mean(name, list(index.known))
        if hint is None:
            hint = (
                "known calendars: " + ", ".join(sorted(index.known))
                if index.known
                else "no calendars found; add calendars/<name>.yaml beside the pipelines"
            )
        issues.append(context.issue(path, f"unknown calendar {name!r}", hint))
    return issues


# --------------------------------------------------------------------------------------------
# Locations and key case


class _Context:
    """Where a document came from, how its keys were renamed, and its warnings."""

    def __init__(self, source: str, document: YamlDocument, warnings: list[str]) -> None:
        self.source = source
        self.document = document
        self.warnings = warnings
        self._own: list[tuple[int, str]] = []
        # (normalized parent path, canonical key) -> the key as written
        self.renames: dict[tuple[FieldPath, str], str] = {}

    def written(self, path: FieldPath) -> FieldPath:
        """The path with every key as written in the file."""
        out: list[str | int] = []
        for position, element in enumerate(path):
            if isinstance(element, str):
                out.append(self.renames.get((path[:position], element), element))
            else:
                out.append(element)
        return tuple(out)

    def line_of(self, path: FieldPath) -> int | None:
        return self.document.line_of(self.written(path))

    def issue(self, path: FieldPath, message: str, hint: str | None = None) -> ConfigIssue:
        written = format_path(self.written(path)) or None
        return ConfigIssue(message, self.source, self.line_of(path), written, hint)

    def warn(self, path: FieldPath, message: str) -> None:
        text = str(self.issue(path, message))
        self._own.append((self.line_of(path) or 0, text))

    def sorted_warnings(self) -> list[str]:
        """This document's warnings in line order."""
        return [text for _, text in sorted(self._own, key=lambda item: item[0])]

    def flush(self) -> None:
        """Hand this document's warnings to the shared list (in line order)."""
        self.warnings.extend(self.sorted_warnings())
        self._own.clear()


def _normalize(value: Any, model: type[BaseModel], path: FieldPath, context: _Context) -> Any:
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
                child, is_list = _child_model(model, key, value)
            if child is None:
                normalized[key] = item
            elif not is_list:
                normalized[key] = _normalize(item, child, (*path, key), context)
            elif isinstance(item, list):
                normalized[key] = [
                    _normalize(element, child, (*path, key, position), context)
                    for position, element in enumerate(item)
                ]
            else:
                normalized[key] = item
        return normalized
    aliases = _aliases(model)
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
        child, is_list = _child_model(model, key, renamed)
        if child is None:
            continue
        if is_list and isinstance(item, list):
            renamed[key] = [
                _normalize(element, child, (*path, key, position), context)
                for position, element in enumerate(item)
            ]
        elif not is_list:
            renamed[key] = _normalize(item, child, (*path, key), context)
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
    for alias, name in _aliases(model).items():
        if model is Job and name == "config":
            plan[alias] = (name, None, False, True)
        else:
            plan[alias] = (name, *_field_model(model, name), False)
    return plan


@functools.cache
def _lower_aliases(model: type[BaseModel]) -> dict[str, str]:
    """Known keys of a model by their lower case (cached; callers must not modify it)."""
    return {alias.lower(): alias for alias in _aliases(model)}


@functools.cache
def _aliases(model: type[BaseModel]) -> dict[str, str]:
    """Known keys of a model: alias -> field name, plus each field name (cached: a model's
    fields never change; callers must not modify the result)."""
    known: dict[str, str] = {}
    for name, info in model.model_fields.items():
        known[info.alias or name] = name
    for name in model.model_fields:
        known.setdefault(name, name)
    return known


def _child_model(
    model: type[BaseModel], key: str, data: Mapping[str, Any]
) -> tuple[type[BaseModel] | None, bool]:
    """The model of ``data[key]`` (and whether it is a list of them), when there is one."""
    name = _aliases(model).get(key)
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


def _model_at(root: type[BaseModel], data: Any, path: FieldPath) -> type[BaseModel] | None:
    """The model of the mapping at ``path`` in ``data``."""
    model: type[BaseModel] | None = root
    current = data
    position = 0
    while position < len(path) and model is not None:
        key = path[position]
        if not isinstance(key, str) or not isinstance(current, dict):
            return None
        child, is_list = _child_model(model, key, current)
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


# --------------------------------------------------------------------------------------------
# pydantic errors -> ConfigIssues

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


def _translate(
    exc: ValidationError, data: dict[str, Any], root: type[BaseModel], context: _Context
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
        message = f"expected {expected}, got {_describe(group[0].error['input'])}"
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
    problem: _Problem, data: dict[str, Any], root: type[BaseModel], context: _Context
) -> ConfigIssue:
    error = problem.error
    kind = error["type"]
    path = problem.path
    value = error["input"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = context.written(path)[-1]
        model = _model_at(root, data, path[:-1])
        known = [info.alias or name for name, info in model.model_fields.items()] if model else []
        hint = _did_you_mean(str(key), known)
        if hint is None and known:
            hint = "known keys: " + ", ".join(known)
        # Only the key, and only its start: a file that is not a config (a link to a secret
        # file, a pasted token) must not end up in an event.
        return context.issue(path, f"unknown key {_short(str(key))!r}", hint)
    if kind == "missing":
        return context.issue(path[:-1], f"missing required key {path[-1]!r}")
    if kind == "enum":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = _did_you_mean(value, choices) if isinstance(value, str) else None
        if hint is None:
            hint = "use one of: " + ", ".join(choices)
        if path[-1:] == ("check",):
            return context.issue(path, f"unknown check {_describe(value)}", hint)
        if path[-2:] == ("job", "type"):
            return context.issue(path, f"unknown job type {_describe(value)}", hint)
        return context.issue(path, f"invalid value {_describe(value)}", hint)
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        message = str(cause) if cause is not None else str(error["msg"])
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if _is_scalar(value) and "got" not in message and repr(value) not in message:
            message += f", got {_describe(value)}"
        target = _point_at(path, message, data)
        # "sla.maxDuration needs ..." reads "sla.maxDuration: needs ..." after the path.
        for prefix in (format_path(target), format_path(target[-1:])):
            if prefix and re.match(re.escape(prefix) + r" (needs|must) ", message):
                message = message[len(prefix) + 1 :]
                break
        return context.issue(target, message)
    if _EXPECTED.get(kind):
        return context.issue(path, f"expected {_EXPECTED[kind]}, got {_describe(value)}")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return context.issue(path, _range_message(kind, ctx, value, root, data, path))
    if kind == "finite_number":
        return context.issue(path, f"expected a finite number, got {_describe(value)}")
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == _NAME_PATTERN:
            message = (
                f"invalid name {_describe(value)}: use 1 to 200 letters, digits, '.', '_', "
                "':', '#' or '-'"
            )
        elif pattern == _ENV_PATTERN:
            message = f"invalid environment variable name {_describe(value)}"
        else:
            message = f"{_describe(value)} does not match the pattern {pattern}"
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
    model = _model_at(root, data, path[:-1]) if path else None
    name = _aliases(model).get(str(path[-1])) if model is not None and path else None
    if model is not None and name is not None:
        for constraint in model.model_fields[name].metadata:
            low = getattr(constraint, "ge", low)
            high = getattr(constraint, "le", high)
    got = _describe(value)
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


def _describe(value: Any) -> str:
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


def _did_you_mean(word: Any, candidates: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    options = list(dict.fromkeys(candidates))
    lowered = {option.lower(): option for option in options}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean {lowered[close[0]]!r}?" if close else None


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: issue.line if issue.line is not None else 0)
