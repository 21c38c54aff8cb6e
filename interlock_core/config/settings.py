"""Reading ``interlock.yaml``, the operator's settings file, as carefully as pipeline files.

The settings file decides where alerts go and what pipeline files may make Interlock do (the
``jobs`` section, see :mod:`interlock_core.jobs.policy`), so it is read with the same hardened
reader and YAML loader as pipeline files: size and nesting limits, duplicate keys are errors,
no custom tags, no FIFOs or other non-regular files.
"""

import os
from pathlib import Path
from typing import Any

from interlock_core.config.errors import ConfigError, ConfigIssue
from interlock_core.config.loader import read_config_text
from interlock_core.config.yaml_lines import load_yaml


def read_settings(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The settings document, or None when there is no file (or it is empty).

    Raises:
        ConfigError: the file cannot be read, is not valid YAML (duplicate keys included),
            is too large or too deep, or is not a mapping.
    """
    if path is None:
        return None
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        return None
    document = load_yaml(read_config_text(file), str(file))
    if document.data is None:
        return None
    if not isinstance(document.data, dict):
        raise ConfigError(ConfigIssue("must be a mapping", file=str(file)))
    return document.data
