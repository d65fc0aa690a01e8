"""A folder given to ``pmgsam.report`` that holds checkpoints/ and a hand-made config.yaml but
no train.log is not called a training run: the rest of the package
(:func:`pmgsam.engine.saved_config.is_run_config`) does not read it as one, and an ablation
variant's folder must not be named as its training run's owner for it."""

from __future__ import annotations

import json

import pytest

from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_json import load_runs


def _folder(path, train_log: bool):
    (path / "checkpoints" / "best").mkdir(parents=True)
    (path / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    if train_log:
        (path / "train.log").write_text("", encoding="utf-8")
    return path


def _hint(path) -> str:
    with pytest.raises(DataNotFoundError) as err:
        load_runs([path])
    return str(err.value)


def test_a_hand_made_folder_of_checkpoints_is_not_called_a_training_run(tmp_path) -> None:
    hint = _hint(_folder(tmp_path / "mine", train_log=False))
    assert "training run;" not in hint
    assert "without the train.log of a training run" in hint
    assert f"--checkpoint {tmp_path / 'mine'} --output-dir RESULTS" in hint


def test_nor_the_training_run_of_a_scored_folder_above(tmp_path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"method": "m"}), encoding="utf-8")
    hint = _hint(_folder(tmp_path / "train", train_log=False))
    assert "training run of" not in hint and "without the train.log" in hint
    # The same folder with the log train.py writes is the variant's training run.
    (tmp_path / "train" / "train.log").write_text("", encoding="utf-8")
    assert f"it is the training run of '{tmp_path}'" in _hint(tmp_path / "train")
