"""A baseline row's splits (:mod:`pmgsam.baselines.row_splits`): which table column each COS
split's scores go to, and which image the row is timed on. ``run_baseline`` is a stand-in
returning hand-written summaries."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
import torch

from pmgsam.baselines import runner
from pmgsam.baselines.row_splits import predict_and_score_splits
from pmgsam.data.instance_labels import InstanceSource


def test_only_the_test_split_fills_the_datasets_column_and_the_first_split_is_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: List[str] = []

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any, **_: Any):
        asked.append(split)
        ap = {"train": 0.25, "test": 0.5}[split]
        return {"split": split, "num_images": 1, "timing_input": (f"image of {split}", None),
                "cos": {"AP": ap, "AP50": ap, "AP75": ap}}  # fmt: skip

    monkeypatch.setattr(runner, "run_baseline", run_baseline)
    args = argparse.Namespace(dataset="nc4k", reduce="union", limit=None, quiet=True,
                              overwrite=False, speed_iters=1, workers=1)  # fmt: skip
    meta: Dict[str, Any] = {}
    pngs = InstanceSource("png", tmp_path / "Instance")
    datasets = {"train": SimpleNamespace(instances=pngs), "test": SimpleNamespace(instances=pngs)}
    dis, cos, timing = predict_and_score_splits(
        args, None, datasets, tmp_path, meta, {}, {}, torch.device("cpu"), 1
    )
    assert asked == ["train", "test"] and dis == {}
    # The NC4K column is the test split's; the train split gets a column of its own.
    read = {"instance_labels": {"kind": "png", "path": str(tmp_path / "Instance")}}
    assert cos == {"NC4K train": {"AP": 0.25, "AP50": 0.25, "AP75": 0.25, **read},
                   "NC4K": {"AP": 0.5, "AP50": 0.5, "AP75": 0.5, **read}}  # fmt: skip
    assert timing == ("image of train", None)
    assert meta["split test"] == {"split": "test", "num_images": 1}


DIS_SCORES = {"maxFm": 0.5, "MAE": 0.5, "Smeasure": 0.5, "HCE": 5}


def _splits_args(speed_iters: int = 1) -> argparse.Namespace:
    return argparse.Namespace(dataset="dis5k", reduce="union", limit=None, quiet=True,
                              overwrite=False, speed_iters=speed_iters, workers=1,
                              keep_going=True)  # fmt: skip


@pytest.mark.parametrize("speed_iters", [1, 0])
def test_a_timing_image_is_asked_for_until_one_is_had_and_only_when_timing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speed_iters: int
) -> None:
    asked: List[bool] = []

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any, **_: Any):
        asked.append(rest[8])  # timing: read a kept image again to time it
        return {"split": split, "num_images": 1, "timing_input": (f"image of {split}", None)}

    monkeypatch.setattr(runner, "run_baseline", run_baseline)
    monkeypatch.setattr(runner, "score_dis_maps", lambda *a: DIS_SCORES)
    datasets = {"TE1": None, "TE2": None}
    predict_and_score_splits(
        _splits_args(speed_iters), None, datasets, tmp_path, {}, {}, {}, torch.device("cpu"), 1
    )
    # A later split's first image is not read again once the first split gave one to time.
    assert asked == ([True, False] if speed_iters else [False, False])


def test_a_split_with_unreadable_images_is_not_scored_and_named_once_all_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmgsam.engine.unreadable import UnreadableInputs

    asked: List[str] = []

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any, **_: Any):
        asked.append(split)
        summary = {"split": split, "num_images": 2, "timing_input": None}
        return {**summary, "failed": {"b": "truncated JPEG"}} if split == "TE1" else summary

    scored: List[str] = []
    monkeypatch.setattr(runner, "run_baseline", run_baseline)
    monkeypatch.setattr(
        runner, "score_dis_maps", lambda _d, s, *a: scored.append(s["split"]) or DIS_SCORES
    )
    meta: Dict[str, Any] = {}
    with pytest.raises(UnreadableInputs, match=r"1 input file\(s\) .*TE1/b .*truncated JPEG"):
        predict_and_score_splits(_splits_args(), None, {"TE1": None, "TE2": None}, tmp_path,
                                 meta, {}, {}, torch.device("cpu"), 1)  # fmt: skip
    assert asked == ["TE1", "TE2"] and scored == ["TE2"]
    assert "split TE1" not in meta and "split TE2" in meta


def test_cpu_prediction_keeps_no_cpu_for_loader_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_baseline reads its images itself: every CPU the process may use predicts."""
    from pmgsam.utils import cpus

    seen: List[int] = []

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any, **_: Any):
        seen.append(torch.get_num_threads())
        return {"split": split, "num_images": 1, "timing_input": None}

    monkeypatch.setattr(runner, "run_baseline", run_baseline)
    monkeypatch.setattr(runner, "score_dis_maps", lambda *a: DIS_SCORES)
    monkeypatch.setattr(cpus, "cpu_share", lambda: 3)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        predict_and_score_splits(_splits_args(), None, {"TE1": None}, tmp_path, {}, {}, {},
                                 torch.device("cpu"), None)  # fmt: skip
        assert seen == [3] and torch.get_num_threads() == 4  # put back after the split
    finally:
        torch.set_num_threads(before)
