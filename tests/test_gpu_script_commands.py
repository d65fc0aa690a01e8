"""benchmarks/gpu_speed.sh's data-phase commands: train.py's overrides each change what the
config says (an override equal to it only makes the recorded command claim a setting that was
not a choice), the synthetic-data command parses, and BENCHMARKS.md quotes both as run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from pmgsam.data.synthetic import build_parser as synthetic_parser
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _commands() -> Dict[str, List[str]]:
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_speed.sh"), "h200", "commands"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "OUT": "/out", "TMPDIR": "/tmp"},
    ).stdout
    return {line.split("\t")[1]: line.split("\t")[3:] for line in out.splitlines()}


def _value(config: ExperimentConfig, key: str):
    value = to_dict(config)
    for part in key.split("."):
        value = value[part]
    return value


def test_every_train_override_changes_the_configs_value() -> None:
    cmd = _commands()["train_py"]
    config_file = ROOT / cmd[cmd.index("--config") + 1]
    overrides = [a for a in cmd if "=" in a and not a.startswith("-")]
    assert overrides, cmd
    plain = load_config(ExperimentConfig, config_file, [])
    for override in overrides:
        key = override.split("=", 1)[0]
        changed = load_config(ExperimentConfig, config_file, [override])
        assert _value(changed, key) != _value(plain, key), f"{override} is the config's own"


def test_the_synthetic_data_command_parses() -> None:
    cmd = _commands()["synth"]
    assert cmd[1:3] == ["-m", "pmgsam.data.synthetic"]
    args = synthetic_parser().parse_args(cmd[3:])  # exits on an unknown option
    assert args.overwrite  # a phase run again on a warm machine regenerates its data


@pytest.mark.parametrize("step", ["synth", "train_py", "cuda_tests"])
def test_benchmarks_md_quotes_the_command_as_the_script_runs_it(step: str) -> None:
    text = (ROOT / "BENCHMARKS.md").read_text()
    (row,) = [ln for ln in text.splitlines() if f"| `{step}` (" in ln]
    quoted = re.search(r"\(\d+\) \| `([^`]+)`", row).group(1).split()
    ran = _commands()[step]
    ran = ["data.root=…" if a.startswith("data.root=") else a for a in ran]
    assert quoted[1:] == ran[1:]  # python3 / $PYTHON aside
