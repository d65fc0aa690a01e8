"""DIS scoring's checks of the GT folder (pmgsam.evaluation.map_checks.refuse_photo_gt, the
GT_Edge warning) and its one-line warning of GT masks without foreground (EmptyGTWarning), on
the inputs the first tests left open: a photo whose colours differ mostly in red, a grey soft
mask saved as RGB, a first file that tells nothing, GT levels at and below 128."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.map_checks import refuse_photo_gt
from pmgsam.evaluation.scoring import EmptyGTWarning, EvaluationInputError, evaluate_dis_folder

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _score(tmp_path: Path, gt: str = "gt"):
    return evaluate_dis_folder(tmp_path / "pred", tmp_path / gt, with_hce=False, progress=False)


def test_a_photo_of_bright_greens_is_counted_by_all_its_colours(tmp_path):
    # 64×64 pixels whose green is 128..255 and red anything: about 3850 distinct colours, far
    # over the 512 (pixels / 8) of a photo this small. Packed with green shifted in int16,
    # green >= 128 wrapped negative and hid red: 128 "colours", read as a mask.
    rng = np.random.default_rng(0)
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[..., 0] = rng.integers(0, 256, (64, 64))
    photo[..., 1] = rng.integers(128, 256, (64, 64))
    true_colours = len(np.unique(photo.reshape(-1, 3), axis=0))
    assert true_colours > 3000
    path = _write(tmp_path / "im" / "leaves.png", photo)
    with pytest.raises(EvaluationInputError, match=rf"leaves.png has {true_colours} colours"):
        refuse_photo_gt([path], tmp_path / "im")


def test_a_grey_soft_mask_saved_as_rgb_is_scored_not_refused(tmp_path):
    # Equal channels: a mask, however many grey levels (256 here, over the 128 that a photo of
    # 32×32 pixels must exceed).
    levels = np.arange(32 * 32, dtype=np.int64).reshape(32, 32) % 256
    grey = np.repeat(levels.astype(np.uint8)[..., None], 3, axis=2)
    _write(tmp_path / "gt" / "soft.png", grey)
    _write(tmp_path / "pred" / "soft.png", grey[..., 0])
    summary, _ = _score(tmp_path)
    assert summary["num_images"] == 1


@pytest.mark.parametrize("first", ["unreadable", "grey"])
def test_a_photo_after_a_first_file_that_tells_nothing_is_refused(tmp_path, first):
    # The first file by name is skipped (PIL cannot open it, or its header says grey): the
    # next ones are still looked at.
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    if first == "unreadable":
        (tmp_path / "gt").mkdir()
        (tmp_path / "gt" / "a.png").write_bytes(b"not a png")
    else:
        _write(tmp_path / "gt" / "a.png", np.zeros((48, 64), np.uint8))
    _write(tmp_path / "gt" / "b.png", photo)
    for stem in ("a", "b"):
        _write(tmp_path / "pred" / f"{stem}.png", np.zeros((48, 64), np.uint8))
    with pytest.raises(EvaluationInputError, match=r"holds colour photos, not masks: b.png"):
        _score(tmp_path)


def test_gt_levels_up_to_128_are_named_as_empty(tmp_path):
    # Foreground is > 128 (the metrics' and PySODMetrics' rule): a mask of 0, 60 and 128 (three
    # levels: not read as 0/v labels) has none, and its maxFβ is 0.
    gt = np.zeros((24, 32), np.uint8)
    gt[4:12, 4:12] = 60
    gt[12:20, 12:28] = 128
    _write(tmp_path / "gt" / "faint.png", gt)
    _write(tmp_path / "pred" / "faint.png", gt)
    with pytest.warns(EmptyGTWarning, match=r"1 of 1 GT mask\(s\) have no foreground.*faint"):
        summary, _ = _score(tmp_path)
    assert summary["maxFm"] == 0


def test_a_gt_with_one_pixel_above_128_is_not_named(tmp_path):
    gt = np.zeros((24, 32), np.uint8)
    gt[5, 5] = 129
    _write(tmp_path / "gt" / "one.png", gt)
    _write(tmp_path / "pred" / "one.png", gt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyGTWarning)
        _score(tmp_path)


def test_a_lower_case_gt_edge_folder_is_named_too(tmp_path):
    edge = np.zeros((24, 32), np.uint8)
    edge[6, 8:24] = 255
    _write(tmp_path / "gt_edge" / "COD10K-CAM-1-Aquatic-1-BatFish-1.png", edge)
    _write(tmp_path / "pred" / "COD10K-CAM-1-Aquatic-1-BatFish-1.png", edge)
    with pytest.warns(UserWarning, match=r"gt_edge' holds COD10K's object edges"):
        _score(tmp_path, "gt_edge")
