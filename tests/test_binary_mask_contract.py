"""The binary mask of an in-memory prediction is the one scoring reads off its saved map.

``predict_image``'s probabilities were documented as binarised by ``> 0.5``, while the saved
map holds ``round(p × 255)`` and HCE (the official DIS rule) takes level ``> 128``: for p in
(0.5, 0.50392] the map holds 128, background to the scores, foreground to ``> 0.5``.
:func:`binary_mask` gives the scores' answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pmgsam.data.io import binarize, load_mask
from pmgsam.engine.prediction_maps import binary_mask, probability_levels, write_probability_png

# Probabilities around the boundary, with p × 255 and its level (rounded half to even) by hand:
# 127.245 -> 127, 127.5 -> 128, 127.526 -> 128, 128.01 -> 128, 128.4996 -> 128,
# 128.50215 -> 129, 130.05 -> 130.
PROBS = [0.499, 0.5, 0.5001, 0.502, 0.50392, 0.50393, 0.51]
LEVELS = [127, 128, 128, 128, 128, 129, 130]
FOREGROUND = [False, False, False, False, False, True, True]  # level > 128


def test_the_boundary_is_the_saved_maps_level_128(tmp_path: Path) -> None:
    prob = torch.tensor([PROBS])
    assert probability_levels(prob).tolist() == [LEVELS]
    assert binary_mask(prob).tolist() == [FOREGROUND]
    # `> 0.5` (the old contract) calls three of them foreground that the scores do not.
    assert (prob > 0.5).sum().item() - sum(FOREGROUND) == 3
    path = tmp_path / "map.png"
    write_probability_png(prob, path)
    saved = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # how the official DIS tools read it
    assert saved.tolist() == [LEVELS]
    assert ((saved > 128) == binary_mask(prob).numpy()).all()
    read = load_mask(path, "prediction", labels_01=False)  # how pmgsam's scoring reads it
    assert (binarize(read).astype(bool) == binary_mask(prob).numpy()).all()


def test_out_of_range_probabilities_are_clamped_as_saved() -> None:
    prob = torch.tensor([[-0.2, 1.3, float(np.float32(128.6 / 255))]])
    assert probability_levels(prob).tolist() == [[0, 255, 129]]
    # binary_mask refuses those (tests/test_binary_mask_misuse.py), not a rounding overshoot.
    prob = torch.tensor([[-1e-4, 1.0001, float(np.float32(128.6 / 255))]])
    assert binary_mask(prob).tolist() == [[False, True, True]]
    assert binary_mask(prob).device.type == "cpu"


def test_saved_levels_are_refused_and_numpy_probabilities_taken() -> None:
    levels = np.array([[0, 100, 128, 200]], np.uint8)  # a saved map read back
    # Clamped as probabilities, every level above 0 would be foreground: [F, T, T, T].
    for wrong in (levels, torch.from_numpy(levels), torch.from_numpy(levels > 128)):
        with pytest.raises(TypeError, match="binarize"):
            binary_mask(wrong)
    assert binary_mask(np.array(PROBS, np.float32)).tolist() == FOREGROUND


def test_nan_and_infinite_probabilities_have_defined_levels() -> None:
    # NaN is saved as background (the NaN-map warning says so), not left to a cast C++
    # leaves undefined; ±inf clamp like any out-of-range value; bf16 input takes the same path.
    prob = torch.tensor([[float("nan"), float("inf"), float("-inf"), 0.5]])
    assert probability_levels(prob).tolist() == [[0, 255, 0, 128]]
    assert probability_levels(prob.bfloat16()).tolist() == [[0, 255, 0, 128]]


def test_the_map_writer_stays_importable_from_the_predictor_module() -> None:
    # README and the baselines import these from pmgsam.engine.predictor, where they lived.
    from pmgsam.engine import prediction_maps, predictor

    for name in ("binary_mask", "probability_levels", "write_probability_png", "NAN_CAUSE"):
        assert getattr(predictor, name) is getattr(prediction_maps, name)
    assert predictor.NaNPredictionWarning is prediction_maps.NaNPredictionWarning
