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

    def run_baseline(baseline: Any, dataset: Any, out_dir: Path, split: str, *rest: Any):
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
