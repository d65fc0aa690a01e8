"""Mutation audit of a baseline row's splits and timing (:mod:`pmgsam.baselines.row_splits`,
:mod:`pmgsam.baselines.row_timing`): what no other test pinned down. ``run_baseline`` is a
stand-in; nothing is predicted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
import torch

from pmgsam.baselines import runner
from pmgsam.baselines.row_splits import predict_and_score_splits
from pmgsam.baselines.row_timing import stale_timing, timing_settings, untimed_settings

CPU_REPORT = {"device": "cpu", "dtype": "fp32", "threads": 2, "image_size": 1024}


def test_each_split_is_predicted_with_the_limit_progress_and_its_own_cos_gt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Dict[str, List[Any]] = {}

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any, **_: Any):
        calls[split] = list(rest)
        scored = {"cos": {"AP": 0.5, "AP50": 0.5, "AP75": 0.5}} if rest[-2] is not None else {}
        return {"split": split, "num_images": 1, "timing_input": None, **scored}

    monkeypatch.setattr(runner, "run_baseline", run_baseline)
    monkeypatch.setattr(runner, "score_dis_maps", lambda *a: {"maxFm": 0, "MAE": 0,
                                                              "Smeasure": 0, "HCE": 0})  # fmt: skip
    # A folder dataset whose TE2 alone has instance labels.
    args = argparse.Namespace(dataset="folder", reduce="union", limit=3, quiet=True,
                              overwrite=False, speed_iters=0, workers=1)  # fmt: skip
    gt = {"TE2": ("coco of TE2", {"x.jpg": "truncated"})}
    labels = SimpleNamespace(instances=SimpleNamespace(record=lambda: {"kind": "png"}))
    datasets = {"TE1": labels, "TE2": labels}
    predict_and_score_splits(args, None, datasets, tmp_path, {}, {}, gt, torch.device("cpu"), 1)
    # rest: reduce, cos, limit, progress, overwrite, producer, skip, keep going, time, gt, left
    assert [calls["TE1"][i] for i in (2, 3)] == [3, False]  # --limit 3, --quiet
    assert calls["TE1"][-2:] == [None, None]  # a split without COS ground truth
    assert [calls["TE1"][1], calls["TE2"][1]] == [False, True]  # instances kept of TE2 only
    assert calls["TE2"][-2:] == ["coco of TE2", {"x.jpg": "truncated"}]
    args.quiet = False
    predict_and_score_splits(args, None, datasets, tmp_path, {}, {}, gt, torch.device("cpu"), 1)
    assert calls["TE1"][3] is True


def test_an_untimed_cuda_run_names_the_gpu_it_would_have_timed_on(monkeypatch) -> None:
    # A CPU timing must not stand for a GPU rerun (nor one GPU's for another's).
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    settings = untimed_settings(torch.device("cuda", 0), 1024, "5" * 64, {"mode": "box"})
    assert settings["device"] == "NVIDIA H200" and settings["dtype"] == "fp32"
    assert settings["threads"] is None  # a GPU timing does not depend on torch's CPU threads


def _stale(tmp_path: Path, run: Dict[str, Any], now: Dict[str, Any]) -> Dict[str, List[str]]:
    (tmp_path / "run.json").write_text(json.dumps(run))
    return stale_timing(tmp_path, lambda: now)


@pytest.mark.parametrize(
    "run",
    [
        {"efficiency": [1.0], "meta": {"mode": "box"}},
        {"efficiency": {"params_M": 1.0}, "meta": ["timed_with"]},
    ],
)
def test_a_run_json_with_malformed_sections_holds_no_timing(tmp_path: Path, run) -> None:
    now = timing_settings(CPU_REPORT, 1024, "5" * 64, {"mode": "box"})
    assert _stale(tmp_path, run, now) == {}


def test_a_timed_with_that_is_no_mapping_falls_back_to_the_efficiency_report(
    tmp_path: Path,
) -> None:
    model = {"mode": "box"}
    now = timing_settings(CPU_REPORT, 1024, "5" * 64, model)
    meta = {"timed_with": "cpu", "efficiency_report": CPU_REPORT, "mode": "box"}
    assert _stale(tmp_path, {"efficiency": {"fps": 0.5}, "meta": meta}, now) == {}
    other = timing_settings({**CPU_REPORT, "threads": 4}, 1024, "5" * 64, model)
    dropped = _stale(tmp_path, {"efficiency": {"fps": 0.5}, "meta": meta}, other)
    assert "fps" in dropped["efficiency"] and "timed_with" in dropped["meta"]
