"""0-255 levels of decoded pixel arrays (:func:`to_uint8`; the reading rules are in
:mod:`pmgsam.data.io`)."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

#: A float map whose largest finite value is at most this holds probabilities, not 0-255.
FLOAT_PROBABILITY_MAX = 1.5


def _finite_range(arr: np.ndarray) -> Tuple[float, float]:
    """(min(0, lowest), max(0, highest)) of a float array's finite values."""
    low, high = float(np.min(arr, initial=0.0)), float(np.max(arr, initial=0.0))
    if math.isfinite(low) and math.isfinite(high):  # no NaN (it spreads to both) and no inf
        return low, high
    finite = np.isfinite(arr)
    low = float(np.min(arr, where=finite, initial=0.0))
    return low, float(np.max(arr, where=finite, initial=0.0))


def to_uint8(arr: np.ndarray, high: Optional[float] = None) -> np.ndarray:
    """0-255 uint8 from bool, float (probabilities up to 1.5, else 0-255; NaN and -inf 0, +inf
    255) or 16-bit data. ``high``: a float array's largest finite value, if known."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        # Probabilities, unless the maximum says 0-255. Bicubic or Lanczos resampling of a
        # probability map overshoots 1 a little: read as 0-255, 1.0001 would make the whole
        # map 0 or 1 out of 255. A 0-255 map whose brightest pixel is under 1.5 is empty anyway.
        # The scale comes from the finite values: one +inf pixel must not turn a probability
        # map into a 0-255 one (which reads nearly black).
        high = _finite_range(arr)[1] if high is None else high
        scale = 255.0 if high <= FLOAT_PROBABILITY_MAX else 1.0
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0 / scale, neginf=0.0)
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    # 16-bit (or 32-bit holding 16-bit) data: rescale the full range instead of clipping at 255,
    # through a table of (v * 255 + 32767) // 65535: the formula in int64 would hold 3 copies 8
    # times the size of the result (+460 MiB for a 24 MP 16-bit mask).
    if arr.dtype.kind == "u" and arr.dtype.itemsize <= 2:
        return _SIXTEEN_BIT_LEVELS[arr]
    if arr.dtype.kind in "iu" and np.can_cast(np.uint16, arr.dtype):
        return _SIXTEEN_BIT_LEVELS[np.clip(arr, 0, 65535)]
    return _SIXTEEN_BIT_LEVELS[np.clip(arr.astype(np.int64), 0, 65535)]


_SIXTEEN_BIT_LEVELS = ((np.arange(65536, dtype=np.int64) * 255 + 32767) // 65535).astype(np.uint8)
