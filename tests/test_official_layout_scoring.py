"""Scoring the datasets as they are downloaded: COD10K-v3's NonCAM images (whose GT_Object masks
are empty) kept out of the COS protocol, empty GT masks named in DIS scoring, and an image
folder given as the GT folder refused."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import save_model
from pmgsam.utils.config import ConfigError, to_dict

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


def _evaluate(args: list) -> int:
    spec = importlib.util.spec_from_file_location("evaluate_cli", ROOT / "evaluate.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli.main([str(a) for a in args])


def _with_noncam_masks(cod10k_root: Path, tmp_path: Path) -> Path:
    """A copy of the generated COD10K-v3 tree whose NonCAM images have an all-black GT_Object
    mask beside them, as in the download."""
    root = Path(shutil.copytree(cod10k_root, tmp_path / "COD10K-v3"))
    for split in ("Train", "Test"):
        for image in (root / split / "Image").glob("COD10K-NonCAM-*.jpg"):
            w, h = Image.open(image).size
            mask = root / split / "GT_Object" / f"{image.stem}.png"
            Image.fromarray(np.zeros((h, w), np.uint8)).save(mask)
    return root


def test_cod10k_benchmark_refuses_noncam_images_in_the_cos_protocol(
    seed0_tiny, cod10k_root, tmp_path
):
    root = _with_noncam_masks(cod10k_root, tmp_path)
    weights = save_model(seed0_tiny(), tmp_path / "model.safetensors")
    model = to_dict(model_config("pmgsam_tiny", image_size=64))
    data = {"dataset": "cod10k", "root": str(root), "train_split": "Train", "val_split": None,
            "test_splits": ["Test"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    run = tmp_path / "run"
    args = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet"]
    args += ["--output-dir", run, "data.cam_only=false"]
    with pytest.raises(ConfigError, match=r"data.cam_only is false .* data.cam_only=true"):
        _evaluate(args)
    assert not (run / "pred").exists()  # refused before anything was predicted
