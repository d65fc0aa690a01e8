"""binary_mask given something other than probabilities: a 0-255 map (``prob × 255``), logits
or a map holding NaN. Clamped to [0, 1] as the saved map is, the first two come out nearly all
foreground (every value above 128.5 / 255), without a word."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from pmgsam.engine.prediction_maps import NaNPredictionWarning, binary_mask

# Probabilities with their foreground by hand (level > 128, i.e. p > 0.50392).
PROBS = torch.tensor([[0.1, 0.3, 0.6, 0.9]])
FOREGROUND = [[False, False, True, True]]


@pytest.mark.parametrize(
    "wrong, named",
    [
        (PROBS * 255, r"\[25.5, 229.5\]"),  # levels as floats: clamped, all foreground
        (torch.logit(PROBS), r"\[-2.19722, 2.19722\]"),  # logits: 0.1 and 0.3 fall below 0
        (torch.from_numpy(PROBS.numpy() * 255).half(), "255"),
    ],
)
def test_values_outside_0_1_are_refused_naming_their_range(wrong, named) -> None:
    with pytest.raises(ValueError, match=named) as err:
        binary_mask(wrong)
    assert "in [0, 1]" in str(err.value)


def test_the_refusal_says_how_to_convert_each_kind() -> None:
    with pytest.raises(ValueError) as err:
        binary_mask(np.array([[0.0, 128.0, 255.0]], np.float32))
    message = str(err.value)
    assert "divide a 0-255 map by 255" in message and "torch.sigmoid" in message
    # The conversions it names give the mask of the probabilities.
    assert binary_mask(PROBS * 255 / 255).tolist() == FOREGROUND
    assert binary_mask(torch.sigmoid(torch.logit(PROBS))).tolist() == FOREGROUND


def test_nan_is_background_with_a_warning_counting_it() -> None:
    prob = torch.tensor([[float("nan"), 0.9, float("nan"), 0.1]])
    with pytest.warns(NaNPredictionWarning, match="NaN at 2 of the map's 4 pixels"):
        assert binary_mask(prob).tolist() == [[False, True, False, False]]
    with pytest.warns(NaNPredictionWarning, match="NaN at 1 of"):
        binary_mask(torch.tensor([float("nan")]))
    # NaN beside levels: the range named is that of the numbers, not NaN.
    with pytest.raises(ValueError, match=r"\[0, 200\]"), warnings.catch_warnings():
        warnings.simplefilter("ignore", NaNPredictionWarning)
        binary_mask(torch.tensor([float("nan"), 0.0, 200.0]))


def test_probabilities_pass_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert binary_mask(PROBS).tolist() == FOREGROUND
        assert binary_mask(PROBS.bfloat16()).tolist() == FOREGROUND
        assert binary_mask(torch.zeros(0, 3)).shape == (0, 3)
