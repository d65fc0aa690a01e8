"""Where and in what precision inference runs: a Predictor on cuda:N makes it the current device
(as init_distributed does for training), and ``amp auto`` picks bf16 only on a GPU that computes
in it natively: V100 and T4 only emulate it, many times slower, so auto runs them in full
precision (inference has no fp16 mode) and an explicit bf16 there warns. The CUDA queries are
replaced by fakes, as in test_distributed.py and test_bf16_support.py."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, List

import pytest
import torch

from pmgsam.ablation import settings as ablate_settings
from pmgsam.engine import predictor as predictor_mod
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.predictor import Predictor, resolve_amp

# cuda:0 a T4 (7.5), cuda:1 an A100 (8.0); the current device is cuda:0.
GPUS = {0: ("Tesla T4", (7, 5)), 1: ("NVIDIA A100", (8, 0))}


def _index(device: Any = None) -> int:
    if device is None:
        return 0
    return device if isinstance(device, int) else torch.device(device).index or 0


@pytest.fixture
def mixed_gpus(monkeypatch: pytest.MonkeyPatch) -> List[tuple]:
    """Two fake GPUs; returns the calls of set_device and of the model's moves, in order."""
    calls: List[tuple] = []
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: GPUS[_index(d)][0])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: GPUS[_index(d)][1])
    # torch's own answer for the current device (a T4): bf16 tensors can be made there.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    # The CUDA backend flags are process-wide: not set by these fake-GPU predictors.
    monkeypatch.setattr(predictor_mod, "configure_backends", lambda perf, device: None)
    monkeypatch.setattr(predictor_mod, "_warned", set())
    return calls


class NoWeights(torch.nn.Module):
    """A model without tensors (its moves need no GPU) that notes where it is moved."""

    def __init__(self, calls: List[tuple]) -> None:
        super().__init__()
        self.config, self.calls = SimpleNamespace(image_size=32), calls

    def to(self, *args: Any, **kwargs: Any) -> NoWeights:
        if args:
            self.calls.append(("model.to", torch.device(args[0])))
        return self


def test_a_predictor_on_cuda_n_makes_it_the_current_device_before_the_model_moves(
    mixed_gpus,
) -> None:
    predictor = Predictor(NoWeights(mixed_gpus), "cuda:1", amp="none")
    cuda1 = torch.device("cuda:1")
    assert predictor.device == cuda1
    assert mixed_gpus == [("set_device", cuda1), ("model.to", cuda1)]
    mixed_gpus.clear()
    Predictor(NoWeights(mixed_gpus), torch.device("cpu"), amp="none")
    assert mixed_gpus == [("model.to", torch.device("cpu"))]


def test_amp_auto_is_bf16_only_where_the_gpu_computes_it_natively(mixed_gpus, caplog) -> None:
    t4, a100, cpu = torch.device("cuda:0"), torch.device("cuda:1"), torch.device("cpu")
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        assert resolve_amp("auto", t4) == "none"
        assert resolve_amp("auto", a100) == "bf16"
        assert resolve_amp("auto", cpu) == "none"
        assert resolve_amp("bf16", a100) == "bf16" and resolve_amp("none", t4) == "none"
        assert not caplog.records
        # Asked for, bf16 runs on the T4 too, with one warning however often it is resolved
        # (the inference command resolves --amp, then its Predictor again).
        assert resolve_amp("bf16", t4) == "bf16"
        assert Predictor(NoWeights([]), t4, amp="bf16").amp == "bf16"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "Tesla T4 (cuda:0): this GPU only emulates bfloat16" in caplog.text
    # What records the precision follows the Predictor: the ablation's scored_with settings.
    assert Predictor(NoWeights([]), t4).amp == "none"
    for device, amp in (("cuda:0", "none"), ("cuda:1", "bf16")):
        settings = ablate_settings.scoring_settings(
            32, device, True, ".", {}, "0" * 64, PerformanceConfig()
        )
        assert settings["amp"] == amp == Predictor(NoWeights([]), device).amp
