"""What a baseline row passes on and records: ``--overwrite`` and ``--workers`` reach each split,
the maps' producer names the checkpoint by its absolute path, and an untimed rerun over another
checkpoint does not keep the earlier one's timing. Stand-ins of ``test_baseline_runner``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
import torch
from test_baseline_runner import BoxStandIn, H, Stand, W, rect

import pmgsam.efficiency.timing as timing
from pmgsam.baselines import runner
from pmgsam.baselines.efficiency import measure_efficiency
from pmgsam.baselines.resume import baseline_producer
from pmgsam.baselines.row_splits import predict_and_score_splits
from pmgsam.baselines.row_timing import stale_timing, timing_settings
from pmgsam.utils.outputs import OutputError

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _args(overwrite: bool) -> argparse.Namespace:
    return argparse.Namespace(dataset="dis5k", reduce="union", limit=None, quiet=True,
                              overwrite=overwrite, speed_iters=0, workers=3)  # fmt: skip


def test_overwrite_and_workers_reach_each_split(tmp_path: Path, monkeypatch) -> None:
    data = Stand(tmp_path / "data", {"a": rect(2, 5, 3, 9)})
    pred = tmp_path / "run" / "pred" / "TE1"
    pred.mkdir(parents=True)
    (pred / "notes.txt").write_text("the user's")  # a file this tool did not write
    workers: List[Any] = []
    scores = {"maxFm": 0.5, "MAE": 0.5, "Smeasure": 0.5, "HCE": 5}
    monkeypatch.setattr(runner, "score_dis_maps", lambda d, s, o, w=1: workers.append(w) or scores)
    splits = dict(baseline=BoxStandIn(), datasets={"TE1": data}, out_dir=tmp_path / "run", meta={},
                  producer={}, cos_gt={}, device=torch.device("cpu"), threads=1)  # fmt: skip
    with pytest.raises(OutputError, match="notes.txt"):
        predict_and_score_splits(_args(overwrite=False), **splits)
    assert not (pred / "a.png").exists()
    predict_and_score_splits(_args(overwrite=True), **splits)
    assert (pred / "a.png").is_file() and workers == [3]


def test_the_producer_names_the_checkpoint_by_its_absolute_path(tmp_path: Path, monkeypatch):
    # A relative path in a manifest names another file once the run starts elsewhere.
    monkeypatch.chdir(tmp_path)
    made = baseline_producer(Path("weights") / "sam.pth", "a" * 64, 1024, {})
    assert made["weights"] == str(tmp_path.resolve() / "weights" / "sam.pth")


def test_an_untimed_rerun_over_another_checkpoint_drops_the_timing(tmp_path: Path) -> None:
    """A fine-tuned checkpoint replaced in place (same path, other bytes): its speed and
    FLOPs are the other model's, and the row no longer says which it was timed on."""
    report = {"device": "cpu", "dtype": "fp32", "threads": 2}
    then = timing_settings(report, 1024, "5" * 64, {"mode": "box"})
    run = {"efficiency": {"fps": 0.5}, "meta": {"timed_with": then}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    now = timing_settings(report, 1024, "6" * 64, {"mode": "box"})
    assert stale_timing(tmp_path, lambda: now)["efficiency"]
    assert stale_timing(tmp_path, lambda: then) == {}


def test_the_warm_up_passes_are_not_timed(monkeypatch) -> None:
    """A slow start (the FLOP count and the --speed-warmup passes: caches, allocation) must not
    count in the row's speed: on a fake clock the stand-in takes 30 ms a pass until the warm-up
    is over, then 1 ms (a real clock left the timed passes at the mercy of a loaded machine)."""
    baseline = BoxStandIn()
    calls = []
    predict = baseline.predict
    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])

    def slow_start(image, boxes=None):
        calls.append(len(calls))
        now[0] += 0.03 if len(calls) <= 1 + 3 else 0.001  # the FLOP count, then 3 warm-ups
        return predict(image, boxes)

    baseline.predict = slow_start
    boxes = np.array([[0, 0, 3, 3]], np.float32)
    report = measure_efficiency(baseline, np.zeros((H, W, 3), np.uint8), boxes, 2, 3, False)
    assert len(calls) == 1 + 3 + 2 and (report["iters"], report["warmup"]) == (2, 3)
    # Timing the last warm-up pass too would give (30 + 1) / 2 = 15.5 ms.
    assert report["speed"]["latency_ms_mean"] == pytest.approx(1.0)
    assert report["speed"]["first_call_ms"] == pytest.approx(30.0)  # the first warm-up pass
