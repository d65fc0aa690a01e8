"""The timing harness refuses to time no call at all, or to warm up a negative number of
times, before it runs the model: no timed call leaves no median, which statistics' own error
would not tie to the option, and a negative warm-up ran one untimed call and counted its memory
in the peak."""

from __future__ import annotations

from typing import List

import pytest
import torch

import pmgsam.efficiency.timing as timing


@pytest.mark.parametrize(
    "iters, warmup, message",
    [
        (0, 1, r"iters \(the timed calls\) must be at least 1, got 0"),
        (-2, 0, r"iters \(the timed calls\) must be at least 1, got -2"),
        (3, -1, r"warmup \(the untimed calls\) must be at least 0, got -1"),
    ],
)
def test_no_timed_call_is_refused_before_any_call(iters, warmup, message) -> None:
    calls: List[torch.Tensor] = []
    with pytest.raises(ValueError, match=message):
        timing.measure_speed(calls.append, torch.zeros(1, 3, 2, 2), "fp32", iters, warmup)
    assert calls == []
