"""Grey image reads and PNG writes for the benchmark scripts that time older checkouts.

Not cv2.imread/imwrite, which crash (segfault) on a str path that is not UTF-8 (``--keep``
names the folder); nor pmgsam's own, which an older checkout under ``PYTHONPATH`` may lack.
Imported by its siblings as ``png_files`` (a script's own folder is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_gray(path: Path) -> np.ndarray:
    """``path`` decoded as one grey channel; OSError naming it when it is no image."""
    gray = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise OSError(f"could not read '{path}' as an image")
    return gray


def write_png(path: Path, arr: np.ndarray) -> None:
    """``arr`` written to ``path`` as PNG; OSError naming it when it cannot be encoded."""
    ok, png = cv2.imencode(".png", arr)
    if not ok:
        raise OSError(f"could not encode '{path}' as PNG")
    path.write_bytes(png.tobytes())
