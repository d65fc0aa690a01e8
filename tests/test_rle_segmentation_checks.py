"""What ``rle_from_segmentation`` refuses in a COCO file's segmentation beyond
test_coco_gt_checks' cases: JSON ``true`` among RLE counts (Python's bool is an int, so
pycocotools would read it as a run of 1)."""

from __future__ import annotations

import pytest

from pmgsam.utils.rle import SegmentationError, rle_from_segmentation

H, W = 4, 5


def test_a_boolean_among_rle_counts_is_named() -> None:
    # The counts still sum to the image: only the type gives the file away.
    for counts in ([H * W - 1, True], [False, H * W]):
        with pytest.raises(SegmentationError, match="non-negative integers, got (True|False)"):
            rle_from_segmentation({"size": [H, W], "counts": counts}, H, W)
