"""save_model after ``model.half().float()``: the dtype check passes (float32 again), but the
frozen branches hold rounded weights that load_pretrained never rebuilds from their files or
seed. Saved, the file recorded their digests and every reload warned that this torch build
"initialises differently" (or, for a branch from a file, refused the right file)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch

from pmgsam.modeling.build import build_model, load_pretrained
from pmgsam.modeling.checkpoint import CheckpointError, save_model


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_model_converted_and_back_is_refused(
    small_tiny_model: torch.nn.Module, tmp_path: Path, dtype: torch.dtype
) -> None:
    model = copy.deepcopy(small_tiny_model).to(dtype).float()
    path = tmp_path / "m.safetensors"
    with pytest.raises(
        CheckpointError, match=f"frozen hiera branch holds weights rounded to {dtype}"
    ):
        save_model(model, path)
    assert not path.exists()


def test_the_recipe_the_refusal_gives_reloads_without_a_warning(
    small_branches: tuple, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pmgsam

    model = build_model("pmgsam_tiny", image_size=64).half().float()
    with torch.no_grad():  # trained weights, not the build's
        model.decoder.output_upscaling[0].weight.add_(0.25)
    fresh = pmgsam.build_model(model.config)
    fresh.load_trainable_state_dict(model.trainable_state_dict(), "model")
    path = save_model(fresh, tmp_path / "m.safetensors")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        reloaded = load_pretrained(path)
    assert not [r for r in caplog.records if "SHA-256" in r.getMessage()]
    reloaded_weights = reloaded.trainable_state_dict()
    for name, weight in model.trainable_state_dict().items():
        assert torch.equal(reloaded_weights[name], weight), name
    # The frozen branches are their seed's, not the rounded ones.
    hiera = dict(model.hiera.named_parameters())
    assert any(not torch.equal(p, hiera[n]) for n, p in reloaded.hiera.named_parameters())
