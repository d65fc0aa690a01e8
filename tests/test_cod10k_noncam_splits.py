"""COD10K-v3 as downloaded holds NonCAM images with empty GT_Object masks: ``data.cam_only``
false lists them, true (the default) leaves them out. The two pools are carved into train/val
with split files of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from pmgsam.data.layouts import list_split


def _with_noncam_masks(cod10k_root: Path, tmp_path: Path) -> Path:
    root = Path(shutil.copytree(cod10k_root, tmp_path / "COD10K-v3"))
    for image in (root / "Train" / "Image").glob("COD10K-NonCAM-*.jpg"):
        w, h = Image.open(image).size
        mask = np.zeros((h, w), np.uint8)
        Image.fromarray(mask).save(root / "Train" / "GT_Object" / f"{image.stem}.png")
    return root


def test_a_carve_with_noncam_images_leaves_the_cam_only_carve_alone(
    cod10k_root, tmp_path, data_config
):
    root = _with_noncam_masks(cod10k_root, tmp_path)
    fresh = data_config("cod10k", root, split_dir=str(tmp_path / "fresh"))
    cam_alone = {p: list_split(fresh, f"Train:{p}").names for p in ("train", "val")}

    shared = tmp_path / "shared"
    with_noncam = data_config("cod10k", root, cam_only=False, split_dir=str(shared))
    names = [n for p in ("train", "val") for n in list_split(with_noncam, f"Train:{p}").names]
    assert any("-NonCAM-" in n for n in names)
    # Before: one file for both pools, so the default config, run after, found NonCAM names
    # there and stopped ("image(s) that no longer exist in the dataset").
    cam_only = data_config("cod10k", root, split_dir=str(shared))
    assert {p: list_split(cam_only, f"Train:{p}").names for p in ("train", "val")} == cam_alone
    assert sorted(f.name for f in shared.iterdir()) == [
        "cod10k-with-noncam__Train__val0.2__seed0.json",
        "cod10k__Train__val0.2__seed0.json",
    ]
