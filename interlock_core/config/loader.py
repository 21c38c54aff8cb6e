"""Load pipeline and calendar files into models (DESIGN.md §2).

Every problem with a file's content is a :class:`ConfigError` naming the file, the line and the
field path as written (``validation.rules[1].value``), with a "did you mean" hint for unknown
keys, checks and job types. A directory load reports every bad file and still returns the good
ones.
"""

import contextlib
import gc
import hashlib
import json
import logging
import math
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from interlock_core.config.calendars import Calendar
from interlock_core.config.doc_context import Context, format_path
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.load_errors import describe, did_you_mean, sorted_issues, translate
from interlock_core.config.models import Pipeline
from interlock_core.config.normalize import normalize
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
            ConfigIssue(f"a pipeline must be a mapping, got {describe(document)}", file=source)
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
    context = Context(source, document, warnings)
    try:
        data = normalize(data, Calendar, (), context)
        if "name" not in data:
            data["name"] = path.stem
        try:
            calendar = Calendar.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(sorted_issues(translate(exc, data, Calendar, context))) from None
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
            f"a {what} file must be a YAML mapping (key: value), got {describe(document.data)}"
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
    context = Context(source, document, warnings)
    try:
        return _validate_pipeline(raw, context, stem, index)
    finally:
        context.flush()


def _validate_pipeline(
    raw: dict[str, Any], context: Context, stem: str | None, index: _CalendarIndex
) -> LoadedPipeline:
    source = context.source
    try:
        data = normalize(raw, Pipeline, (), context)
        if stem is not None:
            _default_id(data, stem, context)
        issues = _calendar_issues(data, index, context)
        pipeline: Pipeline | None = None
        try:
            pipeline = Pipeline.model_validate(data)
        except ValidationError as exc:
            issues = translate(exc, data, Pipeline, context) + issues
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
        raise ConfigError(sorted_issues(issues))
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


def _default_id(data: dict[str, Any], stem: str, context: Context) -> None:
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
    data: dict[str, Any], index: _CalendarIndex, context: Context
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
        hint = did_you_mean(name, list(index.known))
        if hint is None:
            hint = (
                "known calendars: " + ", ".join(sorted(index.known))
                if index.known
                else "no calendars found; add calendars/<name>.yaml beside the pipelines"
            )
        issues.append(context.issue(path, f"unknown calendar {name!r}", hint))
    return issues
