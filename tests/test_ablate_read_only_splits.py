"""``pmgsam.ablate --evaluate`` predicts a variant's parts without saving split files: scoring
only reads them (pmgsam.data.splits.read_only_splits), as it does when it builds the parts it
scores."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

from pmgsam.utils.config import to_dict


def test_predicting_a_carved_part_saves_no_split_file(
    small_model_file, stubbed_prediction, nc4k_root: Path, tmp_path: Path, monkeypatch
) -> None:
    # predict_split builds the part's dataset again; outside read_only_splits it saved NC4K's
    # carved test split, which scoring had just drawn in memory "not saved".
    from pmgsam import ablate_scoring
    from pmgsam.engine import inference

    monkeypatch.setattr(inference, "checkpoint_model_fields", lambda *a, **k: {})
    splits = tmp_path / "splits"
    data = {"dataset": "nc4k", "root": str(nc4k_root), "num_workers": 0, "split_dir": str(splits)}
    data.update(train_split="train", val_split=None, test_splits=["test"])
    cfg = {"model": to_dict(small_model_file[1].config), "data": data, "output_dir": str(tmp_path)}
    cfg["train"] = {"device": "cpu"}
    config = tmp_path / "variant.yaml"
    config.write_text(yaml.safe_dump(cfg))
    (tmp_path / "run" / "train").mkdir(parents=True)
    shutil.copy(small_model_file[0], tmp_path / "run" / "train" / "model.safetensors")
    opts = argparse.Namespace(device="cpu", batch_size=2, quiet=True)
    folder = ablate_scoring._predictor(config, tmp_path / "run", [], opts)("test")
    assert any(folder.glob("*.png"))  # the part was predicted
    assert not splits.exists() or not any(splits.iterdir())
