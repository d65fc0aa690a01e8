"""Mutation-audit tests for the mask reader's integer rescaling (pmgsam.data.io.to_uint8)."""

from __future__ import annotations

import numpy as np

from pmgsam.data.io import to_uint8


def test_integer_maps_outside_16_bits_are_clipped_not_wrapped():
    # 32-bit integer maps ('I' mode) may hold values outside 0..65535. Clipped first:
    # -5 -> 0 -> 0, 70000 -> 65535 -> 255. Without the clip, uint8 wrap-around would read
    # -5 as (-1275 + 32767) // 65535 = 0 but 70000 as (17850000 + 32767) // 65535 = 272 -> 16.
    # In range, v -> round(v / 257): 32767 / 257 = 127.498 -> 127.
    arr = np.array([[-5, 0, 32767, 65535, 70000, 2**31 - 1]], np.int32)
    assert to_uint8(arr).tolist() == [[0, 0, 127, 255, 255, 255]]
