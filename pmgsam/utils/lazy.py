"""Names of a package imported from its modules on first use (PEP 562).

Torch-free entry points (``--help``, scoring workers, table reports) import a package without
paying for the modules behind its names until one is used.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, List, Mapping, Tuple


def lazy_exports(
    package: str, where: Mapping[str, str]
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose name ``n`` lives in its module
    ``<package>.<where[n]>``; a name found once is kept in the package's namespace. A name not
    in ``where`` is an :class:`AttributeError` worded as Python's own, so ``hasattr`` and
    ``from package import name`` behave as for an ordinary module."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
