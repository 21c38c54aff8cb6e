"""The load's fast paths (the line reader, the one-pass key normalization) give what the
general paths give: documents, warnings, errors with their lines, for arbitrary and mutated
pipeline documents."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock_core.config import ConfigError, normalize, parse_pipeline_text, yaml_lines
from tests.core.config.test_fuzz import TOP_LEVEL, VALUES, dump, mutated


def _outcome(text: str) -> object:
    try:
        loaded = parse_pipeline_text(text, "p.yaml", stem="p")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    return repr(loaded.document), loaded.warnings, loaded.id_line, loaded.pipeline


def _general(text: str) -> object:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml_lines, "_PLAIN_FIRST", False)
        patch.setattr(normalize, "_key_plan", lambda model: {})
        return _outcome(text)


def _agree(document: Any) -> None:
    text = dump(document)
    assert _outcome(text) == _general(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_examples_load_the_same_on_every_path(document: Any) -> None:
    _agree(document)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(VALUES, TOP_LEVEL))
def test_arbitrary_documents_load_the_same_on_every_path(document: Any) -> None:
    _agree(document)


def test_unset_keys_and_renamed_keys_agree() -> None:
    texts = [
        "pipeline: {id: p, owner: ''}\nschedule: {cron: '0 8 * * *', timezone: ~}\n",
        "pipeline: {id: p}\nSchedule: {cron: '0 8 * * *'}\njob: {type: command, config: "
        "{command: [a], timeout: ~}}\n",
        "pipeline: {id: p}\nschedule: {cron: '0 8 * * *'}\njob: {type: '', config: {x: 1}}\n",
        "pipeline: {id: ''}\nschedule: {cron: '0 8 * * *'}\n",
    ]
    for text in texts:
        assert _outcome(text) == _general(text)
