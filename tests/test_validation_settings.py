"""Validation runs the model as training does (the run's AMP dtype, its memory format), leaves
the model ready for the next epoch with its frozen branches still in eval mode, and counts a
pixel as foreground above probability 0.5 (as COS scoring's "foreground = prob > t" does)."""

from __future__ import annotations

import copy
from typing import Dict, List

import pytest
import torch

from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.validation import monitor_metrics, run_validation

pytestmark = pytest.mark.usefixtures("one_thread")


def _fg_fraction_loss(outputs: Dict[str, torch.Tensor], target: torch.Tensor) -> tuple:
    return target.float().mean(), {}


class _Recorder(torch.nn.Module):
    """Returns image channel 0 as both outputs; notes how it was called."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[tuple] = []

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        autocast = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu")
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        self.calls.append((autocast, channels_last and not x.is_contiguous()))
        return {"mask": x[:, :1].float(), "pre_mask": x[:, :1].float()}


def _loader(s: int = 4) -> list:
    images, masks = torch.rand(2, 3, s, s), (torch.rand(2, 1, s, s) > 0.5).float()
    return [{"image": images, "mask": masks, "orig_size": torch.tensor([[s, s], [s, s]])}]


def test_validation_runs_in_the_amp_dtype_and_memory_format_of_training() -> None:
    model = _Recorder()
    perf = PerformanceConfig(channels_last=True)
    run_validation(model, _loader(), _fg_fraction_loss, torch.device("cpu"), torch.bfloat16, perf)
    assert model.calls == [(torch.bfloat16, True)]
    model.calls.clear()
    perf = PerformanceConfig()
    run_validation(model, _loader(), _fg_fraction_loss, torch.device("cpu"), None, perf)
    assert model.calls == [(False, False)]


def test_after_validation_the_model_trains_and_its_frozen_branches_do_not(small_tiny_model):
    model = copy.deepcopy(small_tiny_model).train()
    assert not model.hiera.training and not model.u2net.training
    stats, _ = run_validation(
        model, _loader(64), _fg_fraction_loss, torch.device("cpu"), None, PerformanceConfig()
    )
    assert stats["images"] == 2.0
    assert model.training and model.decoder.training
    # Their BatchNorm statistics (U²-Net) and dropout stay those of the pretrained weights.
    assert not any(m.training for m in [*model.hiera.modules(), *model.u2net.modules()])


def test_probability_one_half_is_background() -> None:
    # Logit 0 (probability exactly 0.5) everywhere, empty GT: nothing is predicted, so the
    # image is exact (IoU = F = 1); a ">= 0.5" threshold would predict the whole image.
    s = 4
    m = monitor_metrics(torch.zeros(1, 1, s, s), torch.zeros(1, 1, s, s), torch.tensor([[s, s]]))
    assert float(m["iou"]) == 1.0 and float(m["f"]) == 1.0
    assert float(m["mae"]) == pytest.approx(0.5)
