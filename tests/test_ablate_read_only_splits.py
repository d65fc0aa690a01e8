"""``pmgsam.ablate --evaluate`` predicts a variant's parts without saving split files: scoring
only reads them (pmgsam.data.splits.read_only_splits), as it does when it builds the parts it
scores."""

from __future__ import annotations

from pathlib import Path

from test_prediction_threads import variant_predictor


def test_predicting_a_carved_part_saves_no_split_file(
    small_model_file, stubbed_prediction, nc4k_root: Path, tmp_path: Path, monkeypatch
) -> None:
    # predict_split builds the part's dataset again; outside read_only_splits it saved NC4K's
    # carved test split, which scoring had just drawn in memory "not saved".
    splits = tmp_path / "splits"
    data = {"dataset": "nc4k", "root": str(nc4k_root), "num_workers": 0, "split_dir": str(splits)}
    data.update(train_split="train", val_split=None, test_splits=["test"])
    predict = variant_predictor(small_model_file, tmp_path, monkeypatch, data, {"device": "cpu"})
    folder = predict("test")
    assert any(folder.glob("*.png"))  # the part was predicted
    assert not splits.exists() or not any(splits.iterdir())
