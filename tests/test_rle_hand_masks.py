"""COCO RLE of hand-made masks (``pmgsam.utils.rle``), against run lengths worked out by hand
and pycocotools' own decode and area: runs go down the columns (column-major) and the first
run is background, of length 0 when the top-left pixel is foreground."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pmgsam.utils.rle import compressed_counts, encode_rle, rle_from_segmentation

# pycocotools' area() under numpy 2 (its own code, not this test's).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# mask rows -> (run lengths down the columns, pycocotools' string for them). A count from the
# 4th on is stored as its difference to the one two places back, 5 bits a character from '0'.
HAND_MASKS = {
    # column 0 reads (0, 1), column 1 (1, 0), column 2 (0, 0): runs 1 off, 2 on, 3 off.
    "2x3, top-left off": ([[0, 1, 0], [1, 0, 0]], [1, 2, 3], "123"),
    # columns (1, 0), (1, 0), (0, 0): 0 off, 1 on, 1 off, 1 on, 3 off; 1-1 = 0 and 3-1 = 2.
    "2x3, top-left on": ([[1, 1, 0], [0, 0, 0]], [0, 1, 1, 1, 3], "01102"),
    # 3 rows x 2 columns, the right column on: row-major runs would read [1, 1, 1, 1, 1, 1].
    "3x2, a column": ([[0, 1], [0, 1], [0, 1]], [3, 3], "33"),
    "2x2, all on": ([[1, 1], [1, 1]], [0, 4], "04"),
}


@pytest.mark.parametrize("case", HAND_MASKS)
def test_encoded_runs_go_down_the_columns_and_start_with_background(case: str) -> None:
    rows, runs, text = HAND_MASKS[case]
    mask = np.array(rows, bool)
    rle = encode_rle(mask)
    assert rle == {"size": list(mask.shape), "counts": text}
    assert compressed_counts(rle["counts"]).tolist() == runs
    as_bytes = dict(rle, counts=text.encode())
    np.testing.assert_array_equal(mask_utils.decode(as_bytes), mask)
    assert int(mask_utils.area(as_bytes)) == int(mask.sum())
    # The same runs given uncompressed become the same string.
    assert rle_from_segmentation({"size": list(mask.shape), "counts": runs}, *mask.shape) == rle
