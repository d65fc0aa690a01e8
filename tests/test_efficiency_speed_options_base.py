"""``python -m pmgsam.efficiency`` times what a run would do: the speed options not given as
flags are the ``--config``'s ``performance`` section, else the package defaults
(``PerformanceConfig()``), and each flag given overrides its field in either direction.

The report used to build its options from its flags alone: with ``--config`` it ignored the
section (timing cuDNN off where the training configs turn it on), and without it it left
cuDNN's algorithm timing off although the package default is on. The report itself is not run:
the options handed to it are checked (as in test_efficiency_record_fields.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from efficiency_cases import Reached, stop_at_report

from pmgsam.efficiency.cli import build_parser, main, speed_options
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.utils.cli import exit_status

ROOT = Path(__file__).resolve().parents[1]
CPU = ["--device", "cpu"]
# A model section like configs/demo.yaml's: the report is stopped before it is built.
MODEL = {"image_size": 64, "hiera": "tiny", "hiera_checkpoint": None, "u2net": "u2netp",
         "u2net_checkpoint": None, "sam_checkpoint": None}  # fmt: skip


@pytest.fixture
def handed(monkeypatch) -> List[Dict[str, Any]]:
    """The keyword arguments the command line hands to ``efficiency_report`` (not run)."""
    return stop_at_report(monkeypatch)


def _timed(argv: List[str], handed: List[Dict[str, Any]]) -> PerformanceConfig:
    with pytest.raises(Reached):
        main([*CPU, *argv])
    return handed[-1]["perf"]


def _config(tmp_path: Path, performance: Dict[str, Any]) -> List[str]:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({"model": MODEL, "performance": performance}))
    return ["--config", str(path)]


def test_without_flags_or_config_the_package_defaults_are_timed(handed) -> None:
    perf = _timed(["--model", "pmgsam_tiny"], handed)
    assert perf == PerformanceConfig()
    # The default that the flags alone used to leave off (measured on an H200: training 12 %
    # faster), and the others as the package sets them.
    assert perf.cudnn_benchmark and perf.fold_frozen_batchnorm and perf.hiera_window_attention
    assert not perf.channels_last and not perf.compile


def test_the_dis5k_configs_performance_section_is_timed(handed) -> None:
    config = ROOT / "configs" / "pmgsam_dis5k.yaml"
    section = yaml.safe_load(config.read_text())["performance"]
    assert section["channels_last"] and section["cudnn_benchmark"]  # what the test stands on
    perf = _timed(["--config", str(config)], handed)
    assert perf == PerformanceConfig(**section)


# Every field off its package default, tf32 and fused_optimizer (no flag sets them) included.
OTHER = {"hiera_window_attention": False, "channels_last": True, "fold_frozen_batchnorm": False,
         "compile": True, "compile_scope": "regional", "compile_mode": "max-autotune",
         "tf32": False, "cudnn_benchmark": False, "fused_optimizer": False}  # fmt: skip


def test_a_configs_whole_section_is_timed(tmp_path: Path, handed) -> None:
    assert _timed(_config(tmp_path, OTHER), handed) == PerformanceConfig(**OTHER)


# (the config's fields, the flags, the fields the flags change): each flag both ways. tf32 off
# in each config: the old command, which ignored the section, timed it on.
OVERRIDES = [
    ({"channels_last": True}, ["--no-channels-last"], {"channels_last": False}),
    ({"channels_last": False}, ["--channels-last"], {"channels_last": True}),
    ({"cudnn_benchmark": True}, ["--no-cudnn-benchmark"], {"cudnn_benchmark": False}),
    ({"cudnn_benchmark": False}, ["--cudnn-benchmark"], {"cudnn_benchmark": True}),
    ({"fold_frozen_batchnorm": True}, ["--no-bn-fold"], {"fold_frozen_batchnorm": False}),
    ({"fold_frozen_batchnorm": False}, ["--bn-fold"], {"fold_frozen_batchnorm": True}),
    ({"cuda_graphs": True}, ["--no-cuda-graphs"], {"cuda_graphs": False}),
    ({"cuda_graphs": False}, ["--cuda-graphs"], {"cuda_graphs": True}),
    ({"hiera_window_attention": True}, ["--hiera-attention", "package"],
     {"hiera_window_attention": False}),
    ({"hiera_window_attention": False}, ["--hiera-attention", "window"],
     {"hiera_window_attention": True}),
    ({"compile": False}, ["--compile", "regional"], {"compile": True, "compile_scope": "regional"}),
    ({"compile": True, "compile_scope": "regional"}, ["--compile"], {"compile_scope": "model"}),
    ({"compile": True}, ["--no-compile"], {"compile": False}),
    # A mode given where the config turns compile on: no --compile needed.
    ({"compile": True, "compile_mode": "max-autotune"}, ["--compile-mode", "reduce-overhead"],
     {"compile_mode": "reduce-overhead"}),
    ({"compile": True, "compile_mode": "max-autotune"}, ["--compile-mode", "default"],
     {"compile_mode": "default"}),
]  # fmt: skip


@pytest.mark.parametrize("section, flags, changed", OVERRIDES)
def test_each_flag_overrides_its_field_of_the_config(
    tmp_path: Path, handed, section: Dict[str, Any], flags: List[str], changed: Dict[str, Any]
) -> None:
    section = {**section, "tf32": False}
    perf = _timed([*_config(tmp_path, section), *flags], handed)
    assert perf == PerformanceConfig(**{**section, **changed})


WITHOUT_CONFIG = [
    (["--no-cudnn-benchmark"], {"cudnn_benchmark": False}),
    (["--no-bn-fold", "--channels-last"], {"fold_frozen_batchnorm": False, "channels_last": True}),
    (["--compile", "--compile-mode", "max-autotune"],
     {"compile": True, "compile_mode": "max-autotune"}),
]  # fmt: skip


@pytest.mark.parametrize("flags, changed", WITHOUT_CONFIG)
def test_without_config_the_flags_override_the_package_defaults(
    handed, flags: List[str], changed: Dict[str, Any]
) -> None:
    perf = _timed(["--model", "pmgsam_tiny", *flags], handed)
    assert perf == PerformanceConfig(**changed)


def test_the_resolving_function_reads_the_parsed_flags_over_a_base() -> None:
    parser = build_parser()
    base = PerformanceConfig(channels_last=True, cudnn_benchmark=False, tf32=False)
    assert speed_options(parser.parse_args([]), base) == base
    assert speed_options(parser.parse_args([]), base) is not base  # the config's stays as read
    flipped = speed_options(parser.parse_args(["--no-channels-last", "--cudnn-benchmark"]), base)
    assert flipped == PerformanceConfig(tf32=False)


def _refused(argv: List[str], capsys) -> str:
    assert exit_status(main, [*CPU, *argv], "python -m pmgsam.efficiency") == 2
    return capsys.readouterr().err


def test_a_mode_where_the_config_leaves_compile_off_is_refused_naming_it(
    tmp_path: Path, handed, capsys
) -> None:
    config = _config(tmp_path, {"compile": False})
    err = _refused([*config, "--compile-mode", "max-autotune"], capsys)
    assert "--compile-mode max-autotune" in err and "add --compile" in err
    assert f"--config {config[1]} set performance.compile: true" in err
    assert handed == []


def test_a_mode_with_no_compile_is_refused(tmp_path: Path, handed, capsys) -> None:
    config = _config(tmp_path, {"compile": True})
    err = _refused([*config, "--no-compile", "--compile-mode", "max-autotune"], capsys)
    assert "--compile-mode max-autotune" in err and "--no-compile" in err
    assert handed == []


def test_compile_and_no_compile_together_are_refused(capsys) -> None:
    err = _refused(["--model", "pmgsam_tiny", "--compile", "--no-compile"], capsys)
    assert "--no-compile" in err and "not allowed with" in err


def test_cuda_graphs_with_training_steps_are_refused(handed, capsys) -> None:
    err = _refused(["--model", "pmgsam_tiny", "--train", "--cuda-graphs"], capsys)
    assert "--cuda-graphs" in err and "--train" in err
    assert handed == []


def test_cuda_graphs_from_a_config_with_a_graph_capturing_compile_mode_are_refused(
    tmp_path: Path, handed, capsys
) -> None:
    # The section alone is valid YAML for a run that never predicts on CUDA, but the report
    # would capture graphs twice: refused before anything is built, naming a way out.
    config = _config(tmp_path, {"compile": True, "compile_mode": "max-autotune"})
    err = _refused([*config, "--cuda-graphs"], capsys)
    assert "max-autotune" in err and "--no-cuda-graphs" in err
    assert handed == []
