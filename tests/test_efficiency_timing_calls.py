"""The timing loop of ``python -m pmgsam.efficiency`` worked out by hand with a fake clock and a
fake CUDA allocator: which calls are timed, images/s of a batch, and what the peak covers."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import torch

import pmgsam.efficiency.timing as timing
from pmgsam.engine.performance_config import PerformanceConfig


def _clocked(monkeypatch: pytest.MonkeyPatch, durations: List[float], log: List[str]):
    """A step that takes the next of ``durations`` seconds on a fake clock, logging itself."""
    now = [0.0]
    left = iter(durations)

    def step() -> None:
        log.append("call")
        now[0] += next(left)

    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    return step


def test_without_warmup_the_first_call_is_one_of_the_timed_ones(monkeypatch) -> None:
    # 3 calls of 2, 4 and 6 s on a batch of 4: median 4 s, 4 images / 4 s = 1 image/s; a
    # fourth call would have raised StopIteration.
    log: List[str] = []
    step = _clocked(monkeypatch, [2.0, 4.0, 6.0], log)
    r = timing._time_calls(step, torch.device("cpu"), batch=4, iters=3, warmup=0)
    assert log == ["call"] * 3
    assert r["first_call_ms"] == pytest.approx(2000.0)
    assert r["latency_ms_median"] == pytest.approx(4000.0)
    assert r["latency_ms_mean"] == pytest.approx(4000.0)  # (2 + 4 + 6) / 3
    assert r["images_per_s"] == pytest.approx(1.0)
    assert (r["peak_memory_mb"], r["peak_reserved_mb"]) == (None, None)  # no CUDA allocator


def test_warmup_calls_are_untimed_and_the_first_call_is_kept_apart(monkeypatch) -> None:
    # 2 warm-up calls (9 s compiling, then 1 s), 3 timed of 1, 1 and 4 s on a batch of 2:
    # median 1 s, 2 images/s; the slow first call shows in first_call_ms only.
    log: List[str] = []
    step = _clocked(monkeypatch, [9.0, 1.0, 1.0, 1.0, 4.0], log)
    r = timing._time_calls(step, torch.device("cpu"), batch=2, iters=3, warmup=2)
    assert len(log) == 5
    assert r["first_call_ms"] == pytest.approx(9000.0)
    assert r["latency_ms_median"] == pytest.approx(1000.0)
    assert r["latency_ms_mean"] == pytest.approx(2000.0)
    assert r["images_per_s"] == pytest.approx(2.0)


@pytest.mark.parametrize("warmup", [0, 2])
def test_cuda_peak_covers_the_timed_calls_in_mib(monkeypatch, warmup: int) -> None:
    # A fake allocator: the peak is reset right before the first timed call (the compiling
    # warm-up's peak is not Table 1's), and reported in MiB (2**20 bytes).
    log: List[str] = []
    step = _clocked(monkeypatch, [1.0] * (warmup + 2), log)
    cuda = timing.torch.cuda
    monkeypatch.setattr(timing, "synchronize", lambda device: None)
    monkeypatch.setattr(cuda, "reset_peak_memory_stats", lambda device: log.append("reset"))
    monkeypatch.setattr(cuda, "max_memory_allocated", lambda device: 3 * 2**20)
    monkeypatch.setattr(cuda, "max_memory_reserved", lambda device: 5 * 2**20)
    r = timing._time_calls(step, torch.device("cuda"), batch=1, iters=2, warmup=warmup)
    assert log == ["call"] * warmup + ["reset", "call", "call"]
    assert (r["peak_memory_mb"], r["peak_reserved_mb"]) == (3.0, 5.0)


class _Probe(torch.nn.Module):
    """Records, per call, whether inference mode and bf16 autocast were on, and train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        self.seen: List[Dict[str, Any]] = []

    def trainable_parameters(self):
        return self.parameters()

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        y = self.conv(x)
        self.seen.append(
            {
                "inference": torch.is_inference_mode_enabled(),
                "dtype": y.dtype,
                "training": self.training,
            }  # fmt: skip
        )
        return {"mask": y.float()}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_inference_is_timed_under_inference_mode_in_the_asked_dtype(dtype: str) -> None:
    probe = _Probe()
    timing.measure_speed(probe, torch.rand(1, 3, 8, 8), dtype, iters=1, warmup=1)
    want = torch.bfloat16 if dtype == "bf16" else torch.float32
    assert probe.seen == [{"inference": True, "dtype": want, "training": True}] * 2


def test_training_steps_update_the_weights_in_train_mode() -> None:
    # A step that skipped the optimiser (or ran in eval mode) would time less than training.
    probe = _Probe().eval()
    before = probe.conv.weight.detach().clone()
    perf = PerformanceConfig()
    timing.measure_training(probe, probe, torch.rand(1, 3, 8, 8), "fp32", 1, 1, perf)
    assert [s["training"] for s in probe.seen] == [True, True]
    assert not any(s["inference"] for s in probe.seen)
    assert not torch.equal(probe.conv.weight, before)


def test_each_training_step_starts_from_zero_gradients() -> None:
    # Gradients left over from the step before would be added in: each accumulated gradient
    # must be the step's own.
    probe = _Probe()
    weight = probe.conv.weight
    incoming: List[torch.Tensor] = []
    accumulated: List[torch.Tensor] = []
    weight.register_hook(lambda g: incoming.append(g.clone()))
    weight.register_post_accumulate_grad_hook(lambda p: accumulated.append(p.grad.clone()))
    perf = PerformanceConfig()
    timing.measure_training(probe, probe, torch.rand(1, 3, 8, 8), "fp32", 2, 1, perf)
    assert len(incoming) == len(accumulated) == 3
    for own, total in zip(incoming, accumulated):
        assert torch.equal(own, total)
