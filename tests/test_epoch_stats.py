"""The epoch bookkeeping (EpochLosses, NonFiniteWatch) against hand-derived values."""

from __future__ import annotations

import pytest
import torch

from pmgsam.engine import epoch_stats
from pmgsam.engine.epoch_stats import EpochLosses, NonFiniteWatch

CPU = torch.device("cpu")


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _losses(monkeypatch, world_size: int) -> tuple:
    clock = _Clock(100.0)
    monkeypatch.setattr(epoch_stats.time, "perf_counter", clock)
    losses = EpochLosses(CPU, world_size)
    # A batch of 2 images with loss 1 and a last, short batch of 1 image with loss 4.
    losses.add({"loss": torch.tensor(1.0), "bce": torch.tensor(0.5)}, 2)
    losses.add({"loss": torch.tensor(4.0), "bce": torch.tensor(2.0)}, 1)
    clock.t = 103.0  # three seconds later
    return losses, clock


def test_epoch_means_weigh_each_image_not_each_step(monkeypatch) -> None:
    losses, _ = _losses(monkeypatch, world_size=1)
    stats = losses.means()
    # By hand: (2 * 1 + 1 * 4) / 3 images = 2.0; a mean over steps would say 2.5.
    assert stats["loss"] == pytest.approx(2.0)
    assert stats["bce"] == pytest.approx((2 * 0.5 + 2.0) / 3)
    assert stats["images_per_s"] == pytest.approx(3 / 3.0)
    assert stats["time_s"] == pytest.approx(3.0)


def test_speed_and_means_count_every_rank(monkeypatch) -> None:
    # Two ranks that saw the same batches: the all-reduce doubles every sum and the count.
    losses, _ = _losses(monkeypatch, world_size=2)
    # By hand: 3 images on each of 2 ranks in 3 s = 2 images/s.
    assert losses.images_per_s() == pytest.approx(2.0)

    def two_ranks(t: torch.Tensor) -> torch.Tensor:
        t.mul_(2)
        return t

    monkeypatch.setattr(epoch_stats.D, "all_reduce_sum", two_ranks)
    stats = losses.means()
    assert stats["loss"] == pytest.approx(2.0)  # the mean is the same on both ranks
    assert stats["images_per_s"] == pytest.approx(2.0)


def test_the_first_non_finite_step_is_named_not_a_later_one() -> None:
    watch = NonFiniteWatch(CPU)
    watch.record(torch.tensor(0.3), 1)
    watch.check(0)  # finite so far: nothing to say
    watch.record(torch.tensor(float("nan")), 2)
    watch.record(torch.tensor(0.2), 3)
    watch.record(torch.tensor(float("inf")), 4)
    with pytest.raises(FloatingPointError, match=r"global step 2 \(epoch 6\)"):
        watch.check(5)


def test_an_infinite_loss_is_flagged_like_a_nan() -> None:
    # A diverging loss reaches inf before (or without) NaN; the weights are just as ruined.
    watch = NonFiniteWatch(CPU)
    watch.record(torch.tensor(0.3), 1)
    watch.record(torch.tensor(float("inf")), 2)
    watch.record(torch.tensor(float("-inf")), 3)
    with pytest.raises(FloatingPointError, match=r"global step 2 \(epoch 1\)"):
        watch.check(0)


def test_a_non_finite_loss_at_the_first_step_is_flagged() -> None:
    watch = NonFiniteWatch(CPU)
    watch.record(torch.tensor(float("nan")), 0)
    with pytest.raises(FloatingPointError, match=r"global step 0 \(epoch 1\)"):
        watch.check(0)
