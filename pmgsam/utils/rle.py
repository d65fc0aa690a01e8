"""COCO run-length encoding shared by the data loaders and the instance evaluation (torch-free)."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> Dict[str, Any]:
    """COCO RLE of a binary (H, W) mask with ``counts`` as str (JSON-serialisable).

    pycocotools wants Fortran-ordered uint8; its ``counts`` are bytes, which JSON cannot hold.
    """
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle
