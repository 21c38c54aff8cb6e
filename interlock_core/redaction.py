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


# ``$INTERLOCK_X`` / ``${INTERLOCK_X}`` references a job config expands from the environment.
_INTERLOCK_REFERENCE = re.compile(r"\$\{?(INTERLOCK_[A-Za-z0-9_]*)")
# The run's own values: expanded into requests, but not secrets.
_RUN_VARIABLES = frozenset(
    {"INTERLOCK_PIPELINE", "INTERLOCK_PERIOD", "INTERLOCK_ATTEMPT", "INTERLOCK_TOKEN"}
)


def job_credential_names(config: Any) -> set[str]:
    """The environment variables a job config sends to its target: every ``*_env`` field
    (``tokenEnv``, ``usernameEnv``, ``passwordEnv``, …), a command job's ``env`` list and
    every ``$INTERLOCK_*`` reference
    in its headers, body or arguments. Their values may come back in an error body, whatever
    the variables are called, so they are redacted like secret-looking ones.

    Args:
        config: a job config (a pydantic model, a mapping, or nested lists and strings).
    """
    names: set[str] = set()

    def walk(value: Any, field: str = "") -> None:
        if hasattr(value, "model_dump"):
            if getattr(value, "__pydantic_root_model__", False):
                walk(value.root, field)  # model_dump() lists a root model as its root
                return
            # The fields, extras and computed fields ``model_dump()`` would list, without
            # building the model's serializer (a field excluded from it is walked too: a name
            # more to redact is harmless).
            value = {
                **value.__dict__,
                **(getattr(value, "__pydantic_extra__", None) or {}),
                **{name: getattr(value, name) for name in type(value).model_computed_fields},
            }
        if isinstance(value, str):
            if field == "env" or field.endswith(("_env", "Env")):
                names.add(value)
            names.update(_INTERLOCK_REFERENCE.findall(value))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, str(key))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, field)

    walk(config)
    return names - _RUN_VARIABLES


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
