"""The YAML layer: YAML 1.2 core scalars (as Go read them), key lines, duplicates, limits."""

from pathlib import Path

import pytest

from interlock_core.config import ConfigError
from interlock_core.config.yaml_lines import MAX_DEPTH, MAX_VALUES, load_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:00", "10:00"),  # YAML 1.1 would read 600 (base 60)
        ("2026-12-25", "2026-12-25"),  # no datetime.date: the models validate dates
        ("2026-03-04T10:00:00Z", "2026-03-04T10:00:00Z"),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("~", None),
        ("null", None),
        ("", None),
        ("010", 10),  # YAML 1.1 would read octal 8
        ("0o17", 15),
        ("0x1f", 31),
        ("-5", -5),
        ("+5", 5),
        ("1_000", "1_000"),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", float("-inf")),
        ("0b101", "0b101"),
        ("'1000'", "1000"),
        ('"true"', "true"),
        ("!!str 12", "12"),
        ("!!float 12", 12.0),
        ("!!timestamp 2026-01-01", "2026-01-01"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text: str, expected: object) -> None:
    assert load_yaml(f"v: {text}\n").data == {"v": expected}


def test_nan_is_a_float() -> None:
    value = load_yaml("v: .nan\n").data["v"]
    assert isinstance(value, float)
    assert value != value


def test_keys_are_text_as_written() -> None:
    assert load_yaml("1: a\ntrue: b\nnull: c\n").data == {"1": "a", "true": "b", "null": "c"}


def test_lines_of_keys_and_items() -> None:
    document = load_yaml(
        "pipeline:\n"
        "  id: x\n"
        "validation:\n"
        "  rules:\n"
        "    - key: a\n"
        "      check: exists\n"
        "    - {key: b, check: gte,\n"
        "       value: 1}\n"
    )
    assert document.lines[()] == 1
    assert document.lines[("pipeline", "id")] == 2
    assert document.lines[("validation", "rules")] == 4
    assert document.lines[("validation", "rules", 0)] == 5
    assert document.lines[("validation", "rules", 0, "check")] == 6
    assert document.lines[("validation", "rules", 1)] == 7
    assert document.lines[("validation", "rules", 1, "value")] == 8
    assert document.line_of(("validation", "rules", 1, "field")) == 7
    assert document.line_of(("nowhere", "at", "all")) == 1


def test_merge_keys_and_aliases() -> None:
    document = load_yaml(
        "base: &base {window: 1h, interval: 5m}\n"
        "evaluation:\n"
        "  <<: *base\n"
        "  interval: 1m\n"
        "both:\n"
        "  <<: [{a: 1}, {a: 2, b: 2}]\n"
    )
    assert document.data["evaluation"] == {"window": "1h", "interval": "1m"}
    assert document.data["both"] == {"a": 1, "b": 2}
    assert document.lines[("evaluation", "interval")] == 4
    assert document.lines[("evaluation", "window")] == 1


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, "duplicate key 'c' (first at line 3)"),
        ("a: 1\n'a': 2\n", 2, "duplicate key 'a' (first at line 1)"),
        ("? [a, b]\n: 1\n", 1, "mapping keys must be plain text, not lists or mappings"),
        ("a: !!int x\n", 1, "'x' is not a valid !!int"),
        ("a: !!bool yes\n", 1, "'yes' is not a valid !!bool"),
        ("a: !custom 1\n", 1, "unsupported YAML tag !custom"),
        ("a: !!set {x}\n", 1, "unsupported YAML tag !!set"),
        ("a: &x [*x]\n", 1, "invalid YAML: an alias refers to a node that contains it"),
        ("a: *nope\n", 1, "invalid YAML: found undefined alias 'nope'"),
        ("a: {<<: 5}\n", 1, "a merge key ('<<') needs a mapping or a list of mappings"),
        (
            "a:\n\tb: 1\n",
            2,
            "invalid YAML: a tab character where YAML needs spaces (indent with spaces)",
        ),
        ("a: 1\x00\n", 1, "invalid YAML: character '\\x00' is not allowed in a YAML file"),
        ("a: 1\nb: \ud800\n", 2, "invalid YAML: character '\\ud800' is not allowed in a YAML file"),
        ("a: " + "9" * 5000 + "\n", 1, "the number 99999999999999999999... is too large"),
    ],
)
def test_yaml_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "f.yaml")
    assert [(i.file, i.line, i.message) for i in info.value.issues] == [("f.yaml", line, message)]


def test_nesting_limit() -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(ConfigError, match=f"nested more than {MAX_DEPTH} levels deep"):
        load_yaml(text)
    assert load_yaml("a: " + "[" * 20 + "]" * 20).data is not None


def test_alias_expansion_limit() -> None:
    # "Billion laughs": each level refers nine times to the one before.
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    with pytest.raises(ConfigError, match=f"more than {MAX_VALUES} values"):
        load_yaml("\n".join(lines))


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(
    "path",
    sorted([*EXAMPLES.glob("pipelines/*.yaml"), *EXAMPLES.glob("calendars/*.yaml")]),
    ids=lambda p: p.name,
)
def test_pure_python_and_libyaml_parsers_agree(path: Path) -> None:
    text = path.read_text()
    fast, pure = load_yaml(text), load_yaml(text, pure=True)
    assert fast.data == pure.data
    assert fast.lines == pure.lines


def test_pure_python_parser_limits() -> None:
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load_yaml("a: 1\na: 2\n", pure=True)
    with pytest.raises(ConfigError, match=f"nested more than {MAX_DEPTH} levels deep"):
        load_yaml("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), pure=True)
    assert load_yaml("t: 10:00\n", pure=True).data == {"t": "10:00"}
