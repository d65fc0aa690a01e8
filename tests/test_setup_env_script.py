"""scripts/setup_env.sh keeps the torch that PMGSAM_TORCH_SPEC chose.

sam2 1.1 declares torch >= 2.5.1, so installing it unpinned next to torch 2.4.1 (the declared
minimum) made pip replace torch with the newest release. The script runs here against a fake
venv: its python records every ``pip`` command and answers everything else with this
interpreter, seeing only fake torch/torchvision distributions of the versions under test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "setup_env.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

FAKE_PYTHON = """#!/bin/bash
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "$*" >> "$PIP_LOG"
  exit 0
fi
PYTHONPATH="$FAKE_SITE" exec "$REAL_PY" "$@"
"""


def _fake_distribution(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )


def _run_setup(tmp_path: Path, torch: str, torchvision: str) -> Tuple[str, List[str], Path]:
    """Run setup_env.sh on a fake venv; return its stdout, the pip commands and the venv."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    site = tmp_path / "site"
    _fake_distribution(site, "torch", torch)
    _fake_distribution(site, "torchvision", torchvision)
    log = tmp_path / "pip.log"
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "PMGSAM_VENV": str(venv),
            "PMGSAM_TORCH_SPEC": f"torch=={torch} torchvision=={torchvision}",
            "PIP_LOG": str(log),
            "FAKE_SITE": str(site),
            "REAL_PY": sys.executable,
        },
    )
    return done.stdout, log.read_text().splitlines(), venv


def test_torch_older_than_sam2_needs_is_kept_and_sam2_is_not_installed(tmp_path):
    stdout, pip_commands, venv = _run_setup(tmp_path, "2.4.1", "0.19.1")
    assert pip_commands[1].endswith(
        "install --quiet --disable-pip-version-check torch==2.4.1 torchvision==0.19.1"
    )
    assert not [cmd for cmd in pip_commands if "sam2>=1.1" in cmd]
    assert "torch 2.4.1 is older than sam2's minimum (2.5.1)" in stdout
    pins = venv / ".pmgsam-torch-pins.txt"
    assert pins.read_text() == "torch==2.4.1\ntorchvision==0.19.1\n"
    (project_install,) = [cmd for cmd in pip_commands if f"-e {ROOT}[dev]" in cmd]
    assert f"-c {pins}" in project_install


def test_torch_new_enough_for_sam2_gets_sam2_pinned_to_that_torch(tmp_path):
    stdout, pip_commands, venv = _run_setup(tmp_path, "2.5.1", "0.20.1")
    pins = venv / ".pmgsam-torch-pins.txt"
    assert pins.read_text() == "torch==2.5.1\ntorchvision==0.20.1\n"
    (sam2_install,) = [cmd for cmd in pip_commands if "sam2>=1.1" in cmd]
    assert f"-c {pins}" in sam2_install
    assert "older than sam2's minimum" not in stdout
