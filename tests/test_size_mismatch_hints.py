"""A map of another size than its GT is refused naming only the options of the command scoring
it: ``--resize-pred`` for evaluate.py's scoring and benchmark modes, nothing for
``pmgsam.ablate`` and a baseline row (``evaluate.py --baseline``), which have no such option
(their messages used to tell the user to pass it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Tuple

import cv2
import numpy as np
import pytest

from pmgsam.ablation import scoring as ablate_scoring
from pmgsam.baselines.row_scores import score_dis_maps
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder


class Split:
    """A one-image split as the scorers take it (names, GT mask paths, no skeletons)."""

    def __init__(self, mask: Path) -> None:
        self.names, self.mask_paths, self.skeleton_paths = ["a"], [mask], None

    def __len__(self) -> int:
        return 1


def maps_and_gts(tmp_path: Path, turned: bool) -> Tuple[Path, Any]:
    """A prediction folder whose map ``a`` is 10x8 (WxH; its 90°-turned GT size when
    ``turned``) against a 12x8 GT; and the split as a dataset (names, mask paths)."""
    (tmp_path / "gt").mkdir()
    pred = tmp_path / "pred" / "S"
    pred.mkdir(parents=True)
    gt = np.zeros((8, 12), np.uint8)
    gt[2:6, 3:9] = 255
    cv2.imwrite(str(tmp_path / "gt" / "a.png"), gt)
    shape = (12, 8) if turned else (8, 10)
    cv2.imwrite(str(pred / "a.png"), np.full(shape, 200, np.uint8))
    return pred, Split(tmp_path / "gt" / "a.png")


def ablate_message(tmp_path: Path, dataset: Any) -> str:
    opts = argparse.Namespace(workers=1, no_hce=True, quiet=True)
    with pytest.raises(EvaluationInputError) as err:  # the kept maps of the variant, scored
        ablate_scoring._predict_and_score(
            tmp_path / "v.yaml", tmp_path, "S", [], opts, {"S": dataset}, predict=False
        )
    return str(err.value)


def baseline_message(tmp_path: Path, dataset: Any) -> str:
    summary = {"split": "S", "pred_dir": str(tmp_path / "pred" / "S"), "num_images": 1}
    summary["num_dataset_images"] = 1
    with pytest.raises(EvaluationInputError) as err:
        score_dis_maps(dataset, summary, tmp_path)
    return str(err.value)


@pytest.mark.parametrize("turned", [False, True], ids=["other size", "turned by 90"])
@pytest.mark.parametrize("caller", [ablate_message, baseline_message], ids=["ablate", "baseline"])
def test_callers_without_resize_pred_do_not_name_it(tmp_path: Path, caller, turned: bool) -> None:
    _, dataset = maps_and_gts(tmp_path, turned)
    message = caller(tmp_path, dataset)
    assert "a.png 10x8 vs GT a.png 12x8" in message or "a.png 8x12 vs GT a.png 12x8" in message
    assert "--resize-pred" not in message
    if turned:  # resizing would stretch it, whatever the caller
        assert "turned by 90°" in message and "resizing them to the GT's size" in message


@pytest.mark.parametrize("turned", [False, True], ids=["other size", "turned by 90"])
def test_evaluate_scoring_still_names_resize_pred(tmp_path: Path, turned: bool) -> None:
    pred, _ = maps_and_gts(tmp_path, turned)
    with pytest.raises(EvaluationInputError, match="--resize-pred"):
        evaluate_dis_folder(pred, tmp_path / "gt", progress=False, with_hce=False)
