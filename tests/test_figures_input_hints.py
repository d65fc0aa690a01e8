"""``figures`` inputs that used to be refused without saying why: ``--by hce`` on a run scored
with ``--no-hce`` (now named, with what to do), and ``--images`` given file names with their
extension (the split's own file names are taken; another extension is refused naming the stem)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

from pmgsam.analysis import figures
from pmgsam.analysis.inputs import SplitImages
from pmgsam.evaluation.dis_results import write_dis_results
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_pairs


def _images(parts: List[str], stems: List[str]) -> SplitImages:
    names = [f"{p}/{s}" for p, s in zip(parts, stems)] if len(set(parts)) > 1 else list(stems)
    images = [Path(f"/data/{p}/im/{s}.jpg") for p, s in zip(parts, stems)]
    masks = [Path(f"/data/{p}/gt/{s}.png") for p, s in zip(parts, stems)]
    return SplitImages(names, parts, stems, images, masks)


@pytest.mark.parametrize("with_hce", [False, True], ids=["--no-hce", "with HCE"])
def test_by_hce_on_a_run_scored_without_hce_says_why_and_what_to_do(tmp_path, with_hce) -> None:
    # The per-image file as scoring writes it, with or without HCE.
    pairs = []
    for stem, value in (("a", 255), ("b", 0)):
        gt, pred = tmp_path / f"{stem}_gt.png", tmp_path / f"{stem}_pred.png"
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 255
        cv2.imwrite(str(gt), mask)
        cv2.imwrite(str(pred), np.full((16, 16), value, np.uint8) & mask)
        pairs.append((stem, str(pred), str(gt), None))
    summary, per_image = evaluate_dis_pairs(pairs, with_hce=with_hce, progress=False)
    run = tmp_path / "run"
    write_dis_results(run / "metrics" / "P.json", summary, per_image)
    images = _images(["P", "P"], ["a", "b"])
    if with_hce:  # the empty map misses the whole square: the higher HCE, worst first
        assert [i for i, _ in figures.worst_images(images, run, "P", "hce", 2)] == [1, 0]
        return
    with pytest.raises(EvaluationInputError) as err:
        figures.worst_images(images, run, "P", "hce", 1)
    message = str(err.value)
    assert f"{run / 'metrics' / 'P.per_image.csv'} has no HCE column" in message
    assert "scored without HCE (--no-hce)" in message
    assert "score it again without --no-hce" in message and "--by iou" in message


def test_images_takes_the_splits_file_names() -> None:
    images = _images(["P"] * 3, ["a", "b", "c.v2"])
    # The image's and the GT's file names name that image; a stem with a dot stays a stem.
    assert figures.pick_images(images, "b.jpg,a.png,c.v2,P/c.v2.jpg", 2) == [1, 0, 2, 2]


def test_images_with_another_extension_names_the_stem_to_give() -> None:
    images = _images(["P"] * 2, ["a", "b"])
    with pytest.raises(EvaluationInputError) as err:
        figures.pick_images(images, "a.tif,zz.jpg", 2)
    message = str(err.value)
    assert "not in the split: ['a.tif', 'zz.jpg']" in message
    assert "give 'a', the stem, for 'a.tif'" in message and "'zz'" not in message


def test_a_file_name_in_two_parts_of_a_combined_split_must_be_named_with_its_part() -> None:
    images = _images(["DIS-TE1", "DIS-TE2"], ["x", "x"])
    with pytest.raises(EvaluationInputError, match="'x.jpg' is DIS-TE1/x and DIS-TE2/x"):
        figures.pick_images(images, "x.jpg", 2)
    assert figures.pick_images(images, "DIS-TE2/x.jpg", 2) == [1]
