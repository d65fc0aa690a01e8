"""run_data's check of a gone data root, unit by unit: which one split under the new root is
fingerprinted (the one of fewest images, skipping one that cannot be listed), and where a
DIS5K entry's GT masks lie under a root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.data.dis5k_splits import ALL_TE_NAME, TE_PARTS
from pmgsam.evaluation.run_data import (
    _dis5k_folders,
    _gone_root_differs,
    check_same_data,
    check_same_gt_root,
    record_ground_truth,
)
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_gt import GT_KEY, mask_record

OTHER = "f" * 64  # no folder of masks has this fingerprint


def _masks(folder: Path, count: int, suffix: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((4, 5), 40 * i, np.uint8)).save(folder / f"m{i}{suffix}")
    return folder


def _entry(fingerprint: str, images: int) -> dict:
    return {"maxFm": 0.5, GT_KEY: {"fingerprint": fingerprint, "images": images}}


def _by_name(root: Path, name: str):
    return [root / name]


def test_only_the_entry_of_fewest_images_is_fingerprinted(tmp_path: Path) -> None:
    # "big" (listed first, 3 images) records other masks; "small" (1 image) its own: one split
    # tells, and it is the small one (the cheap one), whatever the order or name.
    _masks(tmp_path / "big", 3)
    small = mask_record(sorted(_masks(tmp_path / "small", 1).iterdir()))["fingerprint"]
    kept = {"big": _entry(OTHER, 3), "small": _entry(small, 1)}
    assert _gone_root_differs(tmp_path, kept, _by_name) is None
    # The other way round, the small one is the one named.
    kept = {"big": _entry(mask_record(sorted((tmp_path / "big").iterdir()))["fingerprint"], 3)}
    kept["small"] = _entry(OTHER, 1)
    assert _gone_root_differs(tmp_path, kept, _by_name) == "small"


def test_an_entry_whose_masks_cannot_be_listed_passes_the_turn_on(tmp_path: Path) -> None:
    # Two masks of one stem (x.png, x.jpg) cannot be listed: that split tells nothing, and the
    # next one is compared instead of the check ending with "nothing differs".
    clash = _masks(tmp_path / "clash", 1)
    _masks(clash, 1, ".jpg")
    _masks(tmp_path / "other", 2)
    kept = {"clash": _entry(OTHER, 1), "other": _entry(OTHER, 2)}
    assert _gone_root_differs(tmp_path, kept, _by_name) == "other"


def test_entries_without_a_record_or_folder_are_not_compared(tmp_path: Path) -> None:
    # An entry without a record (an older pmgsam's) has nothing to compare its masks with.
    _masks(tmp_path / "there", 1)
    _masks(tmp_path / "unrecorded", 1)
    kept = {"unrecorded": {"maxFm": 0.5}, "absent": _entry(OTHER, 1)}
    assert _gone_root_differs(tmp_path, kept, _by_name) is None
    kept["there"] = _entry(OTHER, 5)
    assert _gone_root_differs(tmp_path, kept, _by_name) == "there"


def test_dis5k_folders_of_sets_and_carved_splits(tmp_path: Path) -> None:
    # The TE1-4 entry pools the four test parts: all four GT folders, not one named after it
    # (which never exists, so a changed DIS5K would pass unchecked).
    assert _dis5k_folders(tmp_path, ALL_TE_NAME) == [tmp_path / p / "gt" for p in TE_PARTS]
    assert _dis5k_folders(tmp_path, "DIS-TE1+DIS-TE3") == [
        tmp_path / "DIS-TE1" / "gt",
        tmp_path / "DIS-TE3" / "gt",
    ]
    assert _dis5k_folders(tmp_path, "DIS-VD") == [tmp_path / "DIS-VD" / "gt"]


def test_gone_root_split_scored_again_without_record_checks_the_kept_ones(
    dis5k_root, data_config, tmp_path: Path
) -> None:
    # DIS-TE1 (an older pmgsam's entry: a root, no GT record) is scored again from the moved
    # data; it has no fingerprint to compare, so the kept DIS-TE2 tells, and it is the same.
    data = Path(shutil.copytree(dis5k_root, tmp_path / "data" / "DIS5K"))
    cfg = data_config("dis5k", data)
    datasets = {s: build_dataset(cfg, s, 32, train=False) for s in ("DIS-TE1", "DIS-TE2")}
    dis = {s: {"maxFm": 0.5, "HCE": None} for s in datasets}
    record_ground_truth("dis5k", list(datasets), datasets, {}, dis, {}, data)
    del dis["DIS-TE1"][GT_KEY]
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"method": "M", "dis": dis}))
    moved = data.rename(tmp_path / "moved")
    now = {"DIS-TE1": build_dataset(data_config("dis5k", moved), "DIS-TE1", 32, train=False)}
    check_same_data(run, "dis5k", ["DIS-TE1"], moved, now, {})


def test_folder_row_gone_root_finds_a_gt_dir_of_its_own_name(tmp_path: Path) -> None:
    # --gt-dir DIS5K/DIS-TE2/masks (not gt/): under the new root the same relative folder is
    # fingerprinted, so a redrawn DIS-TE2 there is refused.
    data = tmp_path / "data" / "DIS5K"
    masks = _masks(data / "DIS-TE2" / "masks", 2)
    row = {"maxFm": 0.5, GT_KEY: mask_record(sorted(masks.iterdir()))}
    scored = {"dis/DIS-TE2": {"pred_dir": str(tmp_path), "gt": str(masks.resolve())}}
    run = tmp_path / "run"
    run.mkdir()
    doc = {"method": "M", "dis": {"DIS-TE2": row}, "meta": {"scored_maps": scored}}
    (run / "run.json").write_text(json.dumps(doc))
    other = tmp_path / "other" / "DIS5K"
    shutil.copytree(data, other)
    shutil.rmtree(data)
    first = sorted((other / "DIS-TE2" / "masks").iterdir())[0]
    Image.fromarray(np.full((4, 5), 255, np.uint8)).save(first)
    (other / "DIS-TE1" / "masks").mkdir(parents=True)
    with pytest.raises(EvaluationInputError, match="gone since"):
        check_same_gt_root(run, "dis", "DIS-TE1", other / "DIS-TE1" / "masks")
