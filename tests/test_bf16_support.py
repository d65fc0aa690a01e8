"""bf16 is accepted on a GPU that computes in it natively (compute capability 8.0+), the one
the run uses: torch.cuda.is_bf16_supported() also answers yes for older GPUs, which only
emulate bf16 (many times slower than fp16), and asks about the current device. The CUDA
queries are replaced by fakes, as in test_distributed.py."""

from __future__ import annotations

import pytest
import torch

from pmgsam.baselines import finetune_cache
from pmgsam.engine import distributed as D
from pmgsam.utils.config import ConfigError

# cuda:0 a T4 (7.5), cuda:1 an A100 (8.0); the current device is cuda:0.
GPUS = {0: ("Tesla T4", (7, 5)), 1: ("NVIDIA A100", (8, 0))}


def _index(device=None) -> int:
    if device is None:
        return 0
    return device if isinstance(device, int) else torch.device(device).index or 0


@pytest.fixture
def mixed_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: GPUS[_index(d)][0])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: GPUS[_index(d)][1])
    # torch's own answer for the current device (a T4): bf16 tensors can be made there.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


def test_bf16_training_is_refused_on_a_gpu_that_only_emulates_it(mixed_gpus) -> None:
    with pytest.raises(ConfigError, match=r"train\.amp=bf16: Tesla T4 \(cuda:0\) .*use fp16"):
        D.resolve_amp("bf16", torch.device("cuda:0"))
    assert D.resolve_amp("fp16", torch.device("cuda:0")) is torch.float16
    assert D.resolve_amp("bf16", torch.device("cuda:1")) is torch.bfloat16


def test_bf16_sam_encoder_is_refused_on_a_gpu_that_only_emulates_it(mixed_gpus) -> None:
    with pytest.raises(ConfigError, match=r"encoder_dtype=bf16 but Tesla T4 has no bf16"):
        finetune_cache.check_encoder_dtype("bf16", torch.device("cuda:0"))
    finetune_cache.check_encoder_dtype("bf16", torch.device("cuda:1"))
