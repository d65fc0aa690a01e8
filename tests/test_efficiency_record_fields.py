"""What an efficiency record says about its timing (device, torch, commit, threads, speed
options, input side) and what ``python -m pmgsam.efficiency``'s options hand to the report.

A record is read months later to tell which timing a table row came from: each field must be
the timing's own, not a default. Model and timing are stand-ins here (the real ones are tested
in test_efficiency*.py): what is checked is which value lands where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from efficiency_cases import Reached, stop_at_report
from stand_in_models import ReportStandIn

import pmgsam
import pmgsam.efficiency.report as report_mod
from pmgsam.efficiency.cli import main
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.evaluation.run_json import write_run_json

SPEED = {"latency_ms_median": 50.0, "images_per_s": 20.0, "first_call_ms": 60.0,
         "peak_memory_mb": 700.0, "peak_reserved_mb": 800.0}  # fmt: skip


def test_the_environment_names_the_gpu_timed_on_and_every_speed_option(monkeypatch) -> None:
    asked: List[torch.device] = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: asked.append(d) or "Fake GPU")
    monkeypatch.setattr(report_mod, "git_commit", lambda: "c0ffee")
    perf = PerformanceConfig(channels_last=True, cudnn_benchmark=True, compile=True,
                             compile_scope="regional", compile_mode="max-autotune", tf32=False,
                             fused_optimizer=False, cuda_graphs=True,
                             bf16_group_norm=True)  # fmt: skip
    env = report_mod._environment(torch.device("cuda", 1), "bf16", perf)
    assert asked == [torch.device("cuda", 1)]  # the GPU timed on, not "cuda:1" nor cuda:0's
    assert env == {
        "device": "Fake GPU", "dtype": "bf16", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "compile": "regional",
        "compile_mode": "max-autotune", "channels_last": True, "cudnn_benchmark": True,
        "fold_frozen_batchnorm": True, "commit": "c0ffee", "pmgsam": pmgsam.__version__,
        "tf32": False, "fused_optimizer": False, "cuda_graphs": True, "bf16_group_norm": True,
    }  # fmt: skip
    eager = report_mod._environment(torch.device("cpu"), "fp32", PerformanceConfig())
    assert (eager["device"], eager["compile"], eager["compile_mode"]) == ("cpu", False, None)


def test_a_record_copies_the_timing_fields_of_its_report() -> None:
    report = {"device": "Fake GPU", "model": "m", "dtype": "bf16", "batch": 4, "image_size": 96,
              "compile": "model", "compile_mode": "reduce-overhead", "torch": "9.9.9",
              "commit": "c0ffee", "pmgsam": "7.7", "threads": 7, "channels_last": True,
              "cudnn_benchmark": True}  # fmt: skip
    record = report_mod.make_record(report, "inference", SPEED, note="n")
    assert record == {
        **report, "mode": "inference", "images_per_s": 20.0, "latency_ms": 50.0,
        "first_call_ms": 60.0, "peak_memory_mb": 700.0, "peak_reserved_mb": 800.0, "note": "n",
    }  # fmt: skip


@pytest.mark.parametrize(
    "mode, kept",
    [("inference", {"cuda_graphs"}), ("train", {"fused_optimizer"}), ("sam_amg", set())],
)
def test_a_record_names_tf32_and_the_options_of_its_own_mode_only(mode, kept) -> None:
    # A config may turn TF32 or the fused AdamW off: the record must say what it timed with.
    # CUDA graphs replay inference alone, the fused AdamW steps training alone.
    report = {"device": "Fake GPU", "model": "m", "dtype": "bf16", "batch": 4, "image_size": 96,
              "compile": False, "torch": "9.9.9", "commit": "c0ffee", "threads": 7,
              "channels_last": False, "cudnn_benchmark": True, "tf32": False,
              "fused_optimizer": False, "cuda_graphs": True}  # fmt: skip
    record = report_mod.make_record(report, mode, SPEED)
    assert record["tf32"] is False  # process-wide: the generator's matmuls too
    named = {"cuda_graphs", "fused_optimizer"} & set(record)
    assert named == kept
    for key in kept:
        assert record[key] == report[key]


def test_without_size_the_report_records_the_models_own_side(monkeypatch) -> None:
    built: List[Dict[str, Any]] = []
    monkeypatch.setattr(
        report_mod, "build_model", lambda name, **kw: built.append(kw) or ReportStandIn(48)
    )
    monkeypatch.setattr(report_mod, "measure_speed", lambda *a, **k: dict(SPEED))
    report = report_mod.efficiency_report("pmgsam_tiny", iters=1, warmup=0, progress=False)
    assert built == [{}]  # no size given: the model's own
    assert report["image_size"] == 48 and report["records"][0]["image_size"] == 48


@pytest.fixture
def handed(monkeypatch) -> List[Dict[str, Any]]:
    """The keyword arguments the command line hands to ``efficiency_report`` (not run)."""
    return stop_at_report(monkeypatch)


ARGV = ["--model", "pmgsam_tiny", "--size", "32", "--device", "cpu"]


def test_the_options_reach_the_report(handed) -> None:
    with pytest.raises(Reached):
        main(ARGV)
    perf, defaults = handed[0]["perf"], handed[0]
    # No flag: the package defaults, cuDNN's algorithm timing on (it was timed off).
    assert perf.hiera_window_attention and not perf.compile and not perf.channels_last
    assert perf.fold_frozen_batchnorm and perf.cudnn_benchmark
    assert (defaults["sam_points_per_side"], defaults["progress"]) == (32, True)
    argv = ["--hiera-attention", "package", "--compile", "regional", "--compile-mode",
            "max-autotune", "--channels-last", "--no-cudnn-benchmark", "--no-bn-fold",
            "--sam-points-per-side", "4", "--compare", "sam_vit_b", "--quiet",
            "--threads", "3"]  # fmt: skip
    with pytest.raises(Reached):
        main([*ARGV, *argv])
    perf, given = handed[1]["perf"], handed[1]
    assert not perf.hiera_window_attention
    assert (perf.compile, perf.compile_scope, perf.compile_mode) == (
        True,
        "regional",
        "max-autotune",
    )
    assert perf.channels_last and not perf.cudnn_benchmark and not perf.fold_frozen_batchnorm
    assert (given["sam_points_per_side"], given["progress"], given["threads"]) == (4, False, 3)


def test_overwrite_without_json_is_refused_before_timing(handed, capsys) -> None:
    with pytest.raises(SystemExit):
        main([*ARGV, "--overwrite"])
    assert "--overwrite lets --json replace a file: it needs --json" in capsys.readouterr().err
    assert handed == []


def test_a_compiled_channels_last_timing_says_so_in_its_record_and_run_row(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(
        report_mod, "build_model", lambda name, **kw: ReportStandIn(kw["image_size"])
    )
    monkeypatch.setattr(report_mod, "maybe_compile", lambda net, perf: net)  # compiling: elsewhere
    monkeypatch.setattr(report_mod, "measure_speed", lambda *a, **k: dict(SPEED))
    run = tmp_path / "run"
    write_run_json(run, "ours", dis={"DIS-VD": {"MAE": 0.1}})  # records no model: accepted
    out = tmp_path / "eff.json"
    main([*ARGV, "--threads", "1", "--compile", "regional", "--compile-mode", "max-autotune",
          "--channels-last", "--quiet", "--json", str(out), "--run-dir", str(run)])  # fmt: skip
    [record] = json.loads(out.read_text())
    assert (record["compile"], record["compile_mode"]) == ("regional", "max-autotune")
    assert record["channels_last"] is True
    timed_on = json.loads((run / "run.json").read_text())["efficiency"]["timed_on"]
    assert timed_on == (
        "cpu, 1 thread, fp32, S=32, batch 1, compiled (regional, max-autotune), channels-last"
    )  # the BatchNorm fold is on but does not act inside compiled regions: not named


@pytest.mark.parametrize("compiled", [None, False, "regional", "model"])
def test_the_batchnorm_fold_is_named_only_where_it_acted(compiled) -> None:
    # REBNCONV skips its folded path while torch.compile traces it, and either scope traces
    # every U²-Net unit, so a compiled timing ran the BatchNorms unfolded (fused by inductor).
    from pmgsam.evaluation.run_efficiency import speed_option_names

    record = {"device": "cuda", "compile": compiled, "fold_frozen_batchnorm": True}
    assert ("bn-fold" in speed_option_names(record)) == (not compiled)
    assert "bn-fold" not in speed_option_names({**record, "fold_frozen_batchnorm": False})
