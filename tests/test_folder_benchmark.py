"""Your own image/mask pairs (a ``folder`` dataset) in benchmark and baseline mode: the carved
test split is predicted and scored with the DIS metrics, as a DIS5K split is, and the tables
name the split, not DIS5K."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import evaluate
import pmgsam
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import save_model
from pmgsam.report import main as report_main
from pmgsam.utils.config import to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folder_config(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("folder_bench")
    rng = np.random.default_rng(0)
    root = tmp / "mine"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(6):
        image = rng.integers(0, 255, (40, 48, 3), np.uint8)
        cv2.imwrite(str(root / "images" / f"p{i}.jpg"), image)
        mask = np.zeros((40, 48), np.uint8)
        mask[5 : 20 + i, 8:30] = 255
        cv2.imwrite(str(root / "masks" / f"p{i}.png"), mask)
    model = to_dict(model_config("pmgsam_tiny", image_size=64))
    data = {"dataset": "folder", "root": str(root), "val_split": None, "num_workers": 0,
            "train_split": "train", "test_splits": ["test"],
            "split_dir": str(tmp / "splits")}  # fmt: skip
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    return path


def _test_split(config: Path) -> list:
    # Evaluation saves no split file (only training does): the seeded draw it scored.
    from pmgsam.data.layouts import list_split
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import load_config

    return list_split(load_config(ExperimentConfig, str(config)).data, "test").names


def test_pmgsam_and_sam_box_on_a_folder_dataset(folder_config, sam_file, tmp_path, capsys):
    torch.manual_seed(0)
    weights = save_model(
        pmgsam.build_model("pmgsam_tiny", image_size=64), tmp_path / "m.safetensors"
    )
    ours = tmp_path / "ours"
    argv = ["--config", folder_config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--workers", "1", "--no-hce", "--output-dir", ours]  # fmt: skip
    assert evaluate.main([str(a) for a in argv]) == 0  # dataset and splits from the config
    test = _test_split(folder_config)
    scores = json.loads((ours / "run.json").read_text())["dis"]["test"]
    assert scores["num_images"] == len(test) >= 1
    rows = (ours / "metrics" / "test.per_image.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == sorted(test)
    out = capsys.readouterr().out
    assert "## DIS metrics" in out and "### test" in out

    # SAM with the tight GT box on the same images, then both rows in one report (conftest's
    # session-wide random ViT-B, saved at a 64-px input: building and saving one takes seconds).
    box = tmp_path / "sam_box"
    argv = ["--baseline", "sam-box", "--checkpoint", sam_file[0], "--config", folder_config,
            "--splits", "test", "--output-dir", box, "--device", "cpu", "--quiet",
            "--model-image-size", "64", "--speed-iters", "0", "--workers", "1"]  # fmt: skip
    assert evaluate.main([str(a) for a in argv]) == 0
    assert json.loads((box / "run.json").read_text())["dis"]["test"]["num_images"] == len(test)
    assert sorted(p.stem for p in (box / "pred" / "test").glob("*.png")) == sorted(test)
    tables = tmp_path / "tables"
    assert report_main([str(ours), str(box), "--out", str(tables)]) == 0
    md = (tables / "dis.md").read_text()
    assert "### test" in md and "| ours |" in md.lower() and "sam" in md.lower()
