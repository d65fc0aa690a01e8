"""Benchmark mode on COS data writes the COCO ground truth it scored against beside the scores
(``metrics/<split>.gt.json``, as baseline mode does): NC4K's instance PNGs have no COCO file, and
scoring another method's maps with ``--task cos --gt-json`` needs one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_cases import evaluate_main
from cos_cases import evaluate, tiny_config
from PIL import Image

from pmgsam.modeling.checkpoint import save_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_nc4k_benchmark_writes_the_coco_gt_that_scoring_mode_reproduces(
    small_tiny_model, small_branches, nc4k_root: Path, tmp_path: Path
) -> None:
    # Small frozen Hiera (small_branches for the run's own build): the records and scores
    # checked here do not depend on its size, and Hiera-T took most of the run.
    weights = save_model(small_tiny_model, tmp_path / "model.safetensors")
    data = {"dataset": "nc4k", "root": str(nc4k_root), "train_split": "train",
            "val_split": None, "test_splits": ["test"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    run = tmp_path / "run"
    assert evaluate(tiny_config(tmp_path, data), weights, run) == 0

    gt = json.loads((run / "metrics" / "test.gt.json").read_text())
    # One COCO image per test image, one annotation per colour (instance) of its RGB
    # Instance PNG, black being the background.
    maps = sorted(p.stem for p in (run / "pred" / "test").glob("*.png"))
    assert sorted(Path(im["file_name"]).stem for im in gt["images"]) == maps

    def colours(stem: str) -> int:
        rgb = np.asarray(Image.open(nc4k_root / "Instance" / f"{stem}.png").convert("RGB"))
        return len({tuple(c) for c in rgb.reshape(-1, 3)} - {(0, 0, 0)})

    assert len(gt["annotations"]) == sum(colours(s) for s in maps) > 0

    benchmark = json.loads((run / "metrics" / "test.json").read_text())
    out = tmp_path / "ap.json"
    gt_json = run / "metrics" / "test.gt.json"
    assert evaluate_main(["--task", "cos", "--pred-dir", run / "pred" / "test", "--gt-json",
                          gt_json, "--out", out, "--quiet"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["stats"] == benchmark["stats"]
