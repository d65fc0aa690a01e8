"""Reading a JPEG at 1/2, 1/4 or 1/8 size from its DCT coefficients (``data.reduced_decode``).

A training sample of a photo several times larger than S only needs a reduced image: libjpeg
builds it without decoding the full-size one (BENCHMARKS.md, "Training data loader"). Used
only where it reads a file as :func:`pmgsam.data.io.load_image` does
(:func:`reduced_decode_applies`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .io import DataError, PathLike, _missing

#: OpenCV flags that make libjpeg scale its inverse DCT by 1/f (an f×f block average).
_REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def reduced_decode_applies(fmt: str, mode: str) -> bool:
    """Whether :func:`load_image_reduced` reads a file like :func:`~pmgsam.data.io.load_image` does.

    Only 8-bit RGB and gray JPEGs: libjpeg's scaled decode and PIL agree on them (gray is
    replicated into three channels by both); CMYK/YCCK JPEGs are converted differently by OpenCV
    and PIL, and other formats have no DCT to scale. A camera's MPO is a JPEG whose first frame
    (the photo, which both read) comes first in the file, followed by previews or a second view.
    """
    return fmt in ("JPEG", "MPO") and mode in ("RGB", "L")


def load_image_reduced(path: PathLike, factor: int) -> np.ndarray:
    """Read a JPEG at 1/``factor`` size (2, 4 or 8) as (ceil(H/f), ceil(W/f), 3) uint8 RGB.

    libjpeg computes the reduced image from the DCT coefficients, so the full-size image is
    never built. Like :func:`~pmgsam.data.io.load_image`, EXIF orientation is ignored. Check
    :func:`reduced_decode_applies` on the header first.
    """
    path = Path(path)
    if factor not in _REDUCED_FLAGS:
        raise ValueError(f"reduced decode factor must be 2, 4 or 8, got {factor}")
    if not path.is_file():
        raise _missing(path, "image")
    # np.fromfile + imdecode instead of imread: imread cannot open non-ASCII paths on Windows.
    data = np.fromfile(path, dtype=np.uint8)
    flags = _REDUCED_FLAGS[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(data, flags) if data.size else None
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise DataError(
            f"cannot read image file '{path}' at 1/{factor} size: corrupt or unsupported"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
