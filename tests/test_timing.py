"""The efficiency report's timings, on a fake clock whose every call lasts a chosen time.

Each expected number is worked out by hand from the call durations (seconds -> ms, median of
the timed calls, images per second of one batch).
"""

from __future__ import annotations

from typing import List

import numpy as np
import pytest
import torch

import pmgsam.efficiency.timing as timing
from pmgsam.engine.performance_config import PerformanceConfig


class FakeClock:
    """``perf_counter`` that only moves when a step runs, by that call's duration."""

    def __init__(self, durations: List[float]) -> None:
        self.now = 100.0
        self.durations = list(durations)
        self.calls = 0
        self.events: List[str] = []
        self.reads = 0
        self.synced_after: set = set()  # step counts at which a synchronize came
        self.unsynced_reads: List[int] = []

    def perf_counter(self) -> float:
        self.reads += 1
        self.check()
        return self.now

    def sync(self, device: torch.device) -> None:
        self.synced_after.add(self.calls)

    def check(self) -> None:
        if self.calls not in self.synced_after:
            self.unsynced_reads.append(self.calls)

    def step(self) -> None:
        self.now += self.durations[self.calls]
        self.calls += 1
        self.events.append("step")


@pytest.fixture
def clock(monkeypatch):
    def make(durations: List[float]) -> FakeClock:
        fake = FakeClock(durations)
        monkeypatch.setattr(timing.time, "perf_counter", fake.perf_counter)
        monkeypatch.setattr(timing, "synchronize", fake.sync)
        monkeypatch.setattr(timing, "_reset_peak_memory", lambda d: fake.events.append("reset"))
        return fake

    return make


CPU = torch.device("cpu")


def test_warm_up_calls_are_not_timed(clock) -> None:
    # First call 10 s (the cold start), a second warm-up call 1 s, then timed 2, 7, 3 s.
    fake = clock([10.0, 1.0, 2.0, 7.0, 3.0])
    r = timing._time_calls(fake.step, CPU, batch=4, iters=3, warmup=2)
    assert fake.calls == 5
    assert r["first_call_ms"] == pytest.approx(10_000.0)
    assert r["latency_ms_median"] == pytest.approx(3_000.0)  # median of 2, 3, 7
    assert r["latency_ms_mean"] == pytest.approx(4_000.0)  # (2 + 7 + 3) / 3
    assert r["images_per_s"] == pytest.approx(4 / 3)  # a batch of 4 per median call
    assert r["peak_memory_mb"] is None and r["peak_reserved_mb"] is None
    # The peak is measured over the timed calls only: reset after every warm-up call.
    assert fake.events == ["step", "step", "reset", "step", "step", "step"]


def test_without_warm_up_the_first_call_is_timed(clock) -> None:
    fake = clock([5.0, 1.0, 2.0, 9.0])  # one spare duration: a fourth call would take 9 s
    r = timing._time_calls(fake.step, CPU, batch=2, iters=3, warmup=0)
    assert fake.calls == 3  # iters calls in all, the first one among them
    assert r["first_call_ms"] == pytest.approx(5_000.0)
    assert r["latency_ms_median"] == pytest.approx(2_000.0)  # median of 5, 1, 2
    assert r["latency_ms_mean"] == pytest.approx(8_000.0 / 3)
    assert r["images_per_s"] == pytest.approx(2 / 2)
    assert fake.events == ["reset", "step", "step", "step"]


def test_single_warm_up_call_is_the_first_call(clock) -> None:
    fake = clock([8.0, 0.5])
    r = timing._time_calls(fake.step, CPU, batch=1, iters=1, warmup=1)
    assert fake.calls == 2
    assert r["first_call_ms"] == pytest.approx(8_000.0)
    assert r["latency_ms_median"] == r["latency_ms_mean"] == pytest.approx(500.0)
    assert r["images_per_s"] == pytest.approx(2.0)


class Probe(torch.nn.Module):
    """Records the dtype a linear layer computes in, and whether autograd was recording."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.seen: List[tuple] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x.flatten(1)[:, :3])
        self.seen.append((y.dtype, torch.is_inference_mode_enabled()))
        return y


@pytest.mark.parametrize("dtype, expected", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_speed_runs_batches_in_inference_mode_and_the_report_dtype(dtype, expected) -> None:
    model = Probe()
    images = torch.rand(3, 3, 4, 4)
    r = timing.measure_speed(model, images, dtype, iters=2, warmup=1)
    assert model.seen == [(expected, True)] * 3
    # 3 images per call: throughput is 3 / latency.
    assert r["images_per_s"] == pytest.approx(3000.0 / r["latency_ms_median"])


class TinyNet(torch.nn.Module):
    """A one-conv "segmenter" with the two methods the training timer uses."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
        self.modes: List[bool] = []

    def trainable_parameters(self):
        return self.parameters()

    def forward(self, x: torch.Tensor) -> dict:
        self.modes.append(self.training)
        return {"mask": self.conv(x)}


def test_training_steps_update_the_weights_from_each_step_own_gradient() -> None:
    torch.manual_seed(0)
    model = TinyNet().eval()
    weight = model.conv.weight
    incoming, accumulated, before = [], [], weight.detach().clone()
    # The gradient a backward pass brings, and what .grad holds once it is accumulated: equal
    # when every step starts from cleared gradients.
    weight.register_hook(lambda g: incoming.append(g.clone()))
    weight.register_post_accumulate_grad_hook(lambda p: accumulated.append(p.grad.clone()))
    images = torch.rand(2, 3, 8, 8)
    r = timing.measure_training(model, model, images, "fp32", 2, 1, PerformanceConfig())
    assert model.modes == [True, True, True]  # train mode, warm-up call + 2 timed steps
    assert len(incoming) == len(accumulated) == 3
    for new, held in zip(incoming, accumulated):
        torch.testing.assert_close(held, new, rtol=0, atol=0)
    assert not torch.equal(weight.detach(), before)  # the optimiser stepped
    assert r["images_per_s"] == pytest.approx(2000.0 / r["latency_ms_median"])


def test_every_timed_call_is_synchronised_before_the_clock_is_read(clock) -> None:
    # Queued GPU work must count in the call it belongs to: a synchronize before the timer
    # starts, and after each call before the timer is read.
    for warmup in (0, 1, 3):
        fake = clock([1.0] * 6)
        timing._time_calls(fake.step, CPU, batch=1, iters=3, warmup=warmup)
        assert fake.reads > 0 and fake.unsynced_reads == [], warmup


def test_cuda_peak_memory_is_reported_in_mib(clock, monkeypatch) -> None:
    # MB here is 2**20 bytes, as torch.cuda.memory_summary and nvidia-smi count.
    fake = clock([1.0, 1.0])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 3 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda d: 5 * 2**20)
    r = timing._time_calls(fake.step, torch.device("cuda:0"), batch=1, iters=1, warmup=1)
    assert (r["peak_memory_mb"], r["peak_reserved_mb"]) == (3.0, 5.0)


def test_generator_gets_uint8_images_and_its_point_grid(monkeypatch) -> None:
    import pmgsam.baselines.base as base
    import pmgsam.efficiency.flops as flops

    seen: dict = {"arrays": []}

    class Model(torch.nn.Module):
        image_encoder = None

    class Generator:
        def generate(self, array: np.ndarray) -> list:
            seen["arrays"].append(array)
            return []

    class Family:
        @staticmethod
        def build(model_type: str) -> torch.nn.Module:
            seen["type"] = model_type
            return Model()

        @staticmethod
        def generator(model: torch.nn.Module, options: dict) -> Generator:
            seen["options"] = options
            return Generator()

    def family(name: str) -> type:
        seen["family"] = name
        return Family

    monkeypatch.setattr(base, "family", family)
    monkeypatch.setattr(flops, "count_call_flops", lambda call, encoder: call() or {"total": 7})
    images = torch.full((2, 3, 2, 5), 0.2)
    images[1] = 1.0
    r = timing.measure_amg("sam_vit_b", images, iters=2, warmup=1, points_per_side=4)
    assert (seen["family"], seen["type"]) == ("sam", "vit_b")
    assert seen["options"] == {"points_per_side": 4}
    # The FLOP count's call on the first image, then one warm-up and two timed calls, each over
    # both images.
    assert len(seen["arrays"]) == 7
    first, second = seen["arrays"][1:3]
    assert first.dtype == np.uint8 and first.shape == (2, 5, 3)  # H x W x RGB
    assert (first == 51).all() and (second == 255).all()  # 0.2 * 255 = 51
    assert r["flops_per_image"] == {"total": 7}
    # A call handles the whole batch of two images.
    assert r["images_per_s"] == pytest.approx(2000.0 / r["latency_ms_median"])
