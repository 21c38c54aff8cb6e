"""Property: whatever a file holds, the loader raises ConfigError and nothing else."""

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from interlock_core.config import (
    JOB_CONFIG_MODELS,
    Calendar,
    ConfigError,
    Pipeline,
    load_pipeline,
    load_pipeline_document,
    parse_pipeline_text,
)
from interlock_core.config.normalize import child_model
from interlock_core.config.yaml_lines import load_yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "pipelines"


def _known_keys() -> list[str]:
    keys: set[str] = set()
    pending: list[type[BaseModel]] = [Pipeline, Calendar, *JOB_CONFIG_MODELS.values()]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            alias = info.alias or name
            keys.add(alias)
            child, _ = child_model(model, alias, {})
            if child is not None:
                pending.append(child)
    return sorted(keys)


KNOWN_KEYS = _known_keys()
INTERESTING = [
    "10:00",
    ":30",
    "24:00",
    "2026-12-25",
    "2026-02-30",
    "1h",
    "-1d",
    "0",
    "1x",
    "ALL",
    "any",
    "MOST",
    "glue",
    "command",
    "http",
    "equals",
    "gte",
    "age_lt",
    "in",
    "UTC",
    "Mars/Base",
    "America/New_York",
    "0 8 * * *",
    "* * *",
    "yes",
    "~",
    "",
    "us-federal",
    "https://x",
    "Bearer abc",
    "${INTERLOCK_TOKEN}",
    "a b",
    "#",
    "x" * 300,
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(INTERESTING),
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=10,
)
TOP_LEVEL = st.dictionaries(
    st.sampled_from(["pipeline", "schedule", "sla", "validation", "job", "postRun", "dryRun"]),
    VALUES,
    max_size=5,
)


def dump(document: Any) -> str:
    # libyaml's emitter: PyYAML's pure-Python one would dominate the test's time.
    return yaml.dump(document, Dumper=yaml.CSafeDumper)


def check(text: str) -> None:
    issues = None
    try:
        pipeline = parse_pipeline_text(text, "fuzz.yaml").pipeline
    except ConfigError as exc:
        issues = exc.issues
    if issues is not None:
        assert issues
        assert all(issue.file == "fuzz.yaml" and issue.message for issue in issues)
        return
    # Whatever loads must survive the trip through the Store's document form.
    assert load_pipeline_document(pipeline.to_document()) == pipeline


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(VALUES, TOP_LEVEL))
def test_arbitrary_documents_raise_only_config_error(document: Any) -> None:
    check(dump(document))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


BASES = [load_yaml(path.read_text()).data for path in sorted(EXAMPLES.glob("*.yaml"))]
OPERATIONS = ["delete", "replace", "rename", "retype", "upper"]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path in _paths(document) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for element in path[:-1]:
            parent = parent[element]
        last = path[-1]
        operation = draw(st.sampled_from(OPERATIONS))
        if operation == "delete":
            del parent[last]
        elif operation == "replace":
            parent[last] = draw(VALUES)
        elif operation == "retype":
            old = parent[last]
            parent[last] = draw(
                st.sampled_from([str(old), [old], {"x": old}, 7, None, True, 1.5, "1h"])
            )
        elif isinstance(parent, dict):
            new_key = last.upper() if operation == "upper" else draw(KEYS)
            parent[new_key] = parent.pop(last)
    return document


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_examples_raise_only_config_error(document: Any) -> None:
    check(dump(document))


YAMLISH = st.text(alphabet=":-[]{}&*!|>'\"#%@`?,<= \n\tab01._~\x00\x85\ufeff\ud800é", max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), YAMLISH))
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    check(text)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_in_a_file_raise_only_config_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.yaml"
        path.write_bytes(content)
        error = None
        try:
            load_pipeline(path)
        except ConfigError as exc:
            error = exc
        assert error is None or error.file == str(path)
