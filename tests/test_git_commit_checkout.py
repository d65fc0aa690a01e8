"""The efficiency records' commit comes from git only when the checkout is the project's own:
a copy of the project (without ``.git``) inside another repository must not report that
repository's commit, but fall back to ``PMGSAM_COMMIT``, else ``unknown``."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

REPORT = Path(__file__).resolve().parents[1] / "pmgsam" / "efficiency" / "report.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(folder: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    return subprocess.run(
        ["git", *identity, *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def new_repo(folder: Path) -> str:
    """A repository in ``folder`` with one commit of what is there; its HEAD."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README").write_text("another project\n")
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return git(folder, "rev-parse", "HEAD")


def report_copy(project: Path) -> ModuleType:
    """``pmgsam/efficiency/report.py`` copied into ``project`` and imported from there, so that
    its ``__file__`` (which git_commit asks git about) lies in ``project``."""
    target = project / "pmgsam" / "efficiency" / "report.py"
    target.parent.mkdir(parents=True)
    shutil.copy(REPORT, target)
    spec = importlib.util.spec_from_file_location("report_copy", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_copy_inside_another_repository_does_not_report_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = tmp_path / "outer"
    outer_head = new_repo(outer)
    report = report_copy(outer / "vendor" / "pmgsam-copy")
    monkeypatch.delenv("PMGSAM_COMMIT", raising=False)
    assert report.git_commit() == "unknown"
    monkeypatch.setenv("PMGSAM_COMMIT", "a" * 40)
    assert report.git_commit() == "a" * 40 != outer_head


def test_the_projects_own_repository_reports_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    report = report_copy(project)
    head = new_repo(project)
    monkeypatch.setenv("PMGSAM_COMMIT", "a" * 40)
    assert report.git_commit() == head
    # The project's repository nested in another one is still its own checkout.
    nested = tmp_path / "outer"
    new_repo(nested)
    shutil.move(project, nested / "project")
    moved = importlib.util.spec_from_file_location(
        "report_moved", nested / "project" / "pmgsam" / "efficiency" / "report.py"
    )
    module = importlib.util.module_from_spec(moved)
    moved.loader.exec_module(module)
    assert module.git_commit() == head
