"""scripts/demo.sh removes an earlier demo run before training, and never another run folder.

The script runs in a copy of the repository whose virtual environment is a stub: its
``python`` only logs the command line, so no data is generated and nothing is trained.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TORCH_SPEC = "stub-torch"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _demo_repo(tmp_path: Path) -> tuple[Path, dict, Path]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("scripts/demo.sh", "scripts/setup_env.sh", "setup.cfg", "pyproject.toml"):
        shutil.copy(REPO / name, repo / name)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "python_calls.txt"
    stub = venv / "bin" / "python"
    stub.write_text(f'#!/usr/bin/env bash\necho "$*" >> "{log}"\n')
    stub.chmod(0o755)
    # setup_env.sh installs nothing when the stamp matches what it would install.
    digest = hashlib.sha256(
        (repo / "setup.cfg").read_bytes() + (repo / "pyproject.toml").read_bytes()
    ).hexdigest()
    (venv / ".pmgsam-installed").write_text(f"{digest} {TORCH_SPEC}\n")
    env = dict(os.environ, PMGSAM_VENV=str(venv), PMGSAM_TORCH_SPEC=TORCH_SPEC)
    return repo, env, log


def _run_folder(folder: Path, data_root: str) -> None:
    (folder / "checkpoints" / "best").mkdir(parents=True)
    (folder / "checkpoints" / "best" / "model.safetensors").write_bytes(b"weights")
    (folder / "train.log").write_text("epoch 1/300 ...\n")
    (folder / "config.yaml").write_text(f"model:\n  image_size: 1024\ndata:\n  root: {data_root}\n")


def _demo(repo: Path, env: dict, run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "demo.sh"), str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_training_run_of_other_data_given_as_the_demo_folder_is_kept(tmp_path: Path):
    repo, env, log = _demo_repo(tmp_path)
    run = tmp_path / "runs" / "dis5k"
    _run_folder(run, "/data/DIS5K")
    done = _demo(repo, env, run)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"demo: '{run}' exists and is not a demo training run" in done.stderr
    assert (run / "checkpoints" / "best" / "model.safetensors").read_bytes() == b"weights"
    assert "train.py" not in log.read_text()


def test_an_earlier_demo_run_is_replaced(tmp_path: Path):
    repo, env, log = _demo_repo(tmp_path)
    run = tmp_path / "runs" / "demo"
    _run_folder(run, "demo_data/DIS5K")
    done = _demo(repo, env, run)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not run.exists()  # removed; the stub python trained nothing into it
    assert f"train.py --config configs/demo.yaml --output-dir {run}" in log.read_text()
