"""A stand-in for prediction in the premask tests: which weights premask predicts with, without
running a model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List

from pmgsam.engine import inference


def fake_predict_split(
    monkeypatch,
    dis5k_root: Path,
    record: Callable[[Any, Dict[str, Any]], Any] = lambda checkpoint, kwargs: str(checkpoint),
) -> List[Any]:
    """Replace predict_split by one that writes the split's GT masks as both the final and the
    Pre-Mask maps and notes ``record(checkpoint, keyword arguments)`` of each call (by default
    the checkpoint it was called with); returns the notes."""
    calls: List[Any] = []

    def predict_split(config, checkpoint, part, out_dir, *args, premask_dir, **kwargs):
        calls.append(record(checkpoint, kwargs))
        for folder in (out_dir, premask_dir):
            shutil.copytree(dis5k_root / part / "gt", folder, dirs_exist_ok=True)

    monkeypatch.setattr(inference, "predict_split", predict_split)
    return calls
