"""``pmgsam.utils.finite`` at its edges: an empty float array (a 0-pixel crop) holds no NaN
(numpy's min and max of it would raise), and integer and bool arrays never do."""

from __future__ import annotations

import numpy as np

from pmgsam.utils.finite import describe_non_finite, has_non_finite


def test_empty_integer_and_finite_arrays_hold_nothing_non_finite() -> None:
    for arr in (
        np.zeros((0, 5), np.float32),
        np.zeros(0, np.float64),
        np.arange(6, dtype=np.int64),
        np.ones((2, 2), bool),
        np.array([0.0, 1.0, -3.5], np.float16),
    ):
        assert has_non_finite(arr) is False
    assert describe_non_finite(np.zeros((0, 5), np.float32)) == "no NaN or inf of its 0 values"


def test_nan_and_both_infinities_are_found_and_counted() -> None:
    arr = np.array([[np.nan, np.inf], [-np.inf, np.nan], [0.5, 1.0]], np.float32)
    assert has_non_finite(arr) is True
    assert describe_non_finite(arr, "pixels") == "NaN in 2, +inf in 1, -inf in 1 of its 6 pixels"
