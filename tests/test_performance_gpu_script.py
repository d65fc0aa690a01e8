"""benchmarks/gpu_speed.sh: every command of every phase is valid and each phase fits one call.

The script's ``commands`` mode prints each step (phase, name, time limit, command); the
commands are checked here without running them, with the parsers the steps will use. The full
rehearsal (every step run on the CPU with the tiny model) is documented in benchmarks/REHEARSALS.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import pytest
from cli_cases import benchmark_module

from pmgsam.efficiency.cli import build_parser, check_arguments, speed_options
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_speed.sh"
# The device tool kills a call at 600 s and returns at most 8 files from $OUT.
PHASE_LIMIT_S = 540
FILES_BACK = 8

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _steps(**env: str) -> List[List[str]]:
    out = subprocess.run(
        ["bash", str(SCRIPT), "h100", "commands"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "OUT": "/out", **env},
    ).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_every_phase_fits_one_device_call_and_returns_its_files():
    steps = _steps()
    limits: Dict[str, int] = defaultdict(int)
    files: Dict[str, int] = defaultdict(lambda: 1)  # the phase log
    for phase, name, limit, *cmd in steps:
        limits[phase] += int(limit)
        files[phase] += sum(arg.startswith("/out/") for arg in cmd)
        files[phase] += 2 * (name == "train_py")  # its metrics.jsonl and train.log
    # Each phase fits one call; which ones a lease runs, in which calls, is BENCHMARKS.md's plan.
    assert list(limits) == [
        "core",
        "data",
        "tests",
        "regional_graphs",
        "regional",
        "model",
        "profile",
    ]
    assert all(total <= PHASE_LIMIT_S for total in limits.values()), dict(limits)
    assert all(n <= FILES_BACK for n in files.values()), dict(files)
    # The targets' records come first: inference b1/b8, training b4, the SAM comparison.
    assert [name for _, name, *_ in steps[:4]] == ["infer_b1", "infer_b8", "train_b4", "vs_sam"]


@pytest.mark.parametrize("rehearse", [False, True], ids=["gpu", "rehearsal"])
def test_every_command_parses_as_its_program_will(rehearse):
    env = {"REHEARSE": "1"} if rehearse else {}
    steps = _steps(**env)
    efficiency = build_parser()
    hiera_attention = benchmark_module("hiera_attention").build_parser()
    bn_fold = benchmark_module("u2net_bn_fold").build_parser()
    components = benchmark_module("component_times").build_parser()
    folder = benchmark_module("folder_inference").build_parser()
    seen = set()
    for _, name, _, *cmd in steps:
        program = cmd[1:3] if cmd[1] == "-m" else cmd[1:2]
        if program == ["-m", "pmgsam.efficiency"]:
            args = efficiency.parse_args(cmd[3:])  # exits on a bad argument
            check_arguments(efficiency, args)  # and on a combination the command refuses
            assert args.device == ("cpu" if rehearse else "cuda") and not args.config
            # The options timed are the package defaults plus what the step's name says:
            # channels-last (_cl, and with compile), a compile scope, cuDNN off (_no_cudnn), CUDA
            # graphs (_graphs), bf16 GroupNorms (_bf16_gn).
            words = name.split("_")
            scope = next((w for w in words if w in ("regional", "model")), None)
            named = PerformanceConfig(
                channels_last="cl" in words or scope is not None,
                compile=scope is not None,
                compile_scope=scope or "model",
                cudnn_benchmark=not name.endswith("_no_cudnn"),
                cuda_graphs=name.endswith("_graphs"),
                bf16_group_norm=name.endswith("_bf16_gn"),
            )
            assert speed_options(args) == named, name
            assert args.json == f"/out/h100_{name}.json"
        elif program == ["benchmarks/hiera_attention.py"]:
            hiera_attention.parse_args(cmd[2:])
        elif program == ["benchmarks/u2net_bn_fold.py"]:
            bn_fold.parse_args(cmd[2:])
        elif program == ["benchmarks/component_times.py"]:
            args = components.parse_args(cmd[2:])
            assert args.device == ("cpu" if rehearse else "cuda")
            assert args.model == ("pmgsam_tiny" if rehearse else "pmgsam_hiera_b+")
            assert (args.batch, args.train) == ((4, True) if "train" in name else (8, False))
            assert args.channels_last == name.endswith(("_cl", "_train_b4"))
        elif program == ["benchmarks/folder_inference.py"]:
            args = folder.parse_args(cmd[2:])
            assert args.device == ("cpu" if rehearse else "cuda")
            assert args.model == ("pmgsam_tiny" if rehearse else "pmgsam_hiera_b+")
            assert args.image_size == ((400, 300) if rehearse else (4000, 3000))
            assert 0 in args.writers and args.batch == 8
        elif program == ["train.py"]:
            assert cmd[2:4] == ["--config", "configs/pmgsam_dis5k.yaml"]
            overrides = [a for a in cmd[6:] if "=" in a]
            # Unknown keys or values of the wrong type raise a ConfigError naming the key.
            config = load_config(ExperimentConfig, ROOT / cmd[3], overrides)
            config.validate_training()  # as train.py checks it
            assert config.schedule.epochs == 3 and config.performance.persistent_workers
            assert config.model.hiera_checkpoint is None
            assert (config.train.device == "cpu") == rehearse
        else:
            assert program in (["-m", "pmgsam.data.synthetic"], ["-m", "pytest"]), cmd
        seen.add(program[-1])
    assert seen == {
        "pmgsam.efficiency",
        "benchmarks/hiera_attention.py",
        "benchmarks/u2net_bn_fold.py",
        "benchmarks/component_times.py",
        "benchmarks/folder_inference.py",
        "train.py",
        "pmgsam.data.synthetic",
        "pytest",
    }
    [tests] = [cmd for _, name, _, *cmd in steps if name == "cuda_tests"]
    # Every test file with CUDA-only tests runs in the tests phase.
    skip = re.compile(r"skipif\(\s*not torch\.cuda\.is_available\(\)")
    cuda_only = {p.name for p in (ROOT / "tests").glob("test_*.py") if skip.search(p.read_text())}
    assert len(cuda_only) >= 3
    assert {Path(a).name for a in tests if a.startswith("tests/")} >= cuda_only


def test_a_phase_table_holds_only_the_records_of_its_output_folder(tmp_path: Path) -> None:
    # A fake python: each step exits at once, and render_table.py lists the folder it reads.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\n[ "$1" = benchmarks/render_table.py ] && ls "$3"\nexit 0\n')
    fake.chmod(0o755)
    out, scratch = tmp_path / "out", tmp_path / "pmgsam_gpu_speed_h100" / "records"
    out.mkdir()
    (out / "h100_infer_b1.json").write_text("{}")
    scratch.mkdir(parents=True)
    (scratch / "h100_stale_from_an_earlier_rehearsal.json").write_text("{}")
    env = {"PATH": "/usr/bin:/bin", "OUT": str(out), "TMPDIR": str(tmp_path), "PYTHON": str(fake)}
    done = subprocess.run(
        ["bash", str(SCRIPT), "h100", "tests"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "h100_infer_b1.json" in done.stdout
    assert "stale" not in done.stdout, done.stdout


def test_steps_runs_the_named_steps_of_a_phase_in_the_order_given(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 0\n")  # each step, and the table, exits at once
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "OUT": str(tmp_path), "TMPDIR": str(tmp_path)}

    def run(steps: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPT), "h100", "regional"],
            capture_output=True,
            text=True,
            env={**env, "PYTHON": str(fake), "STEPS": steps},
            cwd=ROOT,
        )

    done = run("infer_b8_regional train_b4_regional")
    assert done.returncode == 0, done.stderr
    ran = re.findall(r"^== (\w+) \(limit", done.stdout, flags=re.M)
    assert ran == ["infer_b8_regional", "train_b4_regional"]
    wrong = run("train_b4_regional infer_b1_graphs")  # a step of the profile phase
    assert wrong.returncode == 2
    assert "STEPS: 'infer_b1_graphs' is no step of phase regional" in wrong.stderr
    assert "== train_b4_regional" not in wrong.stdout  # refused before any step ran
