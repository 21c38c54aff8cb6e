"""Where a document being loaded came from: its field paths as written, its issues and its
warnings (shared by the loader, the key normalization and the error translation)."""

import re

from interlock_core.config.errors import ConfigIssue
from interlock_core.config.yaml_lines import FieldPath, YamlDocument

__all__ = ["Context", "format_path", "short"]


def format_path(path: FieldPath) -> str:
    """Write a field path the way it reads in YAML: ``validation.rules[1].value``."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
            continue
        # A key is the only part of a file an error repeats, and only its start.
        element = short(element)
        if re.fullmatch(r"[A-Za-z0-9_$-]+", element):
            text += f".{element}" if text else element
        else:
            text += f"[{element!r}]"
    return text


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Context:
    """Where a document came from, how its keys were renamed, and its warnings."""

    def __init__(self, source: str, document: YamlDocument, warnings: list[str]) -> None:
        self.source = source
        self.document = document
        self.warnings = warnings
        self._own: list[tuple[int, str]] = []
        # (normalized parent path, canonical key) -> the key as written
        self.renames: dict[tuple[FieldPath, str], str] = {}

    def written(self, path: FieldPath) -> FieldPath:
        """The path with every key as written in the file."""
        out: list[str | int] = []
        for position, element in enumerate(path):
            if isinstance(element, str):
                out.append(self.renames.get((path[:position], element), element))
            else:
                out.append(element)
        return tuple(out)

    def line_of(self, path: FieldPath) -> int | None:
        return self.document.line_of(self.written(path))

    def issue(self, path: FieldPath, message: str, hint: str | None = None) -> ConfigIssue:
        written = format_path(self.written(path)) or None
        return ConfigIssue(message, self.source, self.line_of(path), written, hint)

    def warn(self, path: FieldPath, message: str) -> None:
        text = str(self.issue(path, message))
        self._own.append((self.line_of(path) or 0, text))

    def sorted_warnings(self) -> list[str]:
        """This document's warnings in line order."""
        return [text for _, text in sorted(self._own, key=lambda item: item[0])]

    def flush(self) -> None:
        """Hand this document's warnings to the shared list (in line order)."""
        self.warnings.extend(self.sorted_warnings())
        self._own.clear()
