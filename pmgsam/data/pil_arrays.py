"""A decoded PIL image as a NumPy array, built band by band (:func:`pil_pixels`).

``np.asarray(img)`` goes through ``img.tobytes()``, which gathers the whole image in chunks and
then joins them: two full-size copies beside PIL's own buffer (which stores RGB as 4 bytes a
pixel). For a 6000×4000 RGB JPEG that is 92 + 69 + 69 MiB at once; ``img.convert("RGB")``
before it adds a second PIL buffer. Copying one band of rows at a time into the final array
holds PIL's buffer, the result and one small band (BENCHMARKS.md, "Evaluation speed").
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

#: Bytes of PIL storage per band: its crop and the crop converted, each up to 4 bytes a pixel
#: (PIL keeps 8-bit RGB in 4).
BAND_BYTES = 4 << 20


def pil_pixels(img: Image.Image, mode: Optional[str] = None) -> np.ndarray:
    """``np.asarray(img.convert(mode))`` (``np.asarray(img)`` without ``mode``) as a writable,
    C-contiguous array, without the full-size intermediate copies.

    Each band is cropped, converted and copied on its own: converting to ``mode`` must be a
    per-pixel operation (any conversion to RGB, RGBA or L from a decoded file is; a dithered
    conversion to a palette or to "1" is not).
    """
    width, height = img.size
    convert = mode is not None and mode != img.mode
    rows = max(1, BAND_BYTES // max(1, 8 * width))
    out: Optional[np.ndarray] = None
    for top in range(0, height, rows):
        band = img.crop((0, top, width, min(height, top + rows)))
        part = np.asarray(band.convert(mode) if convert else band)
        if out is None:
            out = np.empty((height,) + part.shape[1:], part.dtype)
        out[top : top + part.shape[0]] = part
    if out is None:  # no rows: the shape and type still come from PIL
        return np.array(img.convert(mode) if convert else img)
    return out
