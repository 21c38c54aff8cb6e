"""Text that leaves Interlock: secrets redacted, terminal control characters escaped.

Job messages, error texts and file names come from outside (a job's HTTP answer, a pipeline
file's name); they are stored in events and printed on terminals. Two rules hold for all:

* a known secret value — an environment variable a job or channel may use as a credential —
  never appears in anything stored or printed (:func:`redact`);
* nothing printed can move the cursor, rewrite a terminal line or forge a log line
  (:func:`printable`).
"""

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
# Environment variables whose values are treated as secrets wherever they show up.
_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|COOKIE|"
    r"SESSION|WEBHOOK|DSN|CONN(ECTION)?_?STRING)",
    re.IGNORECASE,
)
# Shorter values are too likely to occur by chance ("1", "true") to be replaced.
MIN_SECRET_LENGTH = 6


def secret_values(env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> list[str]:
    """The values of secret-looking environment variables (and ``extra``), longest first.

    Args:
        env: the environment (default: ``os.environ``).
        extra: more values to treat as secrets (e.g. a token resolved from ``tokenEnv``).
    """
    source = os.environ if env is None else env
    values = {value for name, value in source.items() if _SECRET_NAME.search(name)}
    values.update(extra)
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every secret value replaced by ``[REDACTED]``.

    Args:
        text: a message about to be stored or printed.
        secrets: the values to hide (default: :func:`secret_values` of ``os.environ``).
    """
    for value in secret_values() if secrets is None else secrets:
        if value and value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_values(data: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """``data`` with :func:`redact` applied to every string in it (nested too)."""
    values = list(secrets)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, values)
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return {key: clean(item) for key, item in data.items()} if values else data


def printable(text: str) -> str:
    """``text`` with control and format characters (ESC, newlines, bidi overrides) escaped."""
    if text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)
