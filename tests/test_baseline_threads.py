"""Baseline mode (evaluate.py --baseline) predicts on the config's train.num_threads torch threads,
or on the CPU by default on as many as the CPUs the process may use (its images are read in
process: no loader worker needs one), as benchmark mode does; its timing runs on torch's own
count, as python -m pmgsam.efficiency times PMG-SAM, and run.json records that count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import pytest
import torch
import yaml

import evaluate
from pmgsam.baselines import base
from pmgsam.baselines import sam as sam_family
from pmgsam.engine import distributed
from pmgsam.utils.config import to_dict


@pytest.fixture
def predict_threads(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """torch's thread count at each box prediction; SAM itself is skipped (a linear layer as
    the model, a map of 0.9 per box), so only the thread handling runs."""
    seen: List[int] = []

    def predict(self: Any, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Any:
        seen.append(torch.get_num_threads())
        maps = [np.full(image.shape[:2], 0.9, np.float32) for _ in boxes]
        return base.Prediction(maps, [0.9] * len(maps))

    monkeypatch.setattr(sam_family, "load", lambda *args: torch.nn.Linear(1, 1))
    monkeypatch.setattr(sam_family, "predictor", lambda model: None)
    monkeypatch.setattr(base.BoxBaseline, "predict", predict)
    return seen


def _row_argv(tmp_path: Path, data_cfg: Any, num_threads: Optional[int], out: Path) -> List[str]:
    """evaluate.py's arguments for a sam-box row of two DIS-TE1 images into ``out``, timed in
    one pass, with a config of ``train.num_threads`` ``num_threads``."""
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights")  # hashed for the manifests, never read (load is faked)
    config = tmp_path / "exp.yaml"
    cfg = {"data": to_dict(data_cfg), "train": {"num_threads": num_threads}}
    config.write_text(yaml.safe_dump(cfg))
    argv = ["--baseline", "sam-box", "--checkpoint", str(checkpoint), "--config", str(config)]
    argv += ["--splits", "DIS-TE1", "--limit", "2", "--output-dir", str(out), "--quiet"]
    return argv + ["--device", "cpu", "--speed-iters", "1", "--speed-warmup", "0", "--workers", "1"]


@pytest.mark.parametrize(
    "device, num_threads, expected",
    [
        ("cpu", None, 2),  # the two CPUs (torch's default: 4)
        ("cpu", 3, 3),  # the config's count, even above the CPUs
        ("cuda", None, None),  # the GPU does the work: torch's count stays
    ],
)
def test_baseline_predicts_on_train_num_threads_and_times_on_torchs_count(
    two_cpus: None,
    torch_default: int,
    predict_threads: List[int],
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    device: str,
    num_threads: Optional[int],
    expected: Optional[int],
) -> None:
    expected = torch_default if expected is None else expected
    # Baseline mode once predicted on torch's default whatever train.num_threads said.
    monkeypatch.setattr(distributed, "resolve_device", lambda *a, **k: torch.device(device))
    out = tmp_path / "row"
    argv = _row_argv(tmp_path, data_config("dis5k", dis5k_root), num_threads, out)
    with caplog.at_level("INFO"):
        assert evaluate.main(argv) == 0
    # Two maps, then the FLOP count and the one timed pass (--speed-warmup 0).
    assert predict_threads == [expected, expected, torch_default, torch_default]
    assert torch.get_num_threads() == torch_default  # put back for the rest of the process
    run = json.loads((out / "run.json").read_text())
    assert run["meta"]["efficiency_report"]["threads"] == torch_default
    said = [r.getMessage() for r in caplog.records if "torch thread(s)" in r.getMessage()]
    if (device, num_threads) == ("cpu", None):  # the cap names the setting that overrides it
        assert said == [
            "predicting on 2 torch thread(s): this process may use 2 CPU(s) and reads its "
            "images itself, with no image-loading workers (set train.num_threads to choose)"
        ]
    else:
        assert said == []


def test_a_cuda_timing_replaces_every_figure_of_an_earlier_cpu_timing(
    predict_threads: List[int],
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pmgsam.baselines import runner
    from pmgsam.evaluation.run_json import write_run_json

    # The row folder holds a CPU timing; the row is timed again on a GPU.
    out = tmp_path / "row"
    cpu = {"params_total_M": 2.0, "params_trainable_M": 1.0, "flops_G": 4.0, "fps": 0.5,
           "threads": 2, "timed_on": "cpu, 2 threads, fp32, S=1024, batch 1"}  # fmt: skip
    write_run_json(out, "SAM ViT-B GT box", efficiency=cpu)
    cuda = {"params": {"total": 2_000_000, "trainable": 1_000_000},
            "flops_per_image": {"total": 4e9},
            "speed": {"images_per_s": 20.0, "peak_memory_mb": 300.0},
            "device": "NVIDIA H200", "dtype": "fp32", "threads": 4, "batch": 1,
            "image_size": 1024, "timed_image_size": [24, 32]}  # fmt: skip
    monkeypatch.setattr(runner, "measure_efficiency", lambda *args: cuda)
    assert evaluate.main(_row_argv(tmp_path, data_config("dis5k", dis5k_root), None, out)) == 0
    run = json.loads((out / "run.json").read_text())
    # As python -m pmgsam.efficiency merges a CUDA timing of PMG-SAM: no CPU thread count stays.
    assert run["efficiency"] == {
        "params_total_M": 2.0,
        "params_trainable_M": 1.0,
        "flops_G": 4.0,
        "fps": 20.0,
        "peak_memory_MB": 300.0,
        "threads": None,
        "timed_on": "NVIDIA H200, fp32, S=1024, image 32x24 (WxH), batch 1",  # [H, W] = [24, 32]
    }


def test_an_untimed_rerun_keeps_an_earlier_timing_only_of_the_same_settings(
    predict_threads: List[int],
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pmgsam.baselines import runner

    # A CPU timing of the row at SAM's released side, as measure_efficiency reports one (the
    # stand-in model, a Linear(1, 1), has 2 parameters).
    timed = {"params": {"total": 2, "trainable": 2},
             "flops_per_image": {"total": 4e9}, "speed": {"images_per_s": 0.5},
             "device": "cpu", "dtype": "fp32", "threads": torch.get_num_threads(), "batch": 1,
             "image_size": 1024, "timed_image_size": [24, 32]}  # fmt: skip
    monkeypatch.setattr(runner, "measure_efficiency", lambda *args: timed)
    out = tmp_path / "row"
    argv = _row_argv(tmp_path, data_config("dis5k", dis5k_root), None, out)
    assert evaluate.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["efficiency"]["fps"] == 0.5 and run["meta"]["timed_with"]["image_size"] == 1024
    monkeypatch.setattr(runner, "measure_efficiency", lambda *args: pytest.fail("timed"))
    untimed = [*argv, "--speed-iters", "0"]
    # Untimed with the same settings: the timing stays, also as an older pmgsam recorded it
    # (its efficiency report, no timed_with).
    del run["meta"]["timed_with"]
    (out / "run.json").write_text(json.dumps(run))
    assert evaluate.main(untimed) == 0
    assert json.loads((out / "run.json").read_text())["efficiency"] == run["efficiency"]
    # Untimed at another input side: the timing of side 1024 is no speed of this row.
    with caplog.at_level("INFO", logger="pmgsam.baselines.row_timing"):
        assert evaluate.main([*untimed, "--model-image-size", "512"]) == 0
    after = json.loads((out / "run.json").read_text())
    assert after["efficiency"] == {"params_total_M": 2e-6, "params_trainable_M": 2e-6}
    assert not {"efficiency_report", "timed_with", "fps_timing"} & set(after["meta"])
    said = [r.getMessage() for r in caplog.records if "earlier timing" in r.getMessage()]
    assert len(said) == 1 and "image_size 1024 then, 512 now" in said[0], said


CPU_REPORT = {"device": "cpu", "dtype": "fp32", "threads": 2, "image_size": 1024}
DROPPED = {
    "efficiency": ["flops_G", "fps", "peak_memory_MB", "threads", "timed_on"],
    "meta": ["efficiency_report", "timed_with", "fps_timing", "flops_counting"],
}


def _stale(tmp_path: Path, efficiency: dict, meta: dict, now: dict) -> dict:
    from pmgsam.baselines.row_timing import stale_timing

    (tmp_path / "run.json").write_text(json.dumps({"efficiency": efficiency, "meta": meta}))
    return stale_timing(tmp_path, lambda: now)


def test_an_older_run_json_keeps_its_timing_only_of_the_same_model(tmp_path: Path) -> None:
    """A run.json of an older pmgsam records no timed_with: its model is read from meta."""
    from pmgsam.baselines.row_timing import timing_settings

    meta = {"efficiency_report": CPU_REPORT, "model_type": "vit_h", "mode": "box"}
    same = timing_settings(CPU_REPORT, 1024, "5" * 64, {"model_type": "vit_h", "mode": "box"})
    assert _stale(tmp_path, {"fps": 0.5}, meta, same) == {}
    other = timing_settings(CPU_REPORT, 1024, "5" * 64, {"model_type": "vit_b", "mode": "box"})
    assert _stale(tmp_path, {"fps": 0.5}, meta, other) == DROPPED


def test_a_gpu_timing_stands_whatever_torchs_cpu_thread_count(tmp_path: Path) -> None:
    from pmgsam.baselines.row_timing import timing_settings

    gpu = {"device": "NVIDIA H200", "dtype": "fp32", "threads": 4}
    then = timing_settings(gpu, 1024, "5" * 64, {"mode": "box"})
    now = timing_settings({**gpu, "threads": 2}, 1024, "5" * 64, {"mode": "box"})
    assert _stale(tmp_path, {"fps": 20.0}, {"timed_with": then}, now) == {}


def test_a_timing_record_without_figures_goes_when_the_settings_changed(tmp_path: Path) -> None:
    """meta's record of a timing whose figures are gone (null) must not stay as this row's."""
    from pmgsam.baselines.row_timing import timing_settings

    then = timing_settings(CPU_REPORT, 1024, "5" * 64, {"mode": "box"})
    now = timing_settings(CPU_REPORT, 512, "5" * 64, {"mode": "box"})
    meta = {"timed_with": then, "efficiency_report": CPU_REPORT}
    assert _stale(tmp_path, {"fps": None}, meta, now) == DROPPED


def test_a_run_json_without_a_timing_keeps_everything_and_asks_no_settings(
    tmp_path: Path,
) -> None:
    """An untimed row over an untimed run.json drops nothing; the settings (which hash the
    checkpoint) are not worked out for it."""
    from pmgsam.baselines.row_timing import stale_timing

    run = {"efficiency": {"params_M": 93.7, "fps": None}, "meta": {"mode": "box"}}
    (tmp_path / "run.json").write_text(json.dumps(run))

    def settings() -> dict:
        raise AssertionError("settings asked for a run.json without a timing")

    assert stale_timing(tmp_path, settings) == {}


def test_a_timing_whose_settings_are_not_recorded_is_dropped_saying_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Figures with neither meta.timed_with nor an efficiency report cannot be checked."""
    from pmgsam.baselines.row_timing import timing_settings

    now = timing_settings(CPU_REPORT, 1024, "5" * 64, {"mode": "box"})
    with caplog.at_level("INFO", logger="pmgsam.baselines.row_timing"):
        assert _stale(tmp_path, {"fps": 0.5, "flops_G": 3.0}, {}, now) == DROPPED
    assert "(flops_G, fps): the settings it was measured with are not recorded" in caplog.text
