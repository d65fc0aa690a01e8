"""What a release carries: the source archive (sdist) and the wheel, built from a copy of the
project as ``pip install PATH`` / ``python -m build`` build them, and what the installed wheel
runs outside the source folder.

The wheel installs the ``pmgsam`` package alone, training and evaluation included (``python -m
pmgsam.train``, ``python -m pmgsam.evaluate``); what a user runs beside it (the source folder's
``train.py`` and ``evaluate.py``, ``configs/``, the demo and setup scripts) reaches them only
through the source archive, which setuptools filled, without MANIFEST.in, with the package and
``tests/test*.py`` only: no scripts, no configs, and a test suite missing its conftest and
helpers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What the build reads; the rest of a checkout (runs, results, weights, .git) is left out.
SOURCES = (
    "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "BENCHMARKS.md", "train.py",
    "evaluate.py", "weights/README.md", "pmgsam", "configs", "scripts", "benchmarks", "tests",
)  # fmt: skip
VERSION_LINE = re.compile(r'^__version__ = "[^"]+"$', re.M)
MARKED_VERSION = "7.7.7.post7"
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".pmgsam-outputs.json")


def _files(folder: str) -> List[str]:
    """The project's files under ``folder`` (relative to the project), caches left out."""
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        and p.name != ".pmgsam-outputs.json"
    )  # fmt: skip


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("release") / "src"
    for name in SOURCES:
        source, target = ROOT / name, copy / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=JUNK)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # A version of its own, so the wheel's can only come from the package's __version__.
    init = copy / "pmgsam" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    assert VERSION_LINE.search(text), "pmgsam/__init__.py sets no __version__"
    init.write_text(VERSION_LINE.sub(f'__version__ = "{MARKED_VERSION}"', text), encoding="utf-8")
    return copy


def _build(project: Path, kind: str, out: Path) -> Path:
    """Build ``kind`` (``sdist`` or ``wheel``) of ``project`` into ``out`` with setuptools'
    PEP 517 backend, the one pyproject.toml names."""
    code = f"import sys; from setuptools import build_meta as b; print(b.build_{kind}(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def test_source_archive_holds_the_scripts_configs_and_whole_test_suite(
    project_copy: Path, tmp_path: Path
) -> None:
    archive = _build(project_copy, "sdist", tmp_path)
    with tarfile.open(archive) as tar:
        top = f"{archive.name[: -len('.tar.gz')]}/"
        held = {m.name[len(top) :] for m in tar.getmembers() if m.isfile()}
    wanted = [
        "train.py", "evaluate.py", "README.md", "BENCHMARKS.md", "weights/README.md",
        *_files("configs"), *_files("scripts"), *_files("benchmarks"), *_files("tests"),
    ]  # fmt: skip
    assert "configs/demo.yaml" in wanted and "tests/conftest.py" in wanted
    missing = [name for name in wanted if name not in held]
    assert not missing, f"{len(missing)} file(s) not in the source archive: {missing[:10]}"
    assert not [name for name in held if "__pycache__" in name or name.endswith(".pyc")]


@pytest.fixture(scope="module")
def wheel(project_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(project_copy, "wheel", tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_module_and_nothing_beside_it_under_the_package_version(
    wheel: Path,
) -> None:
    # setup.cfg's version used to be a second copy of it, free to drift from pmgsam.__version__.
    assert wheel.name.startswith(f"pmgsam-{MARKED_VERSION}-"), wheel.name
    with zipfile.ZipFile(wheel) as zipped:
        held = set(zipped.namelist())
    modules = [name for name in _files("pmgsam") if name.endswith(".py")]
    missing = [name for name in modules if name not in held]
    # A package folder without __init__.py is skipped by find: and would be missing here.
    assert not missing, f"{len(missing)} module(s) not in the wheel: {missing[:10]}"
    # tests/, configs/ or train.py in the wheel would land in site-packages as top-level names.
    tops = {name.split("/")[0] for name in held}
    assert tops == {"pmgsam", wheel.name.split("-py3")[0] + ".dist-info"}, tops


def _installed(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    """``python *argv`` in ``cwd`` importing pmgsam from ``site`` alone: the worktree and the
    development install (an editable finder, after ``site`` on the path) out of reach."""
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_installed_wheel_trains_and_evaluates_outside_the_source_folder(
    project_copy: Path, wheel: Path, tmp_path: Path
) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile"]
    done = subprocess.run(
        [*pip, "--quiet", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # The installed copy (its version the copy's own), listing the two commands.
    listing = _installed(site, elsewhere, "-m", "pmgsam").stdout
    assert listing.startswith(f"pmgsam {MARKED_VERSION}: "), listing
    assert re.search(r"^  pmgsam\.train  .*^  pmgsam\.evaluate  ", listing, re.M | re.S), listing
    for name in ("train", "evaluate"):
        shown = _installed(site, elsewhere, "-m", f"pmgsam.{name}", "--help")
        assert shown.returncode == 0, shown.stderr[-3000:]
        assert shown.stdout.startswith(f"usage: python -m pmgsam.{name} [-h]"), shown.stdout
    # The README's config path, typed here: refused saying where the configs are.
    refused = _installed(site, elsewhere, "-m", "pmgsam.train", "--config", "configs/demo.yaml")
    assert refused.returncode == 2 and "there is no configs/ folder" in refused.stderr
    # A real scoring run: two maps against themselves.
    generate = ["-m", "pmgsam.data.synthetic", "--layout", "dis5k", "--out", "data"]
    made = _installed(site, elsewhere, *generate, "--num", "2", "--size", "32x24", "--quiet")
    assert made.returncode == 0, made.stderr[-3000:]
    # One epoch of the demo's model, its config taken from the source archive as a user does.
    config = project_copy / "configs" / "demo.yaml"
    tiny = ["model.image_size=64", "schedule.epochs=1", "schedule.warmup_epochs=0"]
    quick = ["train.batch_size=2", "train.preview_every=0", "data.root=data/DIS5K"]
    command = ["-m", "pmgsam.train", "--config", str(config), "--output-dir", "run", "--quiet"]
    trained = _installed(site, elsewhere, *command, *tiny, *quick)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "1 epoch, best validation loss" in trained.stdout, trained.stdout
    assert (elsewhere / "run" / "checkpoints" / "best").is_dir()
    gt = "data/DIS5K/DIS-TE1/gt"
    scoring = ["--pred-dir", gt, "--gt-dir", gt, "--workers", "1", "--quiet", "--out", "m.json"]
    scored = _installed(site, elsewhere, "-m", "pmgsam.evaluate", *scoring)
    assert scored.returncode == 0, scored.stderr[-3000:]
    scores = json.loads((elsewhere / "m.json").read_text(encoding="utf-8"))
    assert scores["MAE"] == 0.0 and scores["maxFm"] == 1.0, scores
