"""A fast reader for the plain block YAML that config files are written in.

Pipeline files are nearly always block mappings and lists of plain or simply quoted scalars,
one per line. Reading those line by line is several times cheaper than composing libyaml's
node tree and walking it again, and it knows each line without asking. Anything this reader
is not sure of — tabs, carriage returns, non-ASCII text, anchors, aliases, tags, block or
multi-line scalars, flow mappings, quoted keys, escapes, a repeated key, odd indentation,
document markers, deep nesting — makes it give up (``None``), and :func:`load_yaml` reads the
file with the composers as before; so every error is still found and worded by them.

Values and lines are exactly those :func:`load_yaml`'s composers give (tests compare them).
"""

import re
from typing import Any

from interlock_core.config.yaml_lines import (
    _BOOL,
    _FLOAT,
    _INT,
    _NULL,
    _STR,
    MAX_DEPTH,
    MAX_VALUES,
    FieldPath,
    LineResolver,
    _Builder,
)

_IMPLICIT = LineResolver.yaml_implicit_resolvers

# Tabs, carriage returns, control and non-ASCII characters: left to the composers (and the
# reader's character checks).
_UNSURE_TEXT = re.compile(r"[^\x20-\x7e\n]")
# Every line: its indent; the "- " of a list item; a "key:" followed by a space or the end of
# the line; the rest of the line.
_LINES = re.compile(
    r"^( *)(-(?: +|$)|)(?:([A-Za-z0-9_][A-Za-z0-9_.$/-]*):(?: +|$)|)(.*)$", re.MULTILINE
)
_DOUBLE = re.compile(r'"([^"\\]*)"(?: +#.*)? *')
_SINGLE = re.compile(r"'([^']*)'(?: +#.*)? *")
# A plain scalar starts with none of YAML's indicators ("-" only before a digit or dot).
_PLAIN_START = re.compile(r"[A-Za-z0-9_./~+($=]|-[0-9.]")
# A plain item is words joined by single runs of spaces: a run of spaces must not be
# splittable between the item and the spaces after it, or a long unfinished list
# backtracks quadratically.
_FLOW_ITEM = re.compile(
    r' *(?:"([^"\\]*)"|\'([^\']*)\'|((?:[A-Za-z0-9_./+($=]|-[A-Za-z0-9_./+($=])'
    r"[A-Za-z0-9_./+()$=-]*(?: +[A-Za-z0-9_./+()$=-]+)*)) *([,\]])"
)
_FLOW_END = re.compile(r"(?: +#.*)? *")
_EMPTY_FLOW = re.compile(r"\[ *\]")
_DEEPEST = min(MAX_DEPTH, 32)
# YAML scanners (PyYAML's and libyaml's) take at most 1024 characters for a simple key; a
# longer one is an error the composers report.
_LONGEST_KEY = 1024
_MOST_VALUES = MAX_VALUES // 2

# First characters that start a plain scalar with no further check (see _PLAIN_START), and
# last characters that need _value's trimming or refusal.
_PLAIN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./~+($=")
_PLAIN_NOT_LAST = frozenset(" :")
_MISSING = object()

_plain_cache: dict[str, Any] = {}


class _Unsure(Exception):
    """Raised inside the reader: this text is for the composers."""


def load_plain(text: str) -> tuple[dict[str, Any], dict[FieldPath, int]] | None:
    """(data, lines) of a document this reader is sure of; None for every other text.

    Args:
        text: the YAML text.

    Returns:
        The root mapping and the 1-based line of every key and list item by field path
        (``()`` is line 1), as :class:`~interlock_core.config.yaml_lines.YamlDocument`
        holds them; None when the text needs the full YAML reader.
    """
    if _UNSURE_TEXT.search(text) is not None:
        return None
    try:
        return _read(text)
    except _Unsure:
        return None


def _read(text: str) -> tuple[dict[str, Any], dict[FieldPath, int]] | None:
    root: dict[str, Any] = {}
    lines: dict[FieldPath, int] = {}
    # Open blocks, innermost last: (column, container, path, is a list).
    stack: list[tuple[int, Any, FieldPath, bool]] = [(0, root, (), False)]
    # A "key:" with nothing after it: (its mapping's column, the mapping, key, path).
    pending: tuple[int, dict[str, Any], str, FieldPath] | None = None
    # After a line that ended in a value, the next line may not be deeper (that would
    # continue a multi-line scalar, or be an error).
    deepest = -1
    number = 0
    for indent, dash, key, rest in _LINES.findall(text):
        number += 1
        if not key and not dash:
            if not rest or rest[0] == "#":
                continue  # blank, or a comment
            return None  # a scalar on its own line, a document marker, "? key", ...
        column = len(indent)
        if pending is not None:
            owner_column, owner, owner_key, owner_path = pending
            pending = None
            if column > owner_column:
                block: Any = [] if dash else {}
                owner[owner_key] = block
                stack.append((column, block, owner_path, bool(dash)))
                if len(stack) > _DEEPEST:
                    return None
            elif column == owner_column and dash:
                return None  # a list at its key's column: left to the composers
        elif column > deepest >= 0:
            return None
        while stack[-1][0] > column:  # the root, at column 0, is never closed
            stack.pop()
        top_column, container, path, is_list = stack[-1]
        if top_column != column:
            return None
        if is_list:
            if not dash:
                return None
            item_path = (*path, len(container))
            lines[item_path] = number
            if not key:
                if not rest or rest[0] == "#":
                    return None  # "-" with its item on the next lines
                container.append(_value(rest, item_path, number, lines))
                deepest = column
                continue
            mapping: dict[str, Any] = {}
            container.append(mapping)
            column += len(dash)
            stack.append((column, mapping, item_path, False))
            if len(stack) > _DEEPEST:
                return None
            container, path = mapping, item_path
        elif dash:
            return None
        if key in container or len(key) > _LONGEST_KEY:
            return None  # a repeated or too long key: reported by the composers
        key_path = (*path, key)
        lines[key_path] = number
        if not rest or rest[0] == "#":
            container[key] = None
            pending = (column, container, key, key_path)
            deepest = -1
        else:
            if (
                rest[0] in _PLAIN_FIRST
                and rest[-1] not in _PLAIN_NOT_LAST
                and " #" not in rest
                and ": " not in rest
            ):
                # The common line "key: plain words", as _value reads it, without the call.
                value = _plain_cache.get(rest, _MISSING)
                container[key] = _plain(rest) if value is _MISSING else value
            else:
                container[key] = _value(rest, key_path, number, lines)
            deepest = column
    if not lines or len(lines) > _MOST_VALUES:
        # No content (the composers say what an empty document is), or so many values that
        # the composers' limit must judge them (each value but the root has its line).
        return None
    lines[()] = 1  # last, as the composers' builder adds it
    return root, lines


def _value(rest: str, path: FieldPath, number: int, lines: dict[FieldPath, int]) -> Any:
    first = rest[0]
    if first == '"':
        quoted = _DOUBLE.fullmatch(rest)
        if quoted is None:
            raise _Unsure
        return quoted.group(1)
    if first == "'":
        quoted = _SINGLE.fullmatch(rest)
        if quoted is None:
            raise _Unsure
        return quoted.group(1)
    if first == "[":
        return _flow(rest, path, number, lines)
    if _PLAIN_START.match(rest) is None:
        raise _Unsure
    comment = rest.find(" #")
    if comment >= 0:
        rest = rest[:comment]
    rest = rest.rstrip(" ")
    if ": " in rest or rest.endswith(":"):
        raise _Unsure
    return _plain(rest)


def _flow(rest: str, path: FieldPath, number: int, lines: dict[FieldPath, int]) -> list[Any]:
    """A one-line flow list of plain or simply quoted scalars: ``[a, "b c", 'd']``."""
    empty = _EMPTY_FLOW.match(rest)
    if empty is not None:
        if _FLOW_END.fullmatch(rest, empty.end()) is None:
            raise _Unsure
        return []
    items: list[Any] = []
    position = 1
    while True:
        item = _FLOW_ITEM.match(rest, position)
        if item is None:
            raise _Unsure
        double, single, plain, end = item.groups()
        lines[(*path, len(items))] = number
        if double is not None:
            items.append(double)
        elif single is not None:
            items.append(single)
        else:
            items.append(_plain(plain))
        position = item.end()
        if end == "]":
            break
    if _FLOW_END.fullmatch(rest, position) is None:
        raise _Unsure
    return items


def _plain(text: str) -> Any:
    """A plain scalar's value under :class:`~interlock_core.config.yaml_lines.LineResolver`,
    converted as the composers' builder converts it."""
    try:
        return _plain_cache[text]
    except KeyError:
        pass
    tag = _STR
    for candidate, pattern in _IMPLICIT.get(text[:1], ()):
        if pattern.match(text):
            tag = candidate
            break
    value: Any
    if tag == _STR:
        value = text
    elif tag == _NULL:
        value = None
    elif tag == _BOOL:
        value = text.lower() == "true"
    elif tag == _INT:
        if len(text) > 100:
            raise _Unsure  # Python's limit on long numbers is the composers' to report
        value = (
            int(text[2:], 8)
            if text.startswith("0o")
            else (int(text[2:], 16) if text.startswith("0x") else int(text, 10))
        )
    elif tag == _FLOAT:
        value = _Builder._float(text)
    else:
        raise _Unsure  # "<<" as a value: the composers say why it is refused
    if len(_plain_cache) > 4096:
        _plain_cache.clear()
    _plain_cache[text] = value
    return value
