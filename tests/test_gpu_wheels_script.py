"""benchmarks/gpu_wheels.sh brings every package the project needs that the GPU machine lacks.

The GPU machine (Python 3.12, no network) has torch, torchvision, timm, scipy, opencv,
scikit-image, tensorboard, matplotlib and pytest; the rest comes as wheels from the shared list
(../shared/gpu/wheels.sh) and from gpu_wheels.sh. The requirement closures are read from the
installed packages' metadata, so a new dependency of the project (or of one of its
dependencies) that neither list brings fails here, not on the GPU machine.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Iterable, List, Set

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_wheels.sh"
SHARED = ROOT.parent / "shared" / "gpu" / "wheels.sh"
GPU_MACHINE = (
    "torch torchvision timm scipy opencv-python scikit-image tensorboard matplotlib pytest"
)
# cv2 comes from the machine's opencv-python; the headless build that some packages name is
# the same module. (The optional sam2 extra is left out: PyPI has no wheel of it.)
PROVIDED_OTHERWISE = {"opencv-python-headless"}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: Iterable[str]) -> Set[str]:
    """The names and, where installed, their runtime requirements, recursively."""
    seen: Set[str] = set()
    todo = [_norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return seen


def _declared_requirements() -> List[str]:
    """setup.cfg's install_requires and the dev extra (pysodmetrics, pytest), without the tools
    the GPU machine's serial test run does not use (ruff, pytest-xdist)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    lines += cfg["options.extras_require"]["dev"].splitlines()
    reqs = [
        Requirement(x.strip()).name for x in lines if x.strip() and not x.strip().startswith("#")
    ]
    return [r for r in reqs if _norm(r) not in ("ruff", "pytest-xdist")]


def _wheel_names(script: str) -> Set[str]:
    """The package names a wheels script downloads (its ``dl`` or ``extra=(...)`` list)."""
    lists = re.findall(r"^dl (.*?)\n(?=\S)", script, re.S | re.M)
    lists += re.findall(r"^extra=\((.*?)\)", script, re.S | re.M)
    words = " ".join(lists).replace("\\", " ").split()
    return {_norm(re.split(r"[=<>!~]", w)[0]) for w in words}


def test_the_two_wheel_lists_hold_every_package_the_gpu_machine_lacks():
    if not SHARED.is_file():
        pytest.skip(f"the shared wheels list {SHARED} is not in this checkout's parent")
    brought = _wheel_names(SHARED.read_text()) | _wheel_names(SCRIPT.read_text())
    assert {"pysodmetrics", "scikit-learn", "joblib"} <= brought
    missing = _closure(_declared_requirements()) - _closure(GPU_MACHINE.split()) - brought
    assert missing - PROVIDED_OTHERWISE == set(), "add them to benchmarks/gpu_wheels.sh's extra"


def _fake_checkout(tmp_path: Path, git_dir_is_file: bool) -> Path:
    """A checkout with the script, a ``.git`` and a python3 that logs its arguments."""
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(SCRIPT, tmp_path / "benchmarks" / SCRIPT.name)
    if git_dir_is_file:
        (tmp_path / ".git").write_text("gitdir: /elsewhere/.git/worktrees/x\n")
    else:
        (tmp_path / ".git").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/python3.log\n')
    fake.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("worktree", [False, True], ids=["clone", "worktree"])
def test_script_runs_the_shared_list_then_downloads_the_extra_wheels(tmp_path, worktree):
    bin_dir = _fake_checkout(tmp_path, worktree)
    shared = tmp_path / "shared_wheels.sh"
    # The shared script's first lines, as ../shared/gpu/wheels.sh has them.
    shared.write_text(
        "set -euo pipefail\n"
        "grep -qx '/.whl/' .git/info/exclude 2>/dev/null || "
        "{ mkdir -p .git/info; echo '/.whl/' >> .git/info/exclude; }\n"
        "mkdir -p .whl && touch .whl/shared-ran\n"
    )
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "GPU_SHARED_WHEELS": str(shared)}
    done = subprocess.run(
        ["bash", str(tmp_path / "benchmarks" / "gpu_wheels.sh")],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".whl" / "shared-ran").is_file()
    [call] = (tmp_path / "python3.log").read_text().splitlines()
    args = call.split()
    assert args[:3] == ["-m", "pip", "download"]
    assert args[args.index("--python-version") + 1] == "3.12"
    assert args[args.index("-d") + 1] == ".whl" and "--only-binary=:all:" in args
    assert {_norm(a.split("==")[0]) for a in args if "==" in a} == {
        "scikit-learn",
        "joblib",
        "cloudpickle",
        "threadpoolctl",
        "narwhals",
    }


def test_script_names_a_missing_shared_list(tmp_path):
    bin_dir = _fake_checkout(tmp_path, git_dir_is_file=False)
    missing = tmp_path / "nowhere" / "wheels.sh"
    done = subprocess.run(
        ["bash", str(tmp_path / "benchmarks" / "gpu_wheels.sh")],
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "GPU_SHARED_WHEELS": str(missing)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and str(missing) in done.stderr
    assert not (tmp_path / "python3.log").exists()


def test_benchmarks_gpu_calls_fill_the_wheels_with_this_script():
    text = (ROOT / "BENCHMARKS.md").read_text()
    section = text.split("### GPU: the calls a session lent a GPU must make")[1]
    section = section.split("\n## ")[0]
    # The shared list alone leaves PySODMetrics unimportable on the GPU machine.
    assert "Once, here: `bash benchmarks/gpu_wheels.sh`" in section
    assert (
        "--no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl" in section
    )
