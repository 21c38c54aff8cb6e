"""YAML for config files: YAML 1.2 core scalars, no timestamps, refused duplicate keys, and
the line of every key so that errors can name ``file:line``.

The Go implementation read pipeline files through Terraform's ``yamldecode`` and ``yaml.v3``,
which follow the YAML 1.2 core schema: ``yes``/``no``/``on``/``off`` are strings, ``10:00`` is
a string (PyYAML's YAML 1.1 rules would read it as the number 600), ``010`` is ten and dates
stay strings. This module reproduces that, so a Go-era file means the same thing here.

:func:`load_yaml` first offers the text to :mod:`~interlock_core.config.yaml_plain`, a line
reader for the plain block YAML most files are; whatever it is not sure of is composed here,
and every error is found and worded here.
"""

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from interlock_core.config.errors import ConfigError, ConfigIssue

PathElement = str | int
FieldPath = tuple[PathElement, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (real configs use fewer than ten levels)."""

MAX_VALUES = 20_000
"""Most values a document may hold once aliases are expanded (stops "billion laughs")."""

_TAG = "tag:yaml.org,2002:"
_NULL = f"{_TAG}null"
_BOOL = f"{_TAG}bool"
_INT = f"{_TAG}int"
_FLOAT = f"{_TAG}float"
_STR = f"{_TAG}str"
_MAP = f"{_TAG}map"
_SEQ = f"{_TAG}seq"
_MERGE = f"{_TAG}merge"
_TIMESTAMP = f"{_TAG}timestamp"

_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class LineResolver(BaseResolver):
    """The YAML 1.2 core schema's implicit types: no timestamps, no ``yes``/``no`` booleans,
    no base-60 numbers."""

    # An empty dict of our own, so that the resolvers below replace PyYAML's YAML 1.1 ones
    # instead of being appended to them.
    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}


LineResolver.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
LineResolver.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
LineResolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))
LineResolver.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
LineResolver.add_implicit_resolver(_MERGE, re.compile(r"^<<$"), ["<"])


class _LimitedComposer(Composer):
    """PyYAML's composer with a nesting limit (it recurses once per level)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node, refusing documents nested deeper than :data:`MAX_DEPTH`."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class LineLoader(_LimitedComposer, yaml.SafeLoader):
    """A pure-Python SafeLoader with :class:`LineResolver`'s types and a nesting limit.

    :func:`load_yaml` composes with it (or with the same composer over libyaml's parser, when
    PyYAML has libyaml) and builds plain Python values itself.
    """

    yaml_implicit_resolvers = LineResolver.yaml_implicit_resolvers


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLineLoader(_LimitedComposer, CParser, LineResolver):
        """The same composer and types over libyaml's parser (ten times faster)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _LimitedComposer.__init__(self)
            LineResolver.__init__(self)

    class _CLineLoader(CParser, LineResolver):
        """libyaml's parser and PyYAML's compiled composer with :class:`LineResolver`'s types:
        no Python call per node. Its composer recurses in C without a limit, so it only
        composes documents that cannot be deep (see :func:`_shallow`)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            LineResolver.__init__(self)

        # LineResolver's rules without the generic machinery (no path resolvers exist), as
        # the composer asks once per node.
        def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode:
                if implicit[0]:
                    for tag, pattern in _IMPLICIT.get(value[:1], ()):
                        if pattern.match(value):
                            return tag
                return _STR
            return _SEQ if kind is SequenceNode else _MAP

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    _IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = LineResolver.yaml_implicit_resolvers
    _LOADERS: tuple[type[Any], ...] = (_FastLineLoader, LineLoader)
    _COMPILED: type[Any] | None = _CLineLoader
else:  # pragma: no cover - PyYAML wheels ship libyaml
    _LOADERS = (LineLoader,)
    _COMPILED = None

# Every mapping, list or nesting level needs one of these characters of its own, so a text
# with fewer of them cannot nest deeper than that: far below what the compiled composer's
# C recursion can take. Real config files hold a few hundred.
_NESTING_CHARS = ("[", "{", "-", ":", "?")
_SHALLOW_LIMIT = 2_000


def _shallow(text: str) -> bool:
    """Whether ``text`` cannot nest deeper than :data:`_SHALLOW_LIMIT` levels."""
    total = 0
    for char in _NESTING_CHARS:
        total += text.count(char)
        if total > _SHALLOW_LIMIT:
            return False
    return True


_PLAIN_FIRST = True
"""Whether :func:`load_yaml` first tries :mod:`~interlock_core.config.yaml_plain`'s line
reader (tests switch it off to compare it with the composers)."""


def _compose_compiled(text: str) -> tuple[bool, Node | None]:
    """(True, the document's node) composed by the compiled composer; (False, None) when it
    cannot be used or reports any problem (the Python composer then reports it, in its own
    words: the compiled one names no alias or anchor)."""
    if _COMPILED is None or not _shallow(text):
        return False, None
    try:
        loader = _COMPILED(text)
        try:
            node: Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except Exception:
        return False, None
    return True, node


@dataclass(frozen=True)
class YamlDocument:
    """A loaded YAML document.

    Attributes:
        data: plain Python values: dicts with string keys, lists, str, int, float, bool, None.
        lines: the 1-based line of every mapping key and list item, by field path
            (``("validation", "rules", 1, "value")``); ``()`` is the document's first line.
    """

    data: Any
    lines: dict[FieldPath, int]

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def load_yaml(text: str, source: str = "<string>", *, pure: bool = False) -> YamlDocument:
    """Parse one YAML document, recording the line of every key.

    Args:
        text: the YAML text.
        source: the file name used in error messages.
        pure: parse with PyYAML's Python parser even when libyaml is available (the values
            and lines are the same; syntax error wording may differ slightly).

    Returns:
        The document; ``data`` is None for an empty file.

    Raises:
        ConfigError: the text is not valid YAML, holds more than one document, repeats a key
            in a mapping, uses a tag other than the standard ones, or is nested or aliased
            beyond the limits.
    """
    if not pure and _PLAIN_FIRST:
        from interlock_core.config.yaml_plain import load_plain

        plain = load_plain(text)
        if plain is not None:
            return YamlDocument(*plain)
    loader_class = LineLoader if pure else _LOADERS[0]
    composed, node = (False, None) if pure else _compose_compiled(text)
    if composed:
        try:
            return _build(node, source)
        except ConfigError:
            pass  # reported below by the Python composer, with the same words and lines
    try:
        # The reader already checks the characters when the loader is created.
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_issue(exc, source, text)) from None
    except yaml.reader.ReaderError as exc:
        # libyaml counts positions in UTF-8 bytes, PyYAML in characters.
        before = (
            text[: exc.position]
            if loader_class is LineLoader
            else text.encode("utf-8", "surrogatepass")[: exc.position].decode("utf-8", "replace")
        )
        line = before.count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        message = f"invalid YAML: character {char!r} is not allowed in a YAML file"
        raise ConfigError(ConfigIssue(message, file=source, line=line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue(f"invalid YAML: {exc}", file=source)) from None
    except UnicodeError as exc:
        # Text that is not valid Unicode (a lone surrogate) cannot be handed to libyaml.
        where = exc.start if isinstance(exc, UnicodeEncodeError) else 0
        char = text[where] if isinstance(exc, UnicodeEncodeError) else "?"
        message = f"invalid YAML: character {char!r} is not allowed in a YAML file"
        line = text[:where].count("\n") + 1
        raise ConfigError(ConfigIssue(message, file=source, line=line)) from None
    except RecursionError:
        message = f"invalid YAML: nested more than {MAX_DEPTH} levels deep"
        raise ConfigError(ConfigIssue(message, file=source)) from None
    return _build(node, source)


def _build(node: Node | None, source: str) -> YamlDocument:
    builder = _Builder(source)
    data = None if node is None else builder.build(node, ())
    builder.lines.setdefault((), 1)
    return YamlDocument(data, builder.lines)


def _syntax_issue(exc: yaml.MarkedYAMLError, source: str, text: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    if exc.problem == "but found another document" or exc.context == (
        "expected a single document in the stream"
    ):
        return ConfigIssue(
            "a config file holds exactly one YAML document; found a second one ('---')",
            file=source,
            line=line,
        )
    problem = exc.problem or exc.context or "invalid syntax"
    lines = text.splitlines()
    problem_line = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    if "'\\t'" in problem or ("cannot start any token" in problem and "\t" in problem_line):
        return ConfigIssue(
            "invalid YAML: a tab character where YAML needs spaces (indent with spaces)",
            file=source,
            line=line,
        )
    message = f"invalid YAML: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return ConfigIssue(message, file=source, line=line)


class _Builder:
    """Turns composed nodes into plain values, recording lines and enforcing the limits."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[FieldPath, int] = {}
        self._count = 0
        self._open: set[int] = set()  # ids of the nodes being built: an alias to one is a cycle

    def fail(self, message: str, node: Node) -> ConfigError:
        return ConfigError(ConfigIssue(message, file=self.source, line=node.start_mark.line + 1))

    def build(self, node: Node, path: FieldPath) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            raise self.fail(
                f"the document is too large: more than {MAX_VALUES} values "
                "(after expanding aliases)",
                node,
            )
        if id(node) in self._open:
            raise self.fail("invalid YAML: an alias refers to a node that contains it", node)
        if len(self._open) >= MAX_DEPTH:
            raise self.fail(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise self.fail(f"unsupported YAML tag {_short(node.tag)}", node)
                items = []
                for index, item in enumerate(node.value):
                    self.lines[(*path, index)] = item.start_mark.line + 1
                    items.append(self.build(item, (*path, index)))
                return items
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._open.discard(id(node))
        raise self.fail(f"unsupported YAML node {type(node).__name__}", node)

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self.fail(f"unsupported YAML tag {_short(node.tag)}", node)
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.fail("mapping keys must be plain text, not lists or mappings", key_node)
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                self._merge(value_node, path, merged)
                continue
            # The key's text as written: JSON (and Go's decoder) only know string keys.
            key = key_node.value
            if key in first_line:
                raise self.fail(
                    f"duplicate key {key!r} (first at line {first_line[key]})", key_node
                )
            first_line[key] = line
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key))
        # Explicit keys win over merged ones, as YAML's merge key specifies.
        return {**{k: v for k, v in merged.items() if k not in result}, **result}

    def _merge(self, value_node: Node, path: FieldPath, merged: dict[str, Any]) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.fail("a merge key ('<<') needs a mapping or a list of mappings", source)
            for key, value in self.build(source, path).items():
                # Earlier mappings in a merge list win over later ones.
                merged.setdefault(key, value)

    def _scalar(self, node: ScalarNode) -> Any:
        text: str = node.value
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            # Timestamps stay text: dates are validated (and parsed) by the models.
            return text
        if tag == _NULL:
            if _NULL_RE.match(text):
                return None
        elif tag == _BOOL:
            if _BOOL_RE.match(text):
                return text.lower() == "true"
        elif tag == _INT:
            if _INT_RE.match(text):
                return self._int(text, node)
        elif tag == _FLOAT:
            if _FLOAT_RE.match(text) or _INT_RE.match(text):
                return self._float(text)
        else:
            raise self.fail(f"unsupported YAML tag {_short(tag)}", node)
        raise self.fail(f"{text!r} is not a valid {_short(tag)}", node)

    def _int(self, text: str, node: ScalarNode) -> int:
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        except ValueError:
            # Python refuses to convert integers of thousands of digits.
            raise self.fail(f"the number {text[:20]}... is too large", node) from None

    @staticmethod
    def _float(text: str) -> float:
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(text)


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
