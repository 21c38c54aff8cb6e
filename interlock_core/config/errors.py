"""ConfigError: what is wrong with a pipeline file, and where."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file.

    Attributes:
        message: what is wrong, in one sentence.
        file: the file it is in, if known.
        line: the 1-based line, if known.
        path: the field path, e.g. ``schedule.trigger.check``.
        hint: a suggestion such as ``did you mean 'equals'?``.
    """

    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(ValueError):
    """A pipeline or calendar file is invalid. ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(issues)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @property
    def file(self) -> str | None:
        """The file of the first issue."""
        return self.issues[0].file if self.issues else None

    @property
    def line(self) -> int | None:
        """The line of the first issue."""
        return self.issues[0].line if self.issues else None

    @property
    def path(self) -> str | None:
        """The field path of the first issue."""
        return self.issues[0].path if self.issues else None
