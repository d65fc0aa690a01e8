"""Which files a split lists, on small trees built by hand in the documented layouts
(DESIGN.md §3 and pmgsam.data.layouts): DIS5K ``ske/`` skeletons, where COD10K's COCO file is
looked up first, a ``folder`` dataset's instance maps, sub-folder splits and pool splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict

from pmgsam.data import DataError, available_splits, build_dataset

S = 32


def _pairs(images: Path, masks: Path, stems: Iterable[str], image_ext: str = ".jpg") -> None:
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        cv2.imwrite(str(images / f"{stem}{image_ext}"), np.full((6, 8, 3), 90, np.uint8))
        mask = np.zeros((6, 8), np.uint8)
        mask[2:4, 2:6] = 255
        cv2.imwrite(str(masks / f"{stem}.png"), mask)


def test_dis5k_skeletons_follow_the_names_and_survive_carving(tmp_path, data_config) -> None:
    root = tmp_path / "DIS5K"
    split = root / "DIS-TE1"
    stems = ["b10", "a", "b2", "c"]
    _pairs(split / "im", split / "gt", stems)
    (split / "ske").mkdir()
    for stem in ("b10", "a", "c"):  # b2 has no skeleton file: HCE computes it from the GT
        cv2.imwrite(str(split / "ske" / f"{stem}.png"), np.zeros((6, 8), np.uint8))
    cfg = data_config("dis5k", root)
    ds = build_dataset(cfg, "DIS-TE1", S, train=False)
    assert ds.names == ["a", "b2", "b10", "c"]  # natural order
    ske = split / "ske"
    assert ds.skeleton_paths == [ske / "a.png", None, ske / "b10.png", ske / "c.png"]
    # A carved part keeps each image's own skeleton.
    for part in ("DIS-TE1:train", "DIS-TE1:val"):
        sub = build_dataset(cfg, part, S, train=False)
        assert sub.skeleton_paths == [ske / f"{n}.png" if n != "b2" else None for n in sub.names], (
            part
        )
    # Without a ske/ folder there are no skeletons at all (not a list of None).
    other = root / "DIS-TE2"
    _pairs(other / "im", other / "gt", ["x", "y"])
    assert build_dataset(cfg, "DIS-TE2", S, train=False).skeleton_paths is None
    # Each split is carved on its own (its own split file), next to DIS-TE1's carving.
    val = build_dataset(cfg, "DIS-TE2:val", S, train=False)
    assert len(val) == 1 and val.names[0] in ("x", "y")


def test_cod10k_json_in_the_split_folder_wins_over_the_root_one(tmp_path, data_config) -> None:
    root = tmp_path / "COD10K-v3"
    stem = "COD10K-CAM-1-Aquatic-1-BatFish-1"
    _pairs(root / "Test" / "Image", root / "Test" / "GT_Object", [stem])
    (root / "annotations").mkdir()
    for where in (root / "annotations", root, root / "Test"):
        (where / "CAM_Instance_Test.json").write_text(
            json.dumps(coco_dict((6, 8), images=[f"{stem}.jpg"]))
        )
        ds = build_dataset(data_config("cod10k", root), "Test", S, train=False)
        # Each newly written file is the one looked up before the previous ones.
        assert (ds.instances.kind, ds.instances.path) == ("json", where / "CAM_Instance_Test.json")


def test_folder_instance_maps_are_read_from_the_split_folder(tmp_path, data_config) -> None:
    _pairs(tmp_path / "images", tmp_path / "masks", ["p0", "p1"])
    _pairs(tmp_path / "extra" / "images", tmp_path / "extra" / "masks", ["e0"])
    (tmp_path / "inst").mkdir()
    (tmp_path / "extra" / "inst").mkdir()
    cfg = data_config("folder", tmp_path, instance_dir="inst")
    pool = build_dataset(cfg, "all", S, train=False)
    assert (pool.instances.kind, pool.instances.path) == ("png", tmp_path / "inst")
    extra = build_dataset(cfg, "extra", S, train=False)
    assert (extra.instances.kind, extra.instances.path) == ("png", tmp_path / "extra" / "inst")
    # A configured instance folder that is not there is an error naming it and the key when
    # the labels are read (a training split without them still trains).
    cfg = data_config("folder", tmp_path, instance_dir="labels")
    missing = build_dataset(cfg, "all", S, train=False)
    with pytest.raises(DataError, match=r"labels.*does not exist.*data\.instance_dir"):
        missing.coco_gt()
    # Not configured: no labels, and coco_gt says why.
    plain = build_dataset(data_config("folder", tmp_path), "all", S, train=False)
    assert plain.instances.kind == "none" and "instance_dir" in plain.instances.reason


def test_folder_without_a_pool_offers_only_its_sub_folders(tmp_path, data_config) -> None:
    for sub in ("zeta", "alpha", "mid"):
        _pairs(tmp_path / sub / "images", tmp_path / sub / "masks", [f"{sub}0"])
    (tmp_path / "notes").mkdir()  # a folder without images/ is not a split
    cfg = data_config("folder", tmp_path)
    # No <root>/images pool: nothing to carve train/test from.
    assert available_splits(cfg) == ["alpha", "mid", "zeta"]
    with pytest.raises(DataError, match=r"unknown split 'train'.*\['alpha', 'mid', 'zeta'\]"):
        build_dataset(cfg, "train", S, train=False)


def test_folder_own_train_folder_wins_over_the_carved_pool(tmp_path, data_config) -> None:
    _pairs(tmp_path / "images", tmp_path / "masks", [f"p{i}" for i in range(5)])
    _pairs(tmp_path / "train" / "images", tmp_path / "train" / "masks", ["t0", "t1"])
    cfg = data_config("folder", tmp_path)
    assert available_splits(cfg) == ["all", "train", "test"]
    train = build_dataset(cfg, "train", S, train=False)
    assert train.names == ["t0", "t1"]
    assert train.image_paths[0].parent == tmp_path / "train" / "images"
    # "test" has no folder of its own: it is carved from the pool (20 % of 5 -> 1 image).
    test = build_dataset(cfg, "test", S, train=False)
    assert len(test) == 1 and test.names[0].startswith("p")
