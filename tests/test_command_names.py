"""Messages name training and evaluation as the user can type them: ``evaluate.py`` /
``train.py`` in the source folder, ``python -m pmgsam.evaluate`` / ``python -m pmgsam.train``
where the package has no scripts beside it (an installed wheel, in site-packages) or when the
program was started as a pmgsam module (pmgsam.utils.command_names)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

import pmgsam
from pmgsam import report
from pmgsam.__main__ import SOURCE_FOLDER as SOURCE_FOLDER_LINE
from pmgsam.data.instance_labels import UnreadableLabelsError, coco_gt_with_unreadable
from pmgsam.engine.resume_checks import resume_command
from pmgsam.evaluation.run_hints import missing_run_hint
from pmgsam.modeling.checkpoint_files import CheckpointKind, where_it_goes
from pmgsam.utils import command_names
from pmgsam.utils.command_names import command_name
from tests.cli_cases import cli, one_error_line

SOURCE_FOLDER = Path(pmgsam.__file__).resolve().parents[1]


def _started_as(monkeypatch, module):
    """``__main__`` as ``python -m module`` leaves it (None: as a script or ``-c`` does)."""
    main = types.ModuleType("__main__")
    main.__spec__ = ModuleSpec(module, None) if module else None
    monkeypatch.setitem(sys.modules, "__main__", main)


def _installed(monkeypatch, tmp_path):
    """The package as the wheel installs it: in a site-packages with no scripts beside it, but
    maybe another distribution's train.py (a top-level module of that name)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "train.py").write_text("import torch\n\ndef main():\n    pass\n", encoding="utf-8")
    monkeypatch.setattr(command_names, "PACKAGE_PARENT", site)
    _started_as(monkeypatch, None)


def _cos_scores_refusal(tmp_path, capsys) -> str:
    scores = tmp_path / "ap.json"
    scores.write_text(json.dumps({"AP": 0.4, "AP50": 0.6}), encoding="utf-8")
    code, err = cli(report.main, [str(scores), "--out", str(tmp_path / "t")], capsys)
    assert code == 2
    return one_error_line(err)


class _UnreadableSplit:
    """A COS split one of whose instance maps cannot be read."""

    def coco_gt(self, unreadable=None):
        raise UnreadableLabelsError("1 instance map(s) cannot be read: fix or remove them")


def test_the_choice_given_names_either_spelling():
    assert command_name("evaluate", source_folder=True) == "evaluate.py"
    assert command_name("train", source_folder=True) == "train.py"
    assert command_name("evaluate", source_folder=False) == "python -m pmgsam.evaluate"
    assert command_name("train", source_folder=False) == "python -m pmgsam.train"
    with pytest.raises(ValueError, match="no command 'report'"):
        command_name("report")


def test_an_installed_package_s_messages_name_the_modules(monkeypatch, tmp_path, capsys):
    _installed(monkeypatch, tmp_path)
    assert command_name("train") == "python -m pmgsam.train"  # not the other package's train.py
    line = _cos_scores_refusal(tmp_path, capsys)
    assert "score the maps again with python -m pmgsam.evaluate --task cos ... --run" in line
    assert "evaluate.py" not in line
    weights = tmp_path / "weights"  # checkpoints/ and a config.yaml: scored with evaluation
    (weights / "checkpoints").mkdir(parents=True)
    (weights / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    assert "(python -m pmgsam.evaluate --config CFG --checkpoint" in missing_run_hint(weights)
    with pytest.raises(UnreadableLabelsError, match="or pass python -m pmgsam.evaluate's --keep"):
        coco_gt_with_unreadable(_UnreadableSplit(), keep_going=False)
    resumed = where_it_goes(CheckpointKind("pmgsam_state", "training state"))
    assert "python -m pmgsam.train --resume takes the run folder" in resumed


def test_an_installed_package_s_resume_hint_names_the_module(monkeypatch, tmp_path):
    # A program of the user's own (not -m) that trained with the installed package.
    _installed(monkeypatch, tmp_path)
    run = Path("runs/a")
    assert resume_command(run, 1) == f"python -m pmgsam.train --resume {run}"
    assert resume_command(run, 2) == f"torchrun --nproc_per_node 2 -m pmgsam.train --resume {run}"


def test_the_source_folder_s_messages_name_the_scripts(monkeypatch, tmp_path, capsys):
    assert (SOURCE_FOLDER / "evaluate.py").is_file() and (SOURCE_FOLDER / "train.py").is_file()
    _started_as(monkeypatch, None)  # python evaluate.py: a script
    assert command_name("evaluate") == "evaluate.py" and command_name("train") == "train.py"
    line = _cos_scores_refusal(tmp_path, capsys)
    assert "score the maps again with evaluate.py --task cos ... --run" in line
    assert "python -m" not in line
    resumed = where_it_goes(CheckpointKind("pmgsam_state", "training state"))
    assert "train.init_from; train.py --resume takes the run folder" in resumed


def test_a_pmgsam_module_s_messages_name_the_modules_in_the_source_folder(
    monkeypatch, tmp_path, capsys
):
    # python -m pmgsam.report typed in the source folder: its user types modules.
    _started_as(monkeypatch, "pmgsam.report")
    line = _cos_scores_refusal(tmp_path, capsys)
    assert "score the maps again with python -m pmgsam.evaluate --task cos" in line
    # Another package's module (python -m pytest) decides by the folder, as a script does.
    _started_as(monkeypatch, "pmgsamx.report")
    assert command_name("evaluate") == "evaluate.py"


# Strings naming a script that are no instruction to type it: the commands' manifest tool name
# (kept so earlier manifests still match), and `python -m pmgsam`'s line on the source folder.
NOT_INSTRUCTIONS = {
    ("pmgsam/evaluate.py", "evaluate.py"),
    ("pmgsam/__main__.py", SOURCE_FOLDER_LINE),
}
SCRIPT_NAME = re.compile(r"\b(?:evaluate|train)\.py\b")


def _docstrings(tree: ast.AST) -> set:
    """The ids of bare string statements (docstrings, attribute docstrings): never shown."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def test_no_message_hard_codes_a_script_name():
    # Every string constant in the package, f-string parts included, not only those of raise,
    # warn, print and help: a message is often built from constants (an advice, a hint table).
    found = []
    for path in sorted((SOURCE_FOLDER / "pmgsam").rglob("*.py")):
        name = path.relative_to(SOURCE_FOLDER).as_posix()
        if name == "pmgsam/utils/command_names.py":
            continue
        text = path.read_text(encoding="utf-8")
        if not SCRIPT_NAME.search(text):
            continue
        tree = ast.parse(text)
        shown = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if id(node) in shown or not SCRIPT_NAME.search(node.value):
                continue
            if (name, node.value) not in NOT_INSTRUCTIONS:
                found.append(f"{name}:{node.lineno}: {node.value[:70]!r}")
    assert not found, "name them with command_name():\n" + "\n".join(found)


def test_the_sweep_sees_a_hard_coded_name_in_an_f_string_but_not_a_docstring():
    source = 'def f(x):\n    """Like evaluate.py does."""\n    raise E(f"run evaluate.py {x}")\n'
    tree = ast.parse(source)
    shown = _docstrings(tree)
    hits = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in shown
    ]
    assert [h for h in hits if SCRIPT_NAME.search(h)] == ["run evaluate.py "]


def _report_refusal(cwd: Path, site: Path, *start: str) -> str:
    """The error line of pmgsam.report given a COS scores file, started as ``start``."""
    (cwd / "ap.json").write_text(json.dumps({"AP": 0.4}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, *start], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    return one_error_line(done.stderr)


def test_real_starts_name_the_command_as_typed(tmp_path):
    # As Python really sets __main__: a copy of the package alone, as site-packages holds the
    # wheel's, run by a program of the user's own (-c); the source folder's run with -m.
    site = tmp_path / "site"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SOURCE_FOLDER / "pmgsam", site / "pmgsam", ignore=skip)
    own = "from pmgsam import report, utils; utils.cli.run_cli(report.main, 'own')"
    argv = ["ap.json", "--out", "t"]
    line = _report_refusal(tmp_path, site, "-c", own, *argv)
    assert "again with python -m pmgsam.evaluate --task cos" in line
    line = _report_refusal(tmp_path, SOURCE_FOLDER, "-m", "pmgsam.report", *argv)
    assert line.startswith("python -m pmgsam.report: error:")
    assert "again with python -m pmgsam.evaluate --task cos" in line
