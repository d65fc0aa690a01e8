"""Prediction of a dataset split (predict_split: evaluate.py's benchmark mode, pmgsam.ablate
--evaluate, the premask analysis) saves no split file: a carved split without one is drawn in
memory (pmgsam.data.splits.read_only_splits), as scoring draws the parts it scores."""

from __future__ import annotations

from pathlib import Path

from test_prediction_threads import variant_predictor

from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import from_dict, to_dict


def _nc4k(nc4k_root: Path, splits: Path) -> dict:
    data = {"dataset": "nc4k", "root": str(nc4k_root), "num_workers": 0, "split_dir": str(splits)}
    data.update(train_split="train", val_split=None, test_splits=["test"])
    return data


def _no_split_file(splits: Path) -> bool:
    return not splits.exists() or not any(splits.iterdir())


def test_predict_split_of_a_carved_split_saves_no_split_file(
    small_model_file, stubbed_prediction, nc4k_root: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(inference, "checkpoint_model_fields", lambda *a, **k: {})
    splits = tmp_path / "splits"
    cfg = {"model": to_dict(small_model_file[1].config), "data": _nc4k(nc4k_root, splits)}
    config = from_dict(ExperimentConfig, cfg)
    out = inference.predict_split(config, small_model_file[0], "test", tmp_path / "out", "cpu")
    assert any(out.glob("*.png"))  # the carved split was predicted
    assert _no_split_file(splits)


def test_ablation_scoring_predicts_a_carved_part_saving_no_split_file(
    small_model_file, stubbed_prediction, nc4k_root: Path, tmp_path: Path, monkeypatch
) -> None:
    # predict_split builds the part's dataset again; outside read_only_splits it saved NC4K's
    # carved test split, which scoring had just drawn in memory "not saved".
    splits = tmp_path / "splits"
    data = _nc4k(nc4k_root, splits)
    predict = variant_predictor(small_model_file, tmp_path, monkeypatch, data, {"device": "cpu"})
    assert any(predict("test").glob("*.png"))  # the part was predicted
    assert _no_split_file(splits)
