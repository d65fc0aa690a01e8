"""Writing a full-size map (24 MP for DIS5K's largest images): the 0-255 levels are made on one
float32 copy of the probabilities instead of four, with the very same levels as the formula
before (kept here as ``_levels_before``), and a map without NaN is not scanned for NaN pixel
by pixel."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from pmgsam.engine import prediction_maps
from pmgsam.engine.prediction_maps import probability_levels, write_probability_png


def _levels_before(prob: torch.Tensor) -> torch.Tensor:
    # prediction_maps.probability_levels as of f847d35, verbatim.
    prob = torch.nan_to_num(prob.float(), nan=0.0)
    return torch.round(prob.clamp(0, 1) * 255.0).to(torch.uint8)


def _probabilities(dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    prob = torch.rand(123, 77, generator=gen, dtype=torch.float64) * 1.4 - 0.2
    # Exact half levels (rounded to even), NaN and both infinities.
    prob[0, :10] = (torch.arange(10, dtype=torch.float64) + 0.5) / 255
    prob[1, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    return prob.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_levels_equal_the_formula_before_and_leave_the_input_alone(dtype: torch.dtype):
    prob = _probabilities(dtype)
    before = prob.clone()
    got = probability_levels(prob)
    assert got.dtype == torch.uint8
    assert torch.equal(got, _levels_before(prob))
    assert torch.equal(prob.isnan(), before.isnan())
    assert torch.equal(prob.nan_to_num(), before.nan_to_num())


def test_levels_allocate_one_float32_copy_and_the_uint8_map():
    prob = torch.rand(200, 300)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        probability_levels(prob)
    allocated = sum(
        e.self_cpu_memory_usage for e in prof.key_averages() if e.self_cpu_memory_usage > 0
    )
    # 4 + 1 bytes a pixel; the formula before allocated 17 (four float32 maps, then uint8).
    assert allocated / prob.numel() < 6, allocated / prob.numel()


def test_nan_free_map_is_not_scanned_pixel_by_pixel_and_nan_still_counted(tmp_path, monkeypatch):
    scanned = []
    isnan = torch.isnan

    def recording_isnan(t: torch.Tensor) -> torch.Tensor:
        scanned.append(t.numel())
        return isnan(t)

    monkeypatch.setattr(prediction_maps.torch, "isnan", recording_isnan)
    prob = torch.rand(60, 80)
    write_probability_png(prob, tmp_path / "clean.png")
    assert max(scanned) == 1  # the sum only
    prob[3, :7] = float("nan")
    prob[4, 0] = float("inf")  # with -inf a sum is NaN too: counted, and exactly
    prob[5, 0] = -float("inf")
    found: list = []
    write_probability_png(prob, tmp_path / "nan.png", found)
    assert found == [f"'{tmp_path / 'nan.png'}' (NaN at 7 of its 4800 pixels)"]
    no_nan: list = []
    prob[3, :7] = 0.25
    write_probability_png(prob, tmp_path / "infs.png", no_nan)
    assert no_nan == []
