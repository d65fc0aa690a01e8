"""Mutation audit: pmgsam.data.levels._finite_range, whose lowest finite value decides the
logit warning of a float map that also holds NaN (a failed method's map).

Expectation: hand-derived ranges; the warning texts of pmgsam.data.io's module doc.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from pmgsam.data.io import load_mask
from pmgsam.data.levels import _finite_range


def test_the_range_of_the_finite_values_includes_zero():
    nan, inf = float("nan"), float("inf")
    assert _finite_range(np.array([nan, -3.0, 2.0, inf], np.float32)) == (-3.0, 2.0)
    assert _finite_range(np.array([0.5, 0.25, -inf], np.float32)) == (0.0, 0.5)
    assert _finite_range(np.array([nan, nan], np.float32)) == (0.0, 0.0)


def test_a_logit_map_with_nan_still_warns_of_its_logits(tmp_path):
    logits = np.linspace(-8, 8, 64, dtype=np.float32).reshape(8, 8)
    logits[0, 0] = np.nan
    Image.fromarray(logits, "F").save(tmp_path / "m.tif")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        levels = load_mask(tmp_path / "m.tif", "prediction", False)
    said = " ".join(str(w.message) for w in caught)
    assert "holds NaN in 1 of its 64 pixels" in said
    assert "float values from -7.75 to 8" in said and "apply a sigmoid" in said
    assert levels[0, 0] == 0 and levels[-1, -1] == 8
