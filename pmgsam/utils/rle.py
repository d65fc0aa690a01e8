"""COCO run-length encoding shared by the data loaders and the instance evaluation (torch-free).

:func:`rle_from_segmentation` is the one place a COCO ``segmentation`` from a file is checked
before pycocotools sees it: pycocotools trusts its input, so a negative count overflows, counts
that do not cover the image decode out of bounds, and a polygon with a vertex at 1e9 is
rasterised along its whole outline (the process was killed for memory). Accepted:

* polygons: a list of polygons, each a flat list ``[x0, y0, x1, y1, ...]`` of finite x, y
  pairs; a vertex may lie outside the image (annotation tools overshoot the border) but at
  most :data:`POLYGON_MARGIN` image widths/heights outside it; polygons of fewer than 3 points
  (no area; real datasets hold a few) are dropped, and none left is an empty mask;
* uncompressed RLE: ``{"size": [h, w], "counts": [non-negative integers summing to h*w]}``;
* compressed RLE: ``{"size": [h, w], "counts": "<pycocotools string>"}`` that decodes to
  non-negative counts summing to h*w;

and an RLE's ``size`` must equal its image's height and width.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Dict, List, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from pmgsam.utils.messages import counted

# How far outside the image a polygon vertex may lie, in image sizes: a vertex of a 640-pixel
# wide image may have x in [-640, 1280]. Slight overshoot is common; beyond that the file is
# broken, and the rasteriser's memory grows with the outline's length.
POLYGON_MARGIN = 1.0
# pycocotools stores counts and image sizes as unsigned 32-bit integers.
MAX_PIXELS = 2**32 - 1
# A compressed count is 5 bits per character; more than 7 characters exceeds 32 bits.
_MAX_COUNT_CHARS = 7


class SegmentationError(ValueError):
    """A COCO segmentation is malformed (the message says what; the caller names where)."""


def encode_rle(mask: np.ndarray) -> Dict[str, Any]:
    """COCO RLE of a binary (H, W) mask, any non-zero value foreground, with ``counts`` as str
    (JSON-serialisable).

    pycocotools wants Fortran-ordered uint8 and starts a run wherever the value changes (a
    label map's 1 next to 2 would end the foreground); its ``counts`` are bytes, which JSON
    cannot hold.
    """
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def compressed_counts(text: str) -> np.ndarray:
    """The run lengths a pycocotools compressed RLE string encodes (int64), or an error.

    Mirrors pycocotools' ``rleFrString`` (6 bits a character from '0', 5 of value and a
    continuation bit, sign-extended, counts from the 4th on stored as the difference to the one
    two places back), vectorised so that long strings cost no Python loop.
    """
    try:
        codes = np.frombuffer(text.encode("ascii"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError:
        raise SegmentationError("compressed RLE counts hold non-ASCII characters") from None
    if codes.size == 0:
        raise SegmentationError("compressed RLE counts are empty")
    if codes.min() < 0 or codes.max() > 63:
        raise SegmentationError("compressed RLE counts hold characters outside '0'..'o'")
    more = (codes & 0x20) != 0
    if more[-1]:
        raise SegmentationError("compressed RLE counts end inside a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_COUNT_CHARS:
        raise SegmentationError("compressed RLE counts hold a number beyond 32 bits")
    shift = 5 * (np.arange(codes.size) - np.repeat(starts, lengths))
    values = np.add.reduceat((codes & 0x1F) << shift, starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])
    counts[2::2] = np.cumsum(values[2::2])  # counts[0] is stored as is
    return counts


def _check_size(seg: Dict[str, Any], height: int, width: int) -> None:
    size = seg.get("size")
    if size is None:
        raise SegmentationError("RLE has no 'size' ([height, width])")
    if not isinstance(size, (list, tuple)) or list(size) != [height, width]:
        raise SegmentationError(
            f"RLE size {size!r} != its image's [height, width] {[height, width]}"
        )


def _check_counts(counts: Sequence[int], height: int, width: int) -> None:
    bad = [c for c in counts if isinstance(c, bool) or not isinstance(c, int) or c < 0]
    if bad:
        raise SegmentationError(f"RLE counts must be non-negative integers, got {bad[0]!r}")
    if sum(counts) != height * width:
        raise SegmentationError(
            f"RLE counts sum to {sum(counts)}, not to the image's {height}x{width} = "
            f"{height * width} pixels"
        )


def _check_polygon(poly: Any, k: int, height: int, width: int) -> List[float]:
    if not isinstance(poly, (list, tuple)):
        raise SegmentationError(f"polygon {k} is a {type(poly).__name__}, not a list of numbers")
    if len(poly) % 2:
        raise SegmentationError(
            f"polygon {k} has {counted(len(poly), 'coordinate')}: x, y pairs need an even number"
        )
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in poly):
        raise SegmentationError(f"polygon {k} holds a value that is not a number")
    if not all(math.isfinite(v) for v in poly):
        raise SegmentationError(f"polygon {k} holds a non-finite coordinate")
    if not poly:
        return []
    for axis, values, size in (("x", poly[0::2], width), ("y", poly[1::2], height)):
        low, high = -POLYGON_MARGIN * size, (1 + POLYGON_MARGIN) * size
        if min(values) < low or max(values) > high:
            raise SegmentationError(
                f"polygon {k} has {axis} coordinates in [{min(values):g}, {max(values):g}], "
                f"more than {POLYGON_MARGIN:g} image size outside the image ([{low:g}, {high:g}])"
            )
    return [float(v) for v in poly]


def rle_from_segmentation(seg: Any, height: int, width: int) -> Dict[str, Any]:
    """A checked COCO segmentation (polygons, uncompressed or compressed RLE) as one compressed
    RLE with str counts; :class:`SegmentationError` says what is wrong (rules in the module doc).
    """
    if isinstance(seg, list):
        polys = [_check_polygon(p, k, height, width) for k, p in enumerate(seg)]
        # Fewer than 3 points enclose no area, so dropping them changes no mask; kept, a list
        # whose first polygon has 4 numbers would be read by pycocotools as boxes.
        polys = [p for p in polys if len(p) >= 6]
        if not polys:
            return encode_rle(np.zeros((height, width), np.uint8))
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(seg, dict) and "counts" in seg:
        _check_size(seg, height, width)
        counts = seg["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii", errors="replace")
        if isinstance(counts, str):
            _check_counts(compressed_counts(counts).tolist(), height, width)
            rle = {"size": [height, width], "counts": counts}
        elif isinstance(counts, list):
            _check_counts(counts, height, width)
            rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        else:
            raise SegmentationError(f"RLE counts are a {type(counts).__name__}, not a list or str")
    else:
        raise SegmentationError(
            f"unsupported segmentation {type(seg).__name__} (polygon list or RLE dict expected)"
        )
    counts = rle["counts"]
    return {
        "size": [int(height), int(width)],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }
