"""Audit of binary_mask's range check: the documented 1e-3 allowance either side of [0, 1]
(rounding, not a resampled map's overshoot), logits that are all at most 1, and a NaN warning
that points at the caller's line."""

from __future__ import annotations

import warnings

import pytest
import torch

from pmgsam.engine.prediction_maps import NaNPredictionWarning, binary_mask


def test_rounding_within_1e_3_passes_as_the_clamped_values() -> None:
    prob = torch.tensor([-0.0009, 0.2, 0.8, 1.0009], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert binary_mask(prob).tolist() == [False, False, True, True]


@pytest.mark.parametrize("wrong", [[0.2, 1.01], [-0.01, 0.8]])
def test_values_past_the_allowance_are_refused(wrong) -> None:
    with pytest.raises(ValueError, match="in \\[0, 1\\], got values in"):
        binary_mask(torch.tensor(wrong))


def test_logits_below_1_are_refused_by_their_negative_values() -> None:
    # Every value at most 1: only the lower bound tells them from probabilities. Clamped,
    # -3 and -0.5 would silently read as background and 0.8 as foreground.
    with pytest.raises(ValueError, match=r"got values in \[-3, 0.8\]"):
        binary_mask(torch.tensor([-3.0, -0.5, 0.8]))


def test_the_nan_warning_points_at_the_callers_line() -> None:
    with pytest.warns(NaNPredictionWarning) as caught:
        binary_mask(torch.tensor([float("nan"), 0.9]))
    assert caught[0].filename == __file__


def test_a_single_probability_gives_a_0d_mask() -> None:
    # One pixel's probability (prob[0, 0, y, x]): binarize returns a NumPy scalar there,
    # which torch.from_numpy refused with a TypeError.
    assert binary_mask(torch.tensor(0.7)).item() is True
    assert binary_mask(torch.tensor(0.5035)).item() is False  # 128.39: level 128, background
    mask = binary_mask(torch.tensor(0.9, dtype=torch.float16))
    assert (mask.shape, mask.dtype) == ((), torch.bool)
