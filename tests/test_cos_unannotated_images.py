"""A COCO GT of one's own that lists images whose instances were never drawn (instance masks
made for some images only): each object predicted there is a false positive, so the AP drops
with no sign of why unless the images are named. And what the refusal of a model's run folder
as ``--run`` says: a folder dataset's COS AP enters the model's row by benchmark mode itself
(``data.instance_dir`` set, :mod:`~pmgsam.evaluation.benchmark_cos`), and scores of its maps
made otherwise join the row with ``--method``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from mask_cases import box_masks, coco_annotation, coco_dict

from pmgsam.evaluation.instances import NoInstanceImageWarning, evaluate_cos_folder


def _scored(tmp_path: Path, annotated: tuple) -> tuple:
    """(AP, NoInstanceImageWarning messages) of perfect maps of a 20x24 box on images b (id 1)
    and a (id 2), against a GT whose ``annotated`` images hold that box."""
    pred = box_masks(tmp_path / "pred", ["a.png", "b.png"], shape=(20, 24), box=(4, 12, 5, 15))
    mask = np.zeros((20, 24), bool)
    mask[4:12, 5:15] = True
    ids = {"b.jpg": 1, "a.jpg": 2}
    anns = [coco_annotation(k, ids[n], mask) for k, n in enumerate(annotated, 1)]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_dict((20, 24), anns, images=ids)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = evaluate_cos_folder(pred, gt, progress=False)
    named = [str(w.message) for w in caught if w.category is NoInstanceImageWarning]
    return scores["AP"], named


def test_an_image_listed_without_instances_is_named(tmp_path) -> None:
    ap, named = _scored(tmp_path, annotated=("a.jpg",))
    assert len(named) == 1 and "1 of the 2 image(s)" in named[0] and "b.jpg" in named[0]
    assert "a.jpg" not in named[0]
    # Why it matters, by hand: b's box (score 1, ranked first as image id 1) is a false
    # positive, so precision is 0.5 at the only recall level reached: AP 0.5, not 1.
    assert abs(ap - 0.5) < 1e-6


def test_every_image_annotated_warns_nothing(tmp_path) -> None:
    ap, named = _scored(tmp_path, annotated=("a.jpg", "b.jpg"))
    assert named == [] and abs(ap - 1.0) < 1e-6


def test_a_model_run_refused_as_run_says_how_to_join_its_row(tmp_path) -> None:
    # Folder scores never go into a model's run folder; the message names benchmark mode,
    # which scores a folder dataset's AP into that row, and --method for other scores.
    from pmgsam.evaluation.folder_row import refuse_model_run
    from pmgsam.evaluation.run_json import write_run_json
    from pmgsam.evaluation.scoring import EvaluationInputError

    model = tmp_path / "mine"
    write_run_json(model, "mine", dis={"test": {"maxFm": 0.5}}, meta={"checkpoint": "runs/mine"})
    with pytest.raises(EvaluationInputError, match=r"with --method 'mine'") as err:
        refuse_model_run(str(model))
    assert "by evaluate.py itself when data.instance_dir is set" in str(err.value)
