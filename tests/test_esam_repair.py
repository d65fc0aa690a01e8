"""E-SAM-style under-segmentation repair: which candidate claims pixels that two of them share.

Hand-made masks; the rest of the E-SAM stages are tested in tests/test_esam.py.
"""

from __future__ import annotations

import numpy as np

from pmgsam.baselines.esam import add_repair_masks

H, W = 10, 20


def cols(x0: int, x1: int) -> np.ndarray:
    """(H, W) bool, True on columns x0..x1-1 of every row."""
    m = np.zeros((H, W), bool)
    m[:, x0:x1] = True
    return m


def test_the_more_confident_repair_candidate_claims_the_shared_pixels() -> None:
    entity = cols(0, 4)
    # Both candidates are new (the entity is elsewhere) and share columns 10..11.
    weaker, stronger = cols(6, 12), cols(10, 16)
    out, scores = add_repair_masks([entity], [0.9], [weaker, stronger], [0.90, 0.95], 0.88, 0.5)
    # Best score first: the stronger one whole, then what is new of the weaker (4 of its 6
    # columns, above the 0.5 fraction), whatever order the prompts came in.
    assert scores == [0.9, 0.95, 0.90]
    np.testing.assert_array_equal(out[1], stronger)
    np.testing.assert_array_equal(out[2], cols(6, 10))
