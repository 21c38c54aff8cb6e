"""Equal parts of parsed configs are shared; parts that differ in any way that matters are
not (type, explicitly set fields, -0.0, bool vs int)."""

import gc

from interlock_core.config.models import Pipeline
from interlock_core.config.shared_parts import PartSharer
from interlock_core.config.stored import envelope_hash, parse_envelope


def _document(pipeline_id: str, **schedule: object) -> dict[str, object]:
    return {
        "pipeline": {"id": pipeline_id},
        "schedule": {"cron": "0 * * * *", **schedule},
        "validation": {
            "trigger": "ALL",
            "rules": [{"key": "up", "check": "gte", "field": "count", "value": 1}],
        },
        "job": {"type": "command", "config": {"command": ["true"]}},
    }


def _parsed(sharer: PartSharer, document: dict[str, object]) -> Pipeline:
    return sharer.share_parts(Pipeline.model_validate(document))


def test_equal_parts_are_one_object_and_documents_unchanged() -> None:
    sharer = PartSharer()
    first = _parsed(sharer, _document("a"))
    second = _parsed(sharer, _document("b"))
    assert first.validation is second.validation
    assert first.job is second.job
    assert first.schedule is second.schedule
    assert first.pipeline is not second.pipeline
    assert second.to_document() == Pipeline.model_validate(_document("b")).to_document()


def test_explicitly_set_fields_keep_parts_apart() -> None:
    sharer = PartSharer()
    implicit = _parsed(sharer, _document("a"))
    explicit = _parsed(sharer, _document("b", timezone="UTC"))
    assert implicit.schedule is not explicit.schedule
    assert "timezone" not in implicit.schedule.model_fields_set
    assert "timezone" in explicit.schedule.model_fields_set
    assert "timezone" not in implicit.to_document()["schedule"]


def test_values_equal_only_in_python_are_not_merged() -> None:
    sharer = PartSharer()
    documents = []
    for index, value in enumerate([0.0, -0.0, 1, 1.0]):
        document = _document(f"p{index}")
        document["validation"] = {
            "rules": [{"key": "up", "check": "equals", "field": "f", "value": value}]
        }
        documents.append(document)
    parsed = [_parsed(sharer, document) for document in documents]
    values = [pipeline.validation.rules[0].value for pipeline in parsed]
    assert [repr(value) for value in values] == ["0.0", "-0.0", "1", "1.0"]
    assert len({id(pipeline.validation) for pipeline in parsed}) == 4


def test_unused_parts_leave_the_table() -> None:
    sharer = PartSharer()
    pipeline = _parsed(sharer, _document("a"))
    assert len(sharer) > 0
    del pipeline
    gc.collect()
    assert len(sharer) == 0


def test_stored_configs_share_parts() -> None:
    first = {"config": _document("a"), "calendars": {}}
    second = {"config": _document("b"), "calendars": {}}
    one = parse_envelope(first, envelope_hash(first))
    two = parse_envelope(second, envelope_hash(second))
    assert one.pipeline.validation is two.pipeline.validation
