"""``pmgsam.utils.rle`` against pycocotools itself: the masks the loaders and the instance
evaluation encode (empty, full, one pixel, non-contiguous views, one-row and one-column images)
decode, measure and box as pycocotools' own encoding of them does, and uncompressed counts
(zero-length runs included) become the string pycocotools makes of them."""

from __future__ import annotations

from typing import Dict

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pmgsam.utils.rle import compressed_counts, encode_rle, rle_from_segmentation

# pycocotools' area() and toBbox() under numpy 2 (its own code, not this test's).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _hand_masks() -> Dict[str, np.ndarray]:
    masks: Dict[str, np.ndarray] = {}
    masks["empty 7x5"] = np.zeros((7, 5), bool)
    masks["full 7x5"] = np.ones((7, 5), bool)
    for r, c in ((0, 0), (6, 4), (0, 4), (6, 0), (3, 2)):
        m = np.zeros((7, 5), bool)
        m[r, c] = True
        masks[f"one pixel at {r},{c}"] = m
    masks["1x1 on"] = np.ones((1, 1), bool)
    masks["1x9 row"] = np.array([[0, 1, 1, 0, 1, 0, 0, 1, 1]], bool)
    masks["9x1 column"] = masks["1x9 row"].T.copy()
    rng = np.random.default_rng(7)
    wide = rng.random((11, 26)) < 0.4
    masks["every 2nd column of a C array (a strided view)"] = wide[:, ::2]
    masks["transposed view (Fortran order)"] = wide.T
    masks["Fortran copy"] = np.asfortranarray(wide)
    masks["uint8 0/1"] = wide.astype(np.uint8)
    masks["uint8 0/255"] = wide.astype(np.uint8) * 255
    for k in range(6):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        masks[f"random {h}x{w} #{k}"] = rng.random((h, w)) < (0.05, 0.5, 0.95)[k % 3]
    return masks


HAND_MASKS = _hand_masks()


def _box(mask: np.ndarray) -> list:
    """[x, y, w, h] of the foreground, worked out from its rows and columns ([0]*4 if none)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return [0.0] * 4
    return [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]


def _runs(mask: np.ndarray) -> list:
    """Run lengths down the columns, background first, worked out from the flattened mask."""
    flat = np.concatenate(([False], mask.astype(bool).ravel(order="F"), [not mask.flat[-1]]))
    edges = np.flatnonzero(flat[1:] != flat[:-1])
    return np.diff(np.concatenate(([0], edges))).tolist()


@pytest.mark.parametrize("case", HAND_MASKS)
def test_encoded_masks_decode_measure_and_box_as_pycocotools(case: str) -> None:
    mask = HAND_MASKS[case]
    binary = mask != 0
    rle = encode_rle(mask)
    reference = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    assert rle == {"size": list(mask.shape), "counts": reference["counts"].decode("ascii")}
    as_bytes = dict(rle, counts=rle["counts"].encode("ascii"))
    np.testing.assert_array_equal(mask_utils.decode(as_bytes), binary)
    assert int(mask_utils.area(as_bytes)) == int(binary.sum())
    np.testing.assert_array_equal(mask_utils.toBbox(as_bytes), _box(binary))
    assert compressed_counts(rle["counts"]).tolist() == _runs(binary)
    # The file forms of the same mask (its compressed string, its runs) read back unchanged.
    assert rle_from_segmentation(dict(rle), *mask.shape) == rle
    assert rle_from_segmentation({"size": rle["size"], "counts": _runs(binary)}, *mask.shape) == rle


def test_a_label_map_given_as_a_mask_is_its_foreground() -> None:
    # pycocotools starts a new run wherever the value changes, so 1 next to 2 would read as
    # one foreground run then one background run: the 2s would be lost.
    labels = np.array([[1, 2, 0], [0, 3, 3]], np.uint8)
    rle = encode_rle(labels)
    got = mask_utils.decode(dict(rle, counts=rle["counts"].encode("ascii")))
    np.testing.assert_array_equal(got, labels != 0)
    # Any non-zero value, a negative label or a fraction too (uint8 casts would wrap or drop them).
    signed = np.array([[-1, 0, 0.25], [0, -0.5, 0]])
    rle = encode_rle(signed)
    got = mask_utils.decode(dict(rle, counts=rle["counts"].encode("ascii")))
    np.testing.assert_array_equal(got, [[1, 0, 1], [0, 1, 0]])


@pytest.mark.parametrize("seed", range(4))
def test_uncompressed_counts_with_empty_runs_become_pycocotools_string(seed: int) -> None:
    # Zero-length runs (a file may hold them) merge their neighbours; the sums still tile the
    # image, and the string is the one pycocotools writes for the same counts.
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, int(rng.integers(1, 30))).tolist()
    if sum(counts) == 0:
        counts.append(1)
    h, w = 1, sum(counts)
    for d in (2, 3, 5):
        if w % d == 0:
            h, w = d, w // d
            break
    reference = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    got = rle_from_segmentation({"size": [h, w], "counts": counts}, h, w)
    assert got == {"size": [h, w], "counts": reference["counts"].decode("ascii")}
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)
    decoded = mask_utils.decode(dict(got, counts=got["counts"].encode("ascii")))
    np.testing.assert_array_equal(decoded, flat.reshape(w, h).T)
