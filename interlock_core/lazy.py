"""A module imported on its first attribute access, for start-up paths that may not need it.

``interlock --help`` must not pay for pydantic, rich or the engine, yet command bodies read
naturally as ``fmt.runs_table(...)``: ``fmt = lazy_module("interlock_core.cli_format")``
(with the real import under ``TYPE_CHECKING`` for the type checker) imports the module the
first time a command uses it.
"""

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute read imports it (later reads are direct)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # copy, pickle and repr probes must not import
            raise AttributeError(attribute)
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A :class:`LazyModule` for ``name`` (typed ``Any``: declare the real module under
    ``TYPE_CHECKING`` where types matter)."""
    return LazyModule(name)


def submodule(package: str, name: str) -> ModuleType:
    """``package.name`` imported, for a lazy package's ``__getattr__``: ``import pkg`` then
    ``pkg.sub.thing`` worked while the package imported its submodules up front, so it keeps
    working now that it does not.

    Raises:
        AttributeError: ``package`` has no submodule ``name`` (the error ``__getattr__`` owes).
    """
    from importlib.util import find_spec

    missing = AttributeError(f"module {package!r} has no attribute {name!r}")
    if name.startswith("_") or not name.isidentifier():
        raise missing
    qualified = f"{package}.{name}"
    if find_spec(qualified) is None:
        raise missing
    return importlib.import_module(qualified)


def lazy_exports(
    package: str,
    exports: dict[str, str],
    all_names: list[str],
    namespace: dict[str, Any],
    *,
    keep: bool = True,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's PEP 562 ``__getattr__`` and ``__dir__`` for names loaded on first use.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module that defines it.
        all_names: the package's ``__all__``.
        namespace: the package's ``globals()``.
        keep: store a loaded name in ``namespace`` so later reads skip ``__getattr__`` (off
            where tests replace the name in its defining module and the package must follow).

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level. A name that is not
        an export is looked up as a submodule (:func:`submodule`).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            return submodule(package, name)
        value = getattr(importlib.import_module(module), name)
        if keep:
            namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *all_names})

    return __getattr__, __dir__
