"""Every test module is collected without the optional sam2 package.

pmgsam.baselines.sam2 raises MissingDependencyError on import when sam2 is missing (the GPU
machine has no wheel of it), and a test module that imports it at its top stops the whole
suite at collection there. Tests of the SAM2.1 baselines import it after
``pytest.importorskip("sam2")``: inside the test, or below a module-level one (which skips the
whole module).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List

TESTS = Path(__file__).resolve().parent


def _skips_without_sam2(node: ast.stmt) -> bool:
    """Whether a module-level statement is a ``pytest.importorskip("sam2", ...)`` call."""
    call = getattr(node, "value", None)
    return (
        isinstance(call, ast.Call)
        and ast.unparse(call.func) == "pytest.importorskip"
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "sam2"
    )


def _top_level_sam2_imports(path: Path) -> List[str]:
    """The module-level imports of sam2 or pmgsam.baselines.sam2 not guarded by a skip."""
    found = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if _skips_without_sam2(node):
            break
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        hits = [n for n in names if n == "sam2" or n.startswith("sam2.") or "baselines.sam2" in n]
        found += [f"{path.name}:{node.lineno} imports {hits[0]}"] if hits else []
    return found


def test_sam2_imports_are_top_level_in_no_test_module() -> None:
    found = [hit for path in sorted(TESTS.glob("*.py")) for hit in _top_level_sam2_imports(path)]
    assert found == [], "import it inside the test, after pytest.importorskip('sam2')"


def test_the_check_sees_both_import_forms_and_a_module_level_skip(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    module.write_text(
        "import os\nfrom pmgsam.baselines import sam, sam2\nimport sam2.build_sam\n"
        "sam2_pkg = pytest.importorskip('sam2')\nimport sam2.modeling\n"
    )
    # The import below the module-level skip is guarded: the module skips before reaching it.
    assert _top_level_sam2_imports(module) == [
        "test_x.py:2 imports pmgsam.baselines.sam2",
        "test_x.py:3 imports sam2.build_sam",
    ]
