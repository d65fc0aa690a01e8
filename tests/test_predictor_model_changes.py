"""What Predictor does to the caller's model, as its docstring says: prepared in place (eval
mode, channels-last with ``performance.channels_last``), and still saved and trained as before."""

from __future__ import annotations

import copy

import torch
from safetensors import safe_open

from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.predictor import Predictor
from pmgsam.modeling.checkpoint import load_model_weights, save_model


def test_channels_last_predictor_changes_the_model_in_place_and_it_stays_usable(
    small_tiny_model, tmp_path
) -> None:
    model = copy.deepcopy(small_tiny_model).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Predictor(model, device="cpu", performance=PerformanceConfig(channels_last=True))
    kernel = model.decoder.output_upscaling[0].weight
    assert not model.training
    assert kernel.is_contiguous(memory_format=torch.channels_last) and not kernel.is_contiguous()

    # save_model writes contiguous tensors with the values the model had before.
    path = save_model(model, tmp_path / "w.safetensors")
    with safe_open(str(path), framework="pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert stored and all(torch.equal(v, before[k]) for k, v in stored.items())
    reloaded = copy.deepcopy(small_tiny_model)
    load_model_weights(reloaded, path)
    assert all(torch.equal(v, before[k]) for k, v in reloaded.state_dict().items())

    # It trains on (once back in train mode), in channels-last throughout.
    model.train()
    out = model(torch.rand(2, 3, 64, 64))
    (out["mask"].mean() + out["pre_mask"].mean()).backward()
    assert kernel.grad is not None and torch.isfinite(kernel.grad).all()
