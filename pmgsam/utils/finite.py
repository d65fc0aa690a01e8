"""NaN and infinities in user arrays: found cheaply, named in messages."""

from __future__ import annotations

import numpy as np


def has_non_finite(arr: np.ndarray) -> bool:
    """Whether a float array holds NaN or an infinity. Integer and bool arrays cannot, and
    are not read at all; a float array costs a min and a max (NaN spreads to both), with no
    temporary array."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return False
    return not (np.isfinite(arr.min()) and np.isfinite(arr.max()))


def describe_non_finite(arr: np.ndarray, unit: str = "values") -> str:
    """``"NaN in 3, +inf in 1 of its 192 values"``: what :func:`has_non_finite` found."""
    counts = {"NaN": np.isnan(arr), "+inf": np.isposinf(arr), "-inf": np.isneginf(arr)}
    found = ", ".join(f"{k} in {int(np.count_nonzero(v))}" for k, v in counts.items() if v.any())
    return f"{found or 'no NaN or inf'} of its {arr.size} {unit}"
