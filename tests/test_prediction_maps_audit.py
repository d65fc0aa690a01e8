"""Mutation audit: probability_levels' band path (pmgsam.engine.prediction_maps) at its edges:
a map whose rows are wider than a band, and NaN on either side of a band boundary.

Expectation: the whole-map formula the bands replaced, copied below, and hand-derived levels.
"""

from __future__ import annotations

import torch

from pmgsam.engine import prediction_maps
from pmgsam.engine.prediction_maps import probability_levels


def _whole_map_levels(prob):
    levels = torch.nan_to_num(prob.float(), nan=0.0)
    return levels.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)


def test_rows_wider_than_a_band_are_quantised_a_row_at_a_time(monkeypatch):
    # 60 pixels a row against 50 a band: a band's row count rounds down to 0 without its floor.
    monkeypatch.setattr(prediction_maps, "LEVEL_BAND_PIXELS", 50)
    gen = torch.Generator().manual_seed(0)
    for shape in ((3, 60), (1, 60), (2, 1, 2, 30)):
        prob = torch.rand(shape, generator=gen)
        assert torch.equal(probability_levels(prob), _whole_map_levels(prob)), shape


def test_nan_at_a_band_boundary_is_level_0_and_its_neighbours_keep_theirs(monkeypatch):
    monkeypatch.setattr(prediction_maps, "LEVEL_BAND_PIXELS", 50)  # 10 x 10: bands of 5 rows
    prob = torch.full((10, 10), 0.5)
    prob[4, 9] = prob[5, 0] = float("nan")  # last pixel of band 1, first of band 2
    prob[4, 8], prob[5, 1] = 1.0, 0.2
    got = probability_levels(prob)
    assert got[4, 9] == 0 and got[5, 0] == 0
    # 0.5 * 255 = 127.5 rounds half to even: 128; 0.2 * 255 = 51.
    assert (got[4, 8], got[5, 1], got[0, 0], got[9, 9]) == (255, 51, 128, 128)
    assert torch.equal(got, _whole_map_levels(prob))


def test_a_one_dimensional_map_above_a_band_is_quantised_whole(monkeypatch):
    monkeypatch.setattr(prediction_maps, "LEVEL_BAND_PIXELS", 50)
    prob = torch.linspace(-0.1, 1.1, 60)
    assert torch.equal(probability_levels(prob), _whole_map_levels(prob))


def test_a_band_of_a_batch_of_maps_holds_at_most_the_band_pixels(monkeypatch):
    # The rows of a band are counted across the batch: 4 maps of 30 x 20 in bands of 200
    # pixels take 2 rows at a time, not 10 (200 pixels of one map's rows, times 4 maps).
    monkeypatch.setattr(prediction_maps, "LEVEL_BAND_PIXELS", 200)
    sizes = []
    real = torch.nan_to_num

    def spy(tensor, *args, **kwargs):
        sizes.append(tensor.numel())
        return real(tensor, *args, **kwargs)

    prob = torch.rand((4, 1, 30, 20), generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(torch, "nan_to_num", spy)
    got = probability_levels(prob)
    monkeypatch.setattr(torch, "nan_to_num", real)
    assert sizes and max(sizes) <= 200, sizes
    assert torch.equal(got, _whole_map_levels(prob))
