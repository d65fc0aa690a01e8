"""Which instance labels a COS score was made with is recorded: COD10K without its
``CAM_Instance_<Split>.json`` falls back to the ``GT_Instance`` PNGs, and the two give other
AP, so run.json's COS entry (``instance_labels``) and one log line name the source."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from cos_cases import evaluate, tiny_config

from pmgsam.data import build_dataset
from pmgsam.modeling.checkpoint import save_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cod10k_with_its_coco_file_records_that_file(cod10k_root, data_config, caplog) -> None:
    ds = build_dataset(data_config("cod10k", cod10k_root), "Test", 64, train=False)
    expected = cod10k_root / "Test" / "CAM_Instance_Test.json"
    assert ds.instances.record() == {"kind": "json", "path": str(expected)}
    with caplog.at_level(logging.INFO, logger="pmgsam"):
        ds.coco_gt()
    lines = [r.getMessage() for r in caplog.records if "instance labels" in r.getMessage()]
    assert lines == [f"cod10k Test instance labels: COCO file '{expected}'"]


def test_a_benchmark_without_the_coco_file_records_the_png_fallback(
    small_tiny_model, small_branches, cod10k_root: Path, tmp_path: Path, caplog
) -> None:
    root = tmp_path / "COD10K-v3"
    shutil.copytree(cod10k_root, root, ignore=shutil.ignore_patterns("CAM_Instance_*.json"))
    # Small frozen Hiera (small_branches for the run's own build): the records and scores
    # checked here do not depend on its size, and Hiera-T took most of the run.
    weights = save_model(small_tiny_model, tmp_path / "model.safetensors")
    data = {
        "dataset": "cod10k",
        "root": str(root),
        "train_split": "Train",
        "val_split": None,
        "test_splits": ["Test"],
        "num_workers": 0,
        "split_dir": str(tmp_path / "splits"),
    }
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="pmgsam"):
        assert evaluate(tiny_config(tmp_path, data), weights, run) == 0
    labels = json.loads((run / "run.json").read_text())["cos"]["COD10K"]["instance_labels"]
    assert labels["kind"] == "png" and labels["path"] == str(root / "Test" / "GT_Instance")
    assert labels["fallback"].startswith("no CAM_Instance_Test.json at ")
    assert str(root / "Test" / "CAM_Instance_Test.json") in labels["fallback"]
    lines = [r.getMessage() for r in caplog.records if "instance labels" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"cod10k Test instance labels: instance-map PNGs in '{root / 'Test' / 'GT_Instance'}' "
        "(no CAM_Instance_Test.json at "
    )
