"""Every public class of pmgsam that takes arguments documents them in an "Arguments:" section.

The section is how segment-anything (which pmgsam's style follows) documents constructors, and
``help(cls)`` is where a user reads it. A class counts as public when its name does not start
with "_"; it takes arguments when its signature (its own or an inherited ``__init__``, those
generated for dataclasses and NamedTuples included) has any. Classes whose constructor is a
builtin's (exceptions, warnings: the message) are left out, as are ``typing.Protocol`` classes
(never built). ``__main__`` modules are not imported: importing one runs its command.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import List, Optional, Protocol, Tuple

import pmgsam
from pmgsam.utils.cli import MissingDependencyError

SECTION = "Arguments:"


def _missing_third_party(err: BaseException) -> Optional[str]:
    """The absent non-pmgsam package behind an import error (directly or as its cause)."""
    while err is not None:
        name = getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None
        root = (name or "").split(".")[0]
        if root and root != "pmgsam" and importlib.util.find_spec(root) is None:
            return root
        err = err.__cause__
    return None


def _modules() -> Tuple[List[ModuleType], List[str]]:
    """Every importable pmgsam module, and those skipped for a missing optional package."""
    modules, skipped = [pmgsam], []
    for info in pkgutil.walk_packages(pmgsam.__path__, prefix="pmgsam."):
        if info.name.endswith(".__main__"):  # ``python -m`` entry points run their command
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as err:
            missing = _missing_third_party(err)
            if missing is None:
                raise
            skipped.append(f"{info.name} (needs {missing})")
    return modules, skipped


def _takes_arguments(cls: type) -> bool:
    """Whether building the class takes arguments, unless its constructor is a builtin's."""
    if getattr(cls, "_is_protocol", False):  # a typing.Protocol describes, is never built
        return False
    for base in cls.__mro__[:-1]:  # the last is object, whose constructor takes none
        if "__init__" in vars(base) or "__new__" in vars(base):
            # Exceptions and warnings take BaseException's *args: the message, documented there.
            if base.__module__ == "builtins":
                return False
            break
    else:
        return False
    return bool(inspect.signature(cls).parameters)


def _undocumented(module: ModuleType) -> List[str]:
    return [
        f"{module.__name__}.{name}"
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and cls.__module__ == module.__name__
        and not name.startswith("_")
        and _takes_arguments(cls)
        and SECTION not in (cls.__doc__ or "")
    ]


def test_every_public_class_with_arguments_documents_them() -> None:
    modules, _ = _modules()
    offenders = [name for module in modules for name in _undocumented(module)]
    assert offenders == [], f"public classes without an {SECTION!r} docstring section: {offenders}"


def test_the_walk_sees_the_subpackages_and_skips_only_optional_packages() -> None:
    modules, skipped = _modules()
    names = {module.__name__ for module in modules}
    # A walk that stopped at the top level, or imported nothing, would pass the check above.
    assert {"pmgsam.modeling.pmgsam", "pmgsam.engine.config", "pmgsam.utils.cli"} <= names
    assert all(s.startswith("pmgsam.baselines.sam2 ") for s in skipped), skipped


def test_only_a_missing_third_party_package_skips_a_module() -> None:
    absent = ModuleNotFoundError("No module named 'no_such_pkg'", name="no_such_pkg.sub")
    wrapped = MissingDependencyError("install it")
    wrapped.__cause__ = absent
    assert _missing_third_party(absent) == "no_such_pkg"
    assert _missing_third_party(wrapped) == "no_such_pkg"  # as pmgsam.baselines.sam2 raises it
    # pmgsam's own broken import, or an installed package's missing name, must fail the test.
    assert _missing_third_party(ModuleNotFoundError("x", name="pmgsam.gone")) is None
    assert _missing_third_party(ImportError("cannot import name 'x' from 'numpy'")) is None
    assert _missing_third_party(ModuleNotFoundError("x", name="numpy")) is None


def test_the_check_tells_documented_from_undocumented_classes() -> None:
    module = ModuleType("pmgsam.fake")

    @dataclass
    class Documented:
        """A thing.

        Arguments:
          size (int): its size.
        """

        size: int

    @dataclass
    class Undocumented:
        """A thing whose size is its size."""

        size: int

    class NoArguments:
        """Built without arguments."""

    class Failure(ValueError):
        """An error: BaseException's message argument is documented there."""

    class Interface(Protocol):
        """What a module provides (typing.Protocol's constructor takes *args)."""

    for cls in (Documented, Undocumented, NoArguments, Failure, Interface):
        cls.__module__ = module.__name__
        setattr(module, cls.__name__, cls)
    assert _undocumented(module) == ["pmgsam.fake.Undocumented"]
