"""evaluate.py's benchmark and baseline modes on COS data read every split's instance labels
before a model loads: a split without them used to fail only once its images (and those of the
splits before it) were all predicted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from cli_cases import evaluate_main

from pmgsam.data import DataError, generate


@pytest.mark.parametrize("mode", [[], ["--baseline", "sam-box", "--speed-iters", "0"]])
def test_a_split_without_instance_labels_is_refused_before_predicting(
    tmp_path: Path, mode: list
) -> None:
    root = generate("nc4k", tmp_path / "data", num=4, seed=0, size=(32, 24), progress=False)
    shutil.rmtree(root / "Instance")
    data = {"dataset": "nc4k", "root": str(root), "train_split": "train", "val_split": None}
    data.update(test_splits=["test"], split_dir=str(tmp_path / "splits"), num_workers=0)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": data, "train": {"device": "cpu"}}))
    # Never opened: the labels are checked before the model loads.
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"not read")
    run = tmp_path / "run"
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--output-dir", run, *mode]  # fmt: skip
    with pytest.raises(DataError, match=r"^nc4k test has no instance labels: instance folder"):
        evaluate_main(argv)
    assert not run.exists()
