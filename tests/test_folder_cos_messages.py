"""Messages that name how a folder dataset's COS AP is scored: benchmark mode (and baseline
mode's automatic rows) score it into the model's own row when ``data.instance_dir`` is set,
and write its ground truth to ``metrics/<split>.cos.gt.json``. Before, the refusal of a model's
run folder as ``--run`` told users to add that AP to the row by hand, and a COCO GT given as a
folder named only ``<split>.gt.json``, which a folder dataset's split does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.folder_row import refuse_model_run
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError


def test_a_model_run_refused_as_run_says_benchmark_mode_scores_its_cos_ap(tmp_path: Path) -> None:
    model = tmp_path / "mine"
    write_run_json(model, "mine", dis={"test": {"maxFm": 0.5}}, meta={"checkpoint": "runs/mine"})
    with pytest.raises(EvaluationInputError) as err:
        refuse_model_run(str(model))
    message = str(err.value)
    assert "scored into this row by evaluate.py itself when data.instance_dir is set" in message
    assert "with --method 'mine'" in message  # maps made otherwise still join the row so


def test_a_gt_folder_names_a_folder_splits_cos_gt_file(tmp_path: Path) -> None:
    (tmp_path / "Instance").mkdir()
    with pytest.raises(EvaluationInputError, match=r"metrics/<split>\.gt\.json, or for a folder "
                       r"dataset's split to <split>\.cos\.gt\.json"):  # fmt: skip
        load_coco(tmp_path / "Instance")
