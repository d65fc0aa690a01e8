"""``pmgsam.baselines.sam2`` on its own: an unknown model type names the choices, and a loaded
model is in eval mode (the whole baseline runs in test_baselines_sam2.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
from pmgsam.baselines import sam2 as sam2_wrapper  # noqa: E402


def test_an_unknown_model_type_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"one of \('tiny', 'small', 'base_plus', 'large'\)"):
        sam2_wrapper.build("huge", 256)


def test_a_loaded_model_is_in_eval_mode(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = sam2_wrapper.build("tiny", 256)
    path = tmp_path / "tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    loaded = sam2_wrapper.load("tiny", path, "cpu", 256)
    assert loaded.image_size == 256
    assert not any(m.training for m in loaded.modules())
