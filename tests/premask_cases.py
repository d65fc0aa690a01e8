"""A stand-in for prediction in the premask tests: which weights premask predicts with, without
running a model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

from pmgsam.engine import inference


def fake_predict_split(monkeypatch, dis5k_root: Path) -> List[str]:
    """Replace predict_split by one that records the checkpoint it was called with and writes
    the split's GT masks as both the final and the Pre-Mask maps; returns the record."""
    calls: List[str] = []

    def predict_split(config, checkpoint, part, out_dir, *args, premask_dir, **kwargs):
        calls.append(str(checkpoint))
        for folder in (out_dir, premask_dir):
            shutil.copytree(dis5k_root / part / "gt", folder, dirs_exist_ok=True)

    monkeypatch.setattr(inference, "predict_split", predict_split)
    return calls
