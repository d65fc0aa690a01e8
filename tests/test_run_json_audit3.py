"""Audit of :func:`pmgsam.evaluation.run_json.check_same_model` for a results folder whose
recorded weights file is gone (a moved project): a checkpoint given that is no file is refused
with the usual message, and a refusal over the same path names it once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pmgsam.evaluation.run_json import check_same_model
from pmgsam.evaluation.scoring import EvaluationInputError


def _run(tmp_path: Path, meta: dict) -> Path:
    run = tmp_path / "results" / "bench"
    run.mkdir(parents=True)
    data = {"method": "bench", "dis": {"DIS-TE1": {"MAE": 0.5}}, "meta": meta}
    (run / "run.json").write_text(json.dumps(data))
    return run


def test_a_checkpoint_that_is_no_file_is_refused_not_hashed(tmp_path) -> None:
    sha = hashlib.sha256(b"weights").hexdigest()
    meta = {"checkpoint": "/old/project/model.pt", "weights_sha256": sha}
    run = _run(tmp_path, meta)
    missing = tmp_path / "typo.pt"
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        check_same_model(run, missing)
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        check_same_model(run, folder)


def test_another_baseline_of_the_same_file_names_the_path_once(tmp_path) -> None:
    weights = tmp_path / "sam.pth"
    weights.write_bytes(b"sam weights")
    meta = {"checkpoint": str(weights), "baseline": "sam-auto"}
    run = _run(tmp_path, meta)
    with pytest.raises(EvaluationInputError) as err:
        check_same_model(run, weights, "sam-box")
    message = str(err.value)
    assert "with --baseline sam-auto" in message
    assert ", not '" not in message  # the paths are equal: the baseline is what differs
