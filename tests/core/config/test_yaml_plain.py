"""The line reader for plain block YAML gives exactly the composers' values and lines, and
leaves everything else to them (so their errors keep their words and lines)."""

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock_core.config import yaml_lines
from interlock_core.config.errors import ConfigError
from interlock_core.config.yaml_lines import MAX_DEPTH, MAX_VALUES, load_yaml
from interlock_core.config.yaml_plain import load_plain

ROOT = Path(__file__).resolve().parents[3]


def _composed(text: str) -> object:
    """What the composers alone make of ``text``: (data, lines) or the error lines."""
    saved = yaml_lines._PLAIN_FIRST
    yaml_lines._PLAIN_FIRST = False
    try:
        document = load_yaml(text, "f.yaml")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    finally:
        yaml_lines._PLAIN_FIRST = saved
    return document.data, document.lines


def _outcome(text: str) -> object:
    try:
        document = load_yaml(text, "f.yaml")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    return document.data, document.lines


def _agrees(text: str) -> bool:
    """Whether the line reader read ``text``; fails when it read it differently."""
    plain = load_plain(text)
    composed = _composed(text)
    # repr: NaN equals itself there, and key order counts.
    if plain is not None:
        assert repr(plain) == repr(composed), text
    assert repr(_outcome(text)) == repr(composed), text
    return plain is not None


CONFIGS = sorted(
    {
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("docs/**/*.yaml"),
        *ROOT.glob("tests/**/*.yaml"),
    }
)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_file_of_the_project_reads_the_same(path: Path) -> None:
    _agrees(path.read_text(encoding="utf-8", errors="replace"))


def test_the_example_pipelines_take_the_line_reader() -> None:
    examples = sorted(ROOT.glob("examples/pipelines/*.yaml"))
    assert examples
    assert all(load_plain(path.read_text()) is not None for path in examples)


READ = [
    "a: 1\nb:\n  c: [x, 'y z', \"w\"]  # note\n  d:\n    - 1\n    - k: v\n      l: ~\n",
    "a:\nb: 2\n",
    "a:\n  # comment\n  b: 1\n\n\nc: 3",
    "list:\n  - a\n  - - b\n",
    "a: 'it is'\nb: \"x #y\"\nc: a#b\nd: a #b\ne: http://x:80/p\nf: a, b [c] {d}\n",
    "v: [010, 0x1F, 0o17, 1.5e3, .inf, -.inf, .NaN, yes, ~, null, True, FALSE, 10:00]\n",
    "v: -1d\nw: +5\nx: 1_000\ny: 2026-01-01\nz: $HOME\n",
    "- a\n",
    "rules:\n  -   key: a\n      check: b\n  - key: c\n",
    "a: []\nb: [ ]  # empty\n",
]


@pytest.mark.parametrize("text", READ)
def test_documents_read_the_same(text: str) -> None:
    _agrees(text)


UNSURE = [
    "",
    "# only a comment\n",
    "a: 1\na: 2\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a: multi\n  line\n",
    "a:\n- b\n",
    "a: {b: 1}\n",
    "a: [1,\n  2]\n",
    "'a': 1\n",
    "a:\n\tb: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a: caf\u00e9\n",
    "---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "%YAML 1.2\n---\na: 1\n",
    "  a: 1\n",
    "a: 1\n b: 2\n",
    "a: b: c\n",
    'a: "x\\ty"\n',
    "a: 'it''s'\n",
    "<<: {b: 1}\n",
    "a: <<\n",
    "? a\n: 1\n",
    "a: -\n",
    "-\n  a\n",
    "a: " + "9" * 5000 + "\n",
    "a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, MAX_DEPTH + 3)),
    "a: [" + ", ".join(["x"] * MAX_VALUES) + "]\n",
]


@pytest.mark.parametrize("text", UNSURE)
def test_what_it_is_unsure_of_is_left_to_the_composers(text: str) -> None:
    assert load_plain(text) is None
    _agrees(text)


KEYS = ["a", "b", "key", "1", "true", "null", "x.y", "a-b", "<<", "'q'", '"d"', "a b", "$k", "~"]
VALUES = [
    "",
    "1",
    "-1",
    "+2",
    "0x1f",
    "0o7",
    "010",
    "1.5",
    ".5",
    "-.inf",
    ".nan",
    "1e3",
    "true",
    "False",
    "yes",
    "~",
    "null",
    "10:00",
    "2026-01-01",
    "text",
    "two words",
    "a#b",
    "a #c",
    "# c",
    "'q'",
    "'a''b'",
    "'x' y",
    '"d"',
    '"e\\n"',
    '"x" # c',
    "[]",
    "[a, b]",
    "[a,b]",
    "['a', \"b\", c d]",
    "[a, [b]]",
    "[a, ]",
    "[a] x",
    "[-c, print(1)]",
    "{}",
    "{a: 1}",
    "&x 1",
    "*x",
    "!!str 1",
    "|",
    ">-",
    "-",
    "- a",
    "a: b",
    "a:",
    ":x",
    "?x",
    "@x",
    "%x",
    "<<",
    "$HOME",
    "(x)",
    "http://h:1/p",
    "a, b",
    "x\ty",
]


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        indent = " " * draw(st.sampled_from([0, 0, 0, 1, 2, 2, 4, 6]))
        dash = draw(st.sampled_from(["", "", "", "- ", "-  ", "-"]))
        key = draw(st.sampled_from([*KEYS, None, None]))
        value = draw(st.sampled_from(VALUES))
        middle = f"{key}:" + (f" {value}" if value else "") if key is not None else value
        lines.append(
            f"{indent}{dash}{middle}".rstrip() if dash == "-" else f"{indent}{dash}{middle}"
        )
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\n# end\n"]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_any_document_reads_the_same_or_is_left_to_the_composers(text: str) -> None:
    _agrees(text)


# Documents built as YAML is usually written (nested mappings and lists, one value a line,
# with varied indents and comments), then sometimes disturbed by one line.
_SAFE = ["1", "-1", "0x1f", ".5", "true", "~", "10:00", "text", "two words", "a #c", "'q'"]
_SCALARS = st.one_of(st.sampled_from(_SAFE), st.sampled_from([v for v in VALUES if v]))
_KEYS = st.one_of(st.sampled_from(["a", "b", "key", "1", "x.y"]), st.sampled_from(KEYS))
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.dictionaries(_KEYS, children, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


def _render(value: object, indent: int, step: int, dash: str, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                out.append(f"{pad}{key}:")
                _render(item, indent + step, step, dash, out)
            else:
                out.append(f"{pad}{key}: {item}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                inner: list[str] = []
                _render(item, indent + len(dash), step, dash, inner)
                out.append(pad + dash + inner[0].lstrip(" "))
                out.extend(inner[1:])
            elif isinstance(item, list):
                out.append(pad + dash.rstrip(" "))
                _render(item, indent + step, step, dash, out)
            else:
                out.append(f"{pad}{dash}{item}")
    else:
        out.append(f"{pad}{value}")


@st.composite
def _written(draw: st.DrawFn) -> str:
    tree = draw(st.dictionaries(_KEYS, _TREES, min_size=1, max_size=4))
    out: list[str] = []
    _render(tree, 0, draw(st.sampled_from([1, 2, 2, 4])), draw(st.sampled_from(["- ", "-  "])), out)
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(out)))
        out.insert(where, " " * draw(st.integers(0, 4)) + draw(st.sampled_from(["", "# c"])))
    if draw(st.booleans()):
        where = draw(st.integers(0, len(out) - 1))
        out[where] = " " * draw(st.integers(0, 3)) + out[where]
    return "\n".join(out) + "\n"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_written())
def test_written_documents_read_the_same_or_are_left_to_the_composers(text: str) -> None:
    _agrees(text)


def test_written_documents_often_take_the_line_reader() -> None:
    # The properties above must not pass by the reader giving up on everything.
    taken = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(_written())
    def read(text: str) -> None:
        taken.append(_agrees(text))

    read()
    assert sum(taken) > len(taken) / 10


@pytest.mark.parametrize(
    "text",
    [
        "k" * 1025 + ": v\n",
        "x:\n  - " + "k" * 1025 + ": v\n",
        "x:\n  " + "k" * 2000 + ":\n    y: 1\n",
    ],
)
def test_a_key_longer_than_yaml_allows_is_left_to_the_composers(text: str) -> None:
    # YAML scanners take at most 1024 characters for a simple key: a longer one is an error,
    # which the composers must report.
    assert load_plain(text) is None
    assert isinstance(_composed(text), list)
    _agrees(text)


def test_a_key_as_long_as_yaml_allows_reads_the_same() -> None:
    assert _agrees("k" * 1024 + ": v\nx:\n  - " + "j" * 1024 + ": w\n")


@pytest.mark.parametrize(
    "text",
    [
        "a: [a" + " " * 50_000 + "x\n",  # no closing bracket
        "a: [a" + " " * 50_000 + "\n",
        "a: [a" + " b" * 50_000 + " {\n",
    ],
)
def test_a_long_unfinished_flow_list_is_given_up_in_linear_time(text: str) -> None:
    # A regular expression that can split a run of spaces two ways backtracks quadratically
    # (these took seconds; a 1 MiB file, hours) before handing the text to the composers.
    started = time.perf_counter()
    assert load_plain(text) is None
    assert time.perf_counter() - started < 1.0
