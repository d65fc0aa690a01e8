"""Mutation audit 6: what a pairing refusal says of other methods' maps (map_pairs.pairing_hint).

Each hint is said only where the folders show it: a prefix as well as a suffix added to every
GT's name, never a pattern only some maps follow; subfolders that are not hidden, matched to
the GT's split however it is cased and whichever of the GT folder or its parent names it;
"another split" only when no map paired and nothing else explains it; COS scoring says the
same of its maps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.map_pairs import pair_folders
from pmgsam.evaluation.scoring import EvaluationInputError
from tests.mask_cases import box_masks, coco_annotation, coco_dict
from tests.mask_cases import dis_refusal as _refusal


def _masks(folder: Path, names) -> Path:
    return box_masks(folder, names, shape=(20, 24), box=(4, 12, 5, 15))


def test_a_prefix_added_to_every_name_is_named(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png", "b.png"])
    pred = _masks(tmp_path / "pred", ["pred_a.png", "pred_b.png"])
    text = _refusal(pred, gt)
    assert "with 'pred_' before its name (e.g. 'pred_a.png' for 'a')" in text
    assert "after its name" not in text


def test_a_suffix_only_some_maps_have_is_not_said_of_every_map(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png", "b.png"])
    pred = _masks(tmp_path / "pred", ["a_pred.png", "x.png"])
    text = _refusal(pred, gt)
    assert "Every prediction is named" not in text
    assert "of another split or dataset" in text  # no map paired, nothing else to say


def test_hidden_subfolders_are_not_named_as_splits(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png", "b.png"])
    pred = _masks(tmp_path / "pred", ["x.png", "y.png"])
    (pred / ".ipynb_checkpoints").mkdir()
    text = _refusal(pred, gt)
    assert "holds subfolder(s)" not in text and "of another split or dataset" in text


@pytest.mark.parametrize(
    "gt_parts, sub", [(("gt", "DIS-TE1"), "DIS-TE1"), (("DIS-TE1", "gt"), "dis-te1")]
)
def test_the_split_subfolder_is_found_by_either_gt_folder_name_in_any_case(tmp_path, gt_parts, sub):
    gt = _masks(tmp_path.joinpath(*gt_parts), ["a.png", "b.png"])
    _masks(tmp_path / "pred" / sub, ["a.png", "b.png"])
    _masks(tmp_path / "pred" / "other", ["c.png"])
    assert f"e.g. '{tmp_path / 'pred' / sub}'" in _refusal(tmp_path / "pred", gt)


def test_another_split_is_not_suggested_when_some_maps_paired(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png", "b.png"])
    pred = _masks(tmp_path / "pred", ["a.png", "x.png"])
    text = _refusal(pred, gt)
    assert "b.png" in text and "another split" not in text


def test_another_split_is_not_suggested_beside_a_subfolder_hint(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png", "b.png"])
    pred = _masks(tmp_path / "pred", ["x.png"])
    _masks(pred / "DIS-TE2", ["a.png", "b.png"])
    text = _refusal(pred, gt)
    assert "subfolder(s) (DIS-TE2)" in text and "another split" not in text


def test_maps_without_a_gt_alone_are_refused_without_a_hint(tmp_path):
    gt = _masks(tmp_path / "gt", ["a.png"])
    pred = _masks(tmp_path / "pred", ["a.png", "a_copy.png"])
    with pytest.raises(EvaluationInputError, match=r"1 prediction\(s\) .* a_copy\.png$"):
        pair_folders(pred, gt)


def test_cos_scoring_says_why_no_map_paired(tmp_path):
    mask = np.zeros((20, 24), bool)
    mask[4:12, 5:15] = True
    gt_json = tmp_path / "gt.json"
    anns = [coco_annotation(1, 1, mask), coco_annotation(2, 2, mask)]
    gt_json.write_text(json.dumps(coco_dict((20, 24), anns, ["a.jpg", "b.jpg"])), "utf-8")
    pred = _masks(tmp_path / "pred", ["a_pred.png", "b_pred.png"])
    with pytest.raises(EvaluationInputError) as err:
        evaluate_cos_folder(pred, gt_json, progress=False)
    assert "'_pred' after its name (e.g. 'a_pred.png' for 'a')" in str(err.value)
