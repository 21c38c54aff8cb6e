"""The load fast paths (compiled YAML composer, caches) say exactly what the slow paths say."""

import gc

import pytest

from interlock_core.config import loader, yaml_lines
from interlock_core.config.errors import ConfigError
from interlock_core.config.loader import load_pipelines
from interlock_core.config.models import Schedule
from interlock_core.config.yaml_lines import MAX_DEPTH, load_yaml

TEXTS = [
    "a: *missing\n",
    "a: &x 1\nb: &x 2\n",
    "a: [1, 2\n",
    "a: 1\n---\nb: 2\n",
    "a:\n\t- b\n",
    "a: 1\na: 2\n",
    "x: &a [*a]\n",
    "a: !custom 1\n",
    "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n",
    "a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, MAX_DEPTH + 3)),
]


def _outcome(text: str) -> object:
    try:
        document = load_yaml(text, "f.yaml")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    return document.data, document.lines


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """The outcome with the compiled composer, and with the Python composer only."""
    fast = _outcome(text)
    with monkeypatch.context() as patch:
        patch.setattr(yaml_lines, "_COMPILED", None)
        guarded = _outcome(text)
    return fast, guarded


@pytest.mark.parametrize("text", TEXTS)
def test_compiled_and_python_composers_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, guarded = _both(text, monkeypatch)
    assert fast == guarded


def test_a_deep_document_is_refused_without_crashing() -> None:
    # Far deeper than C recursion could take: must fall back to the guarded composer.
    with pytest.raises(ConfigError, match="nest"):
        load_yaml("[" * 200_000, "deep.yaml")


def test_valid_documents_agree_value_for_value_and_line_for_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (
        "base: &b {x: 1, y: [a, b]}\nmerged:\n  <<: *b\n  y: 2\nlist:\n  - 010\n  - 0x1F\n"
        "  - 1.5e3\n  - .inf\n  - yes\n  - ~\n  - 2026-01-01\n  - '10:00'\n  - 10:00\n"
        "more: [True, FALSE, null, Null, NULL, '', -1, +2, 0o17, .5, -.inf, 1_000, 0b1, on,"
        " !!str 5, !!int '7', \"8\", n, t, -, +, ., <]\nempty:\n? complex\n: key\n"
    )
    fast, guarded = _both(text, monkeypatch)
    assert fast == guarded
    assert fast == _outcome_pure(text)


def _outcome_pure(text: str) -> object:
    document = load_yaml(text, "f.yaml", pure=True)
    return document.data, document.lines


def test_a_cached_cron_check_still_refuses_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="never fires"):
            Schedule.model_validate({"cron": "0 8 30 2 *"})


def test_loading_leaves_the_cycle_collector_as_it_was(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text("pipeline: {id: a}\nschedule: {cron: '0 8 * * *'}\n")
    assert gc.isenabled()
    load_pipelines(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        load_pipelines(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "text",
    [
        *TEXTS,
        "a: 1\nb:\n  - x\n  - y: [1, '2', \"3\"]  # c\n",
        "pipeline:\n  id: p\nschedule:\n  cron: '0 8 * * *'\n",
    ],
)
def test_line_reader_compiled_and_python_composers_agree(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _outcome(text)
    with monkeypatch.context() as patch:
        patch.setattr(yaml_lines, "_PLAIN_FIRST", False)
        compiled, guarded = _both(text, patch)
    assert fast == compiled == guarded


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_a_load_tenures_young_objects_without_freezing_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import weakref

    (tmp_path / "a.yaml").write_text("pipeline: {id: a}\nschedule: {cron: '0 8 * * *'}\n")
    gc.collect()
    gc.disable()  # no automatic collection may free the cycle before the load
    try:
        cycle = _Node()
        alive = weakref.ref(cycle)
        del cycle
        # As many young objects as a bulk load leaves (a small one is left to the collector).
        young = [[] for _ in range(loader._TENURE_AT_LEAST)]
        load_pipelines(tmp_path)
        del young
        # Moved to the oldest generation, not frozen: young collections leave it, a full
        # one still frees it.
        assert gc.get_freeze_count() == 0
        gc.collect(1)
        assert alive() is not None
        gc.collect()
        assert alive() is None
    finally:
        gc.enable()


def test_a_load_leaves_objects_frozen_by_others_frozen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text("pipeline: {id: a}\nschedule: {cron: '0 8 * * *'}\n")
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        load_pipelines(tmp_path)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(("young", "tenured"), [(0, 0), (loader._TENURE_AT_LEAST, 1)])
def test_repeated_loads_leave_cycles_to_the_young_collections(  # type: ignore[no-untyped-def]
    tmp_path, young: int, tenured: int
) -> None:
    # A program that loads again and again (a validating service, a watcher) must not have
    # every load move the garbage of its time to the oldest generation, where nothing
    # counts it towards a full collection: such garbage would pile up for good. A small load
    # moves nothing; a bulk load does once until a full collection has run.
    import weakref

    (tmp_path / "a.yaml").write_text("pipeline: {id: a}\nschedule: {cron: '0 8 * * *'}\n")
    gc.collect()
    gc.disable()  # no automatic collection in between: only the loads move objects
    try:
        alive = []
        for _ in range(10):
            cycle = _Node()
            alive.append(weakref.ref(cycle))
            del cycle
            allocated = [[] for _ in range(young)]  # what a bulk load leaves
            load_pipelines(tmp_path)
            del allocated
        gc.collect(1)  # the young generations only
        assert sum(ref() is not None for ref in alive) == tenured
    finally:
        gc.enable()
