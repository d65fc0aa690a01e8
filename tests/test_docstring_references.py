"""Every Sphinx cross-reference in pmgsam's docstrings and comments names something that exists.

Readers follow :func:`name`, :class:`pmgsam.x.Name` and the like, and modules move: a reference
left behind misleads. A fully qualified reference (``pmgsam.a.b.name``, with or without ``~``)
must import and ``getattr``, and a function or class it names must be defined in the module it
names (not merely imported there after a move), unless that module is a package whose
``__init__`` exports the name. An unqualified one (``name``, ``Class.attr``, ``.module``) must
be found in its own module: a name defined or imported there (the module's lazy exports
included), a member of a class defined there, a builtin, or (with a leading dot) a name under the
module's package. ``__main__`` modules are read, not imported (importing one runs its command),
as are modules whose optional package is not installed.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pmgsam

PACKAGE_DIR = Path(pmgsam.__file__).parent
# Domain-qualified roles (:py:func:, :c:func:) are left out: pmgsam writes none, and
# pmgsam/utils/cli.py quotes them as examples in a comment.
ROLE = re.compile(r"(?<![\w:]):(func|class|meth|mod|data|attr|exc|obj|const):`([^`]+)`")


def target_of(text: str) -> str:
    """What a role's text points at: joined across lines (and ``#`` of a comment), without a
    title (``text <target>``), a leading ``~`` or ``!``, or a trailing ``()``."""
    text = re.sub(r"\s+#?\s*", "", text)
    titled = re.search(r"<([^<>]+)>$", text)
    target = (titled.group(1) if titled else text).lstrip("~!")
    return target[:-2] if target.endswith("()") else target


def references(text: str) -> Iterator[Tuple[int, str, str]]:
    """``(line, role, target)`` of every reference in a file's text (a role may span lines)."""
    for match in ROLE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield line, match.group(1), target_of(match.group(2))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str) -> Optional[Path]:
    """The file of pmgsam module ``name``, if there is one."""
    base = PACKAGE_DIR.parent.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def bound_names(path: Path) -> Tuple[Set[str], Dict[str, Set[str]]]:
    """The names a file binds at module level (also under ``if``/``try``, and imports anywhere),
    and the members (methods, class attributes, ``self.x``) of each class it defines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: Set[str] = set()
    members: Dict[str, Set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, (ast.Assign, ast.AnnAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        if isinstance(node, ast.ClassDef):
            found = members.setdefault(node.name, set())
            for sub in ast.walk(node):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found.add(sub.name)
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    found.add(sub.id)
                elif (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                ):
                    found.add(sub.attr)
    return names, members


_IMPORTED: Dict[str, Any] = {}


def imported(name: str) -> Optional[Any]:
    """Module ``name`` imported, or None where it is only read: a ``__main__``, or a module whose
    optional third-party package is missing. A pmgsam module that fails otherwise fails here."""
    if name not in _IMPORTED:
        _IMPORTED[name] = None
        if name.split(".")[-1] != "__main__":
            try:
                _IMPORTED[name] = importlib.import_module(name)
            except ImportError as err:
                cause = err if isinstance(err, ModuleNotFoundError) else err.__cause__
                root = (getattr(cause, "name", None) or "").split(".")[0]
                if not root or root == "pmgsam" or importlib.util.find_spec(root) is not None:
                    raise
    return _IMPORTED[name]


def class_member(cls: type, name: str) -> Tuple[bool, Any]:
    """Whether ``cls`` has ``name``, counting dataclass fields and attributes set in
    ``__init__``, which ``getattr`` on the class does not see; and its value when it has one."""
    if hasattr(cls, name):
        return True, getattr(cls, name)
    for base in cls.__mro__[:-1]:
        module = getattr(inspect.getmodule(base), "__file__", None)
        if name in getattr(base, "__annotations__", {}):
            return True, None
        if module and name in bound_names(Path(module))[1].get(base.__name__, ()):
            return True, None
    return False, None


def attribute_path(obj: Any, parts: List[str]) -> Tuple[bool, Any]:
    """Follow ``parts`` from ``obj`` (submodules imported as needed); ``(found, value)``, the
    value None when only the source shows the name."""
    for part in parts:
        if obj is None:
            return True, None
        if inspect.isclass(obj):
            found, obj = class_member(obj, part)
            if not found:
                return False, None
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        elif inspect.ismodule(obj) and module_file(f"{obj.__name__}.{part}"):
            obj = imported(f"{obj.__name__}.{part}")
        else:
            return False, None
    return True, obj


def qualified_problem(target: str) -> Optional[str]:
    """What is wrong with a reference to ``pmgsam.…``, or None."""
    parts = target.split(".")
    # The longest prefix with a file (pmgsam itself at least) is the module; the rest its names.
    depth = max(i for i in range(1, len(parts) + 1) if module_file(".".join(parts[:i])))
    owner, rest = ".".join(parts[:depth]), parts[depth:]
    module = imported(owner)
    if module is None:  # only read: its source must bind the name (and the class the member)
        names, members = bound_names(module_file(owner))
        if rest and (rest[0] not in names or rest[1:2] and rest[1] not in members.get(rest[0], ())):
            return f"{owner} does not define {'.'.join(rest[:2])}"
        return None
    if not attribute_path(module, rest)[0]:
        return f"{owner} has no {'.'.join(rest)}"
    first = getattr(module, rest[0]) if rest else None
    exported = module_file(owner).name == "__init__.py"  # a package's names are its interface
    if (inspect.isfunction(first) or inspect.isclass(first)) and not exported:
        if first.__module__.startswith("pmgsam") and first.__module__ != owner:
            return f"only imported there: defined in {first.__module__}"
    return None


def unqualified_problem(target: str, path: Path) -> Optional[str]:
    """What is wrong with a reference to ``target`` written in ``path``, or None."""
    name = module_name(path)
    if target.startswith("."):
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        return qualified_problem(package + target)
    head, *rest = target.split(".")
    module = imported(name)
    if module is not None and hasattr(module, head):
        found, _ = attribute_path(getattr(module, head), rest)
        return None if found else f"{head} has no {'.'.join(rest)}"
    names, members = bound_names(path)
    if module is None and head in names:
        return None if head not in members or not rest or rest[0] in members[head] else "no member"
    if not rest and (hasattr(builtins, head) or any(head in m for m in members.values())):
        return None
    return f"not defined or imported in {name}"


def stale_references() -> List[str]:
    problems = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR).as_posix()
        for line, role, target in references(path.read_text(encoding="utf-8")):
            if target.split(".")[0] == "pmgsam":
                problem = qualified_problem(target)
            else:
                problem = unqualified_problem(target, path)
            if problem:
                problems.append(f"pmgsam/{relative}:{line} :{role}:`{target}`: {problem}")
    return problems


def test_every_cross_reference_resolves() -> None:
    problems = stale_references()
    assert problems == [], "stale cross-references:\n" + "\n".join(problems)


def test_the_check_tells_stale_references_from_good_ones() -> None:
    checkpoint = PACKAGE_DIR / "modeling" / "checkpoint.py"
    # A reviewer's find: load_pretrained is defined in modeling/build.py, which imports
    # checkpoint.py, not the other way round.
    assert unqualified_problem("load_pretrained", checkpoint) is not None
    assert qualified_problem("pmgsam.modeling.checkpoint.load_pretrained") is not None
    assert qualified_problem("pmgsam.modeling.build.load_pretrained") is None
    assert unqualified_problem("save_model", checkpoint) is None
    # A name moved to another module but still imported by its old one is stale.
    assert qualified_problem("pmgsam.data.io.DataError") is not None
    assert qualified_problem("pmgsam.data.errors.DataError") is None
    assert qualified_problem("pmgsam.data.SegmentationDataset") is None  # a package's export
    assert qualified_problem("pmgsam.modeling.gone") is not None
    assert qualified_problem("pmgsam.engine.predictor.Predictor.predict_image") is None
    assert qualified_problem("pmgsam.engine.predictor.Predictor.predict_everything") is not None
    assert qualified_problem("pmgsam.engine.config.OptimConfig.betas") is None  # a field
    assert qualified_problem("pmgsam.engine.config.OptimConfig.no_such_field") is not None
    assert unqualified_problem("list_models", PACKAGE_DIR / "__init__.py") is None  # lazy
    assert unqualified_problem("Predictor.predict_image", checkpoint) is not None
    # A __main__ module is read, not imported: its source decides.
    command = PACKAGE_DIR / "analysis" / "__main__.py"
    assert qualified_problem("pmgsam.analysis.__main__.main") is None
    assert qualified_problem("pmgsam.analysis.__main__.no_such") is not None
    assert unqualified_problem("premask", command) is None
    assert unqualified_problem("no_such", command) is not None


def test_references_are_read_across_lines_titles_and_comments() -> None:
    text = (
        "x = 1  # see :func:`~pmgsam.modeling.build.\n    # load_pretrained` and :py:func:`x`\n"
        '"""Use :class:`the predictor <pmgsam.engine.predictor.Predictor>` and :meth:`fit()`."""'
    )
    assert list(references(text)) == [
        (1, "func", "pmgsam.modeling.build.load_pretrained"),
        (3, "class", "pmgsam.engine.predictor.Predictor"),
        (3, "meth", "fit"),
    ]
