"""A COCO GT's segmentations (RLE counts, compressed or not, and polygons) become the masks
pycocotools would make of them, and counts it could not read are named."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pmgsam.utils.rle import SegmentationError, compressed_counts, encode_rle, rle_from_segmentation

H, W = 20, 30


def _rectangle_counts() -> str:
    """The compressed counts of test_coco_gt_checks' one GT instance."""
    m = np.zeros((H, W), bool)
    m[5:15, 5:20] = True
    return encode_rle(m)["counts"]


def test_polygons_without_area_are_dropped_not_read_as_boxes() -> None:
    square = [5, 5, 20, 5, 20, 15, 5, 15]
    alone = mask_utils.decode(rle_from_segmentation([square], H, W))
    assert alone.sum() > 0
    # pycocotools reads a list led by a 4-number polygon as boxes [x, y, w, h]: kept, the
    # two points would fill most of the image.
    two_points = [0, 0, 29, 19]
    mixed = mask_utils.decode(rle_from_segmentation([two_points, square], H, W))
    assert np.array_equal(mixed, alone)
    for seg in ([], [[]], [two_points]):
        assert mask_utils.decode(rle_from_segmentation(seg, H, W)).sum() == 0


def test_compressed_counts_match_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for k in range(40):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        mask = rng.random((h, w)) < (0.02 if k % 2 else 0.6)
        counts = compressed_counts(encode_rle(mask)["counts"])
        flat = np.repeat(np.arange(counts.size) % 2, counts).astype(bool)
        np.testing.assert_array_equal(flat.reshape(w, h).T, mask)  # column-major runs


def test_polygon_margin_and_uncompressed_rle_accepted() -> None:
    edge = rle_from_segmentation([[-W, -H, 2 * W, 0, 0, 2 * H]], H, W)  # exactly at the margin
    assert edge["size"] == [H, W]
    full = rle_from_segmentation({"size": [H, W], "counts": [0, H * W]}, H, W)
    assert compressed_counts(full["counts"]).tolist() == [0, H * W]
    with pytest.raises(SegmentationError, match="non-finite"):
        rle_from_segmentation([[0, 0, float("nan"), 1, 2, 3]], H, W)


def test_triangles_and_every_polygon_of_a_list_are_rasterised() -> None:
    # A triangle (6 numbers) is the smallest polygon with area: it is kept, not dropped with
    # the 2-point ones. Several polygons make one instance: the union of each rasterised alone.
    tri = [2.0, 2.0, 12.0, 2.0, 2.0, 12.0]
    box = [18.0, 4.0, 27.0, 4.0, 27.0, 16.0, 18.0, 16.0]
    tri_alone = mask_utils.decode(mask_utils.frPyObjects([tri], H, W))[..., 0]
    box_alone = mask_utils.decode(mask_utils.frPyObjects([box], H, W))[..., 0]
    assert tri_alone.sum() > 0 and box_alone.sum() > 0 and not (tri_alone & box_alone).any()
    got = mask_utils.decode(rle_from_segmentation([tri], H, W))
    np.testing.assert_array_equal(got, tri_alone)
    got = mask_utils.decode(rle_from_segmentation([tri, box], H, W))
    np.testing.assert_array_equal(got, tri_alone | box_alone)


def test_uncompressed_rle_runs_are_column_major() -> None:
    # 2 x 3, counts [1, 2, 3] down the columns: (0,0) off; (1,0), (0,1) on; the rest off.
    rle = rle_from_segmentation({"size": [2, 3], "counts": [1, 2, 3]}, 2, 3)
    assert rle["size"] == [2, 3]
    expected = np.array([[0, 1, 0], [1, 0, 0]], np.uint8)
    got = mask_utils.decode(dict(rle, counts=rle["counts"].encode()))
    np.testing.assert_array_equal(got, expected)


def test_compressed_counts_up_to_32_bits_and_no_character_past_o() -> None:
    # A count of 2**30 needs 31 bits and a sign bit: 7 characters of 5 bits. pycocotools
    # writes the string from the run lengths alone (no 32768 x 32768 mask is built).
    for count in (2**29, 2**30, 2**32 - 1):
        side = (1, count) if count % 2 else (2**15, count // 2**15)
        rle = mask_utils.frPyObjects({"size": list(side), "counts": [count]}, *side)
        text = rle["counts"].decode()
        assert len(text) == 7
        assert compressed_counts(text).tolist() == [count]
    # 'o' (63) is the last character pycocotools writes; 'p' (64) is outside its alphabet.
    with pytest.raises(SegmentationError, match="outside '0'..'o'"):
        compressed_counts("p")


def test_rle_counts_as_bytes_read_as_their_text_and_bad_counts_are_named() -> None:
    text = _rectangle_counts()
    rle = rle_from_segmentation({"size": [H, W], "counts": text.encode()}, H, W)
    assert rle == {"size": [H, W], "counts": text}
    bad = {  # counts: words of the error
        "é0": "non-ASCII",
        b"\xc30": "non-ASCII",
        "": "are empty",
        # 'P' is 0 with the continuation bit: 8 characters make one number, past 32 bits.
        "PPPPPPP0": "beyond 32 bits",
    }
    for counts, words in bad.items():
        with pytest.raises(SegmentationError, match=words):
            rle_from_segmentation({"size": [H, W], "counts": counts}, H, W)
    with pytest.raises(SegmentationError, match="RLE counts are a dict, not a list or str"):
        rle_from_segmentation({"size": [H, W], "counts": {}}, H, W)
    with pytest.raises(SegmentationError, match="polygon 1 is a int, not a list of numbers"):
        rle_from_segmentation([[1, 1, 5, 1, 5, 5], 7], H, W)
