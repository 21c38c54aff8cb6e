"""Applying a loaded pipelines directory to the store (``Interlock.apply``, DESIGN.md §2).

Split out of the engine by concern: writing configs, recording their events
(``CONFIG_APPLIED``, ``PIPELINE_REMOVED``, ``CONFIG_INVALID``) and ending or resuming the runs
of removed and returning pipelines. ``Interlock.apply`` delegates here.
"""

import dataclasses
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock_core import lifecycle
from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.stored import envelope, envelope_hash
from interlock_core.events import Event, EventType
from interlock_core.lifecycle import EventDraft
from interlock_core.runs import RunStatus
from interlock_core.storage.base import ConfigChange

if TYPE_CHECKING:
    from interlock_core.engine import ApplyResult, Interlock
    from interlock_core.storage.base import Store


def apply_pipelines(
    engine: "Interlock", pipeline_set: Any, *, partial: bool = False, remove_missing: bool = True
) -> "ApplyResult":
    """See :meth:`interlock_core.engine.Interlock.apply`."""
    from interlock_core.engine import FIRST_APPLIED, ApplyResult, InterlockError

    self = engine
    now = self.clock.now()
    errors: list[ConfigError] = list(pipeline_set.errors)
    if errors and not partial:
        raise ConfigError([issue for error in errors for issue in error.issues])
    # Any object with a PipelineSet's attributes will do (older callers pass their own).
    unchanged: dict[str, Any] = getattr(pipeline_set, "unchanged", {})
    if remove_missing and not pipeline_set.pipelines and not unchanged and not errors:
        # An empty directory is almost always a wrong path, not "delete every pipeline".
        raise InterlockError(
            "no pipeline files to apply; refusing to remove every configured pipeline "
            "(check the directory, or remove pipelines one file at a time)"
        )
    # (hash, source) by pipeline id: documents are read only for what is written.
    current = self.store.config_sources()
    pipeline_set = _load_vanished(pipeline_set, current)
    errors = list(pipeline_set.errors)
    if errors and not partial:
        raise ConfigError([issue for error in errors for issue in error.issues])
    configs: dict[str, tuple[dict[str, Any], str, str]] = {}
    for pipeline_id, pipeline in pipeline_set.pipelines.items():
        document = envelope(pipeline, pipeline_set.calendars)
        source = _source_key(pipeline_set.sources.get(pipeline_id))
        configs[pipeline_id] = (document, envelope_hash(document), source)
    for pipeline_id in getattr(pipeline_set, "unchanged", {}):
        # The file that produced this config, unchanged: the stored config is its config.
        config = _stored_config(self.store, pipeline_set, pipeline_id, current[pipeline_id])
        if config is not None:
            configs[pipeline_id] = config
    broken_sources = {
        _source_key(issue.file) for error in errors for issue in error.issues if issue.file
    }
    # A pipeline whose file is broken keeps its last good config: not "missing".
    keep = {pid for pid, (_, source) in current.items() if source and source in broken_sources}
    atomic_remove = remove_missing and not keep
    changes = self.store.apply_configs(configs, now, remove_missing=atomic_remove)
    _record_sources(self.store, getattr(pipeline_set, "source_hashes", {}), configs, now)
    if remove_missing and keep:
        for pipeline_id in sorted(set(current) - set(configs) - keep):
            if self.store.remove_config(pipeline_id, now):
                changes.append(ConfigChange(pipeline_id, "removed"))
    drafts: list[tuple[str, EventDraft]] = []
    returned: list[str] = []
    written = [c.pipeline_id for c in changes if c.action in {"created", "updated"}]
    firsts = self.store.put_markers([(pid, FIRST_APPLIED) for pid in written], now)
    for change in changes:
        if change.action in {"created", "updated"}:
            first = (change.pipeline_id, FIRST_APPLIED) in firsts
            if not first and change.action == "created":  # back after a removal
                _mark_reapplied(self, change.pipeline_id, now)
                returned.append(change.pipeline_id)
            drafts.append(
                (
                    change.pipeline_id,
                    EventDraft(
                        EventType.CONFIG_APPLIED,
                        f"config {change.action} ({(change.hash or '')[:12]})",
                        {"action": change.action, "hash": change.hash},
                    ),
                )
            )
        elif change.action == "removed":
            drafts.append(
                (
                    change.pipeline_id,
                    EventDraft(EventType.PIPELINE_REMOVED, "pipeline file removed; config deleted"),
                )
            )
    by_source = {source: pid for pid, (_, source) in current.items() if source}
    for error in errors:
        issue = error.issues[0] if error.issues else ConfigIssue(str(error))
        pipeline_id = by_source.get(_source_key(issue.file), "")
        text = str(error)
        # Once per edit of the file: re-applying an unchanged broken file is quiet, breaking
        # it again after a fix alerts again.
        edition = {"e": text, "v": _file_edition(issue.file)}
        marker = f"{EventType.CONFIG_INVALID.value}#{envelope_hash(edition)[:16]}"
        consequence = (
            "the last good config stays active"
            if pipeline_id
            else "it has no earlier good config, so its pipeline is not active"
        )
        drafts.append(
            (
                pipeline_id,
                EventDraft(
                    EventType.CONFIG_INVALID,
                    f"invalid config ({consequence}): {text}",
                    {"file": issue.file, "line": issue.line, "path": issue.path},
                    dedup=marker,
                ),
            )
        )
    # The CONFIG_APPLIED and PIPELINE_REMOVED events of one apply go to the log in one write
    # (a first apply of 10 000 pipelines made 10 000 commits); CONFIG_INVALID events come
    # last, as before, each after its dedup marker.
    plain: list[Event] = []
    for pipeline_id, draft in drafts:
        if draft.dedup is None:
            plain.extend(self._events(pipeline_id, None, None, [draft], now).with_run)
    if plain:
        self.store.append_events(plain)
        self._alert(plain)
    for pipeline_id, draft in drafts:
        if draft.dedup is not None:
            self._publish(pipeline_id, None, None, [draft], now)
    for change in changes:
        if change.action == "removed":
            _end_removed_runs(self, change.pipeline_id, now)
    for pipeline_id in returned:
        _resume_removed_runs(self, pipeline_id, now)
    return ApplyResult(changes, errors)


SOURCE_MARKER = "config-source"
"""Marker ``config-source#<config hash>#<source hash>`` of a pipeline: the file with that
source hash (:func:`interlock_core.config.loader.source_hash`) produced that config. Markers
are put-if-absent and never change, so one is true for as long as it exists."""


def load_changed(engine: "Interlock | None", directory: str | os.PathLike[str]) -> Any:
    """Load a pipelines directory for :func:`apply_pipelines`, parsing only the files that
    differ from the ones that produced the current stored configs.

    A file is skipped when its source hash (its text and name, the calendars, the settings
    file, the loader's code) matches the marker its current config was recorded with; every
    other file (new, edited, renamed, one that loaded with warnings) is validated as before.

    Args:
        engine: the engine whose store holds the current configs; None (a store about to be
            created) loads every file, still hashing them so the apply records their sources.
        directory: the pipelines directory.

    Returns:
        A ``PipelineSet`` whose ``unchanged`` lists the skipped pipelines.
    """
    from interlock_core.config.loader import load_pipelines, no_cycle_collection

    with no_cycle_collection():  # 10 000 decoded documents: acyclic, nothing to collect
        stored_configs = engine.store.list_configs() if engine is not None else []
    current = {c.source: c for c in stored_configs if c.source}
    boto3_missing: list[bool] = []  # probed once, when a config first asks

    def warns_of_missing_extra(document: dict[str, Any]) -> bool:
        # ``apply`` warns about a pipeline whose job needs boto3 when it is missing: such a
        # file loads again so that the warning repeats, as warnings of the file itself do.
        job = (document.get("config") or {}).get("job") or {}
        if job.get("type") not in _BOTO3_CANDIDATES:
            return False
        if not boto3_missing:
            from interlock_core.jobs.aws import boto3_missing as probe

            boto3_missing.append(probe() is not None)
        return boto3_missing[0]

    # Every source marker in one read where the store can list them (one read per file
    # otherwise); markers are put-if-absent and never change, so an older snapshot of them
    # can only miss a newer marker, and such a file just loads again.
    recorded = (
        engine.store.marker_keys(f"{SOURCE_MARKER}#", engine.clock.now())
        if engine is not None and current
        else None
    )

    def lookup(real_path: str, digest: str) -> str | None:
        stored = current.get(real_path)
        if stored is None or warns_of_missing_extra(stored.document):
            return None
        name = _source_marker(stored.hash, digest)
        assert engine is not None  # only stored configs get here
        if recorded is not None:
            return stored.pipeline_id if (stored.pipeline_id, name) in recorded else None
        if engine.store.get_marker(stored.pipeline_id, name) is None:
            return None
        return stored.pipeline_id

    loaded = load_pipelines(directory, unchanged=lookup, context=_settings_text(directory))
    by_id = {c.pipeline_id: c for c in stored_configs}
    loaded.stored_configs = {pid: by_id[pid] for pid in loaded.unchanged if pid in by_id}
    return loaded


# Job types whose pipelines may need boto3 (jobs.extras.needs_boto3; Airflow only on MWAA).
_BOTO3_CANDIDATES = frozenset(
    {"glue", "emr", "emr-serverless", "step-function", "lambda", "airflow"}
)


def _settings_text(directory: str | os.PathLike[str]) -> str:
    """The text of the directory's settings file (``interlock.yaml``), or ""."""
    from interlock_core.alerts.routing import alert_config_path

    try:
        with open(alert_config_path(directory), "rb") as file:
            return file.read(2**20).decode("utf-8", "replace")
    except (OSError, ConfigError):
        return ""


def _stored_config(
    store: "Store", pipeline_set: Any, pipeline_id: str, head: tuple[str, str]
) -> tuple[dict[str, Any], str, str] | None:
    """``(document, hash, source)`` of an unchanged pipeline's current config (``head`` is
    its current ``(hash, source)``), its document taken from the config read while loading
    when that is still the current one (a pipeline's version with a given hash has that
    document for good), else read again."""
    config_hash, source = head
    read = getattr(pipeline_set, "stored_configs", {}).get(pipeline_id)
    if read is None or read.hash != config_hash:
        read = store.get_config(pipeline_id, config_hash) or store.get_config(pipeline_id)
    if read is None:  # removed meanwhile
        return None
    return (read.document, read.hash, source if read.hash == config_hash else read.source)


def _source_marker(config_hash: str, digest: str) -> str:
    return f"{SOURCE_MARKER}#{config_hash[:32]}#{digest[:32]}"


def _load_vanished(pipeline_set: Any, current: dict[str, Any]) -> Any:
    """The set with its unchanged pipelines whose stored config is gone since the load (a
    concurrent remove) loaded from their files after all."""
    unchanged: dict[str, Any] = getattr(pipeline_set, "unchanged", {})
    vanished = {pid: file for pid, file in unchanged.items() if pid not in current}
    if not vanished:
        return pipeline_set
    from interlock_core.config.loader import load_pipeline_files

    extra = load_pipeline_files(vanished.values(), calendars=pipeline_set.calendars)
    merged = dataclasses.replace(
        pipeline_set,
        pipelines={**pipeline_set.pipelines, **extra.pipelines},
        errors=[*pipeline_set.errors, *extra.errors],
        sources={**pipeline_set.sources, **extra.sources},
        documents={**pipeline_set.documents, **extra.documents},
        unchanged={p: f for p, f in unchanged.items() if p not in vanished},
    )
    return merged


def _record_sources(
    store: "Store",
    source_hashes: dict[str, str],
    configs: dict[str, tuple[dict[str, Any], str, str]],
    now: datetime,
) -> None:
    """Remember which file produced each config just written (see :data:`SOURCE_MARKER`)."""
    keys = [
        (pipeline_id, _source_marker(configs[pipeline_id][1], digest))
        for pipeline_id, digest in sorted(source_hashes.items())
        if pipeline_id in configs
    ]
    store.put_markers(keys, now)


def _resume_removed_runs(engine: "Interlock", pipeline_id: str, now: datetime) -> None:
    """A pipeline back after a removal runs the periods its removal ended before any job
    ran (a rename or a revert of its file must not leave them FAILED for good)."""
    active = engine.config(pipeline_id)
    if active is None:
        return
    for run in engine.store.list_runs(pipeline_id, [RunStatus.FAILED], limit=1000):
        if lifecycle.ended_by_removal(run):
            engine.run_dry_period_for_real(active, run, now)


def _end_removed_runs(engine: "Interlock", pipeline_id: str, now: datetime) -> None:
    """A removed pipeline starts nothing new: its WAITING runs end with the reason (a
    running job is still polled to its end by the config it started with)."""
    for run in engine.store.list_runs(pipeline_id, [RunStatus.WAITING], limit=1000):
        engine._commit(run, lifecycle.decide_removed(run, now), now)


def _mark_reapplied(engine: "Interlock", pipeline_id: str, now: datetime) -> None:
    """Record a pipeline's return after a removal (``reapplied#1``, ``#2``, …): alerts
    never cover the time it was removed."""
    from interlock_core.engine import REAPPLIED

    for number in range(1, 1000):
        if engine.store.put_marker(pipeline_id, f"{REAPPLIED}#{number}", now):
            return


def _file_edition(path: str | None) -> str:
    """Identifies one edit of a file (its modification time), or "" when it cannot be read."""
    if not path:
        return ""
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return ""


def _source_key(path: str | os.PathLike[str] | None) -> str:
    """A config file's identity: its resolved path, so the same file named relatively in one
    apply and absolutely in the next is recognised as the same file."""
    if not path:
        return ""
    return os.path.realpath(os.fspath(path))
