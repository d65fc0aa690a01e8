"""``python -m pmgsam`` lists the commands, so that an installed package can be found out from
the shell: every ``python -m pmgsam.X`` command the README documents, and no module that is
not one (each listed module runs as a command)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listing() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pmgsam"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_command_the_readme_documents_is_listed() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"python -m (pmgsam(?:\.\w+)+)", readme))
    assert "pmgsam.report" in documented and len(documented) >= 8
    listed = set(re.findall(r"^  (pmgsam\.[\w.]+)  ", _listing(), re.M))
    assert documented <= listed, sorted(documented - listed)


def test_each_listed_module_is_a_command() -> None:
    for module in re.findall(r"^  (pmgsam\.[\w.]+)  ", _listing(), re.M):
        spec = importlib.util.find_spec(module)
        assert spec is not None, module
        # A package runs through its __main__.py, a module through its main guard.
        if spec.submodule_search_locations:
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module
        else:
            source = Path(spec.origin).read_text(encoding="utf-8")
            assert 'if __name__ == "__main__":' in source, module
