"""probability_levels quantises a large map band by band: the same levels as the whole-map
formula it replaced (copied below) for every kind of value, shape and dtype, without a float
copy of the whole map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pmgsam.engine import prediction_maps
from pmgsam.engine.prediction_maps import probability_levels, write_probability_png


def _old_levels(prob):
    levels = torch.nan_to_num(prob.float(), nan=0.0)
    return levels.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)


def _awkward_map(shape, seed=0):
    """Probabilities with NaN, infinities, values beyond [0, 1] and k + 0.5 ties (x 255)."""
    gen = torch.Generator().manual_seed(seed)
    prob = torch.rand(shape, generator=gen, dtype=torch.float64) * 1.4 - 0.2
    flat = prob.view(-1)
    ties = (torch.arange(flat.numel() // 3, dtype=torch.float64) % 255 + 0.5) / 255
    flat[: ties.numel()] = ties
    flat[5], flat[17], flat[-3], flat[-1] = float("nan"), float("inf"), float("-inf"), 1.0
    return prob


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_levels_equal_the_whole_map_formula(monkeypatch, dtype):
    monkeypatch.setattr(
        prediction_maps, "LEVEL_BAND_PIXELS", 50, raising=False
    )  # 3 or 4 rows a band
    for shape in ((37, 13), (2, 1, 23, 17), (41, 1)):
        prob = _awkward_map(shape).to(dtype)
        got = probability_levels(prob)
        want = _old_levels(prob)
        assert got.dtype == torch.uint8 and got.shape == prob.shape
        assert torch.equal(got, want), (dtype, shape)
        turned = prob.transpose(-1, -2)  # not contiguous
        assert torch.equal(probability_levels(turned), _old_levels(turned))
    assert probability_levels(torch.tensor([128 / 255, 128.5 / 255, 2.0])).tolist() == [
        128,
        128,  # half to even, hand-derived
        255,
    ]


def test_the_map_is_left_as_it_was(monkeypatch):
    monkeypatch.setattr(prediction_maps, "LEVEL_BAND_PIXELS", 50, raising=False)
    prob = _awkward_map((30, 20)).float()
    kept = prob.clone()
    probability_levels(prob)
    assert torch.equal(prob.nan_to_num(), kept.nan_to_num())


def test_no_float_copy_of_the_whole_map(monkeypatch, tmp_path):
    sizes = []
    real = torch.nan_to_num

    def spy(tensor, *args, **kwargs):
        sizes.append(tensor.numel())
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(torch, "nan_to_num", spy)
    prob = _awkward_map((2000, 1500), seed=1).float()  # 3 M pixels, 3 default bands
    with pytest.warns(prediction_maps.NaNPredictionWarning, match="NaN at 1 of its"):
        write_probability_png(prob, tmp_path / "a.png")
    assert sizes and max(sizes) < prob.numel() // 2, max(sizes)
    monkeypatch.setattr(torch, "nan_to_num", real)
    saved = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(saved, _old_levels(prob).numpy())


def test_a_map_on_another_device_is_quantised_whole(monkeypatch):
    # The bands save host memory; on a GPU they would only multiply kernel launches. A meta
    # tensor stands for a device map here (its shape goes through the same calls).
    calls = []
    real = prediction_maps._levels

    def counted(prob):
        calls.append(tuple(prob.shape))
        return real(prob)

    monkeypatch.setattr(prediction_maps, "_levels", counted)
    shape = (3000, 4000)  # 12 MP: 12 bands of 1 MP on the CPU
    probability_levels(torch.zeros(shape))
    assert len(calls) == 12
    calls.clear()
    out = probability_levels(torch.empty(shape, device="meta"))
    assert calls == [shape] and out.shape == shape and out.dtype == torch.uint8
