"""EXIF orientation: pmgsam reads pixels as stored, and says so where that can bite.

Photo viewers turn or flip an image whose EXIF orientation tag is 2-8 before showing it; the
official DIS and COD loaders (and pmgsam's) do not. A mask or map drawn on the displayed view of
such a photo then does not fit the stored pixels: its width and height are swapped for a quarter
turn (caught with an explanation), and nothing shows for a square image (warned about).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple

from PIL import Image, UnidentifiedImageError

from .io import PathLike

# EXIF orientations that viewers apply by turning the image a quarter turn (W and H swap).
EXIF_QUARTER_TURNS = (5, 6, 7, 8)
EXIF_ADVICE = (
    "pmgsam reads pixels as stored and ignores EXIF orientation, as the official DIS and COD "
    "loaders do; save such images with the rotation applied (PIL ImageOps.exif_transpose, "
    "`exiftran -ai`, `mogrify -auto-orient`)"
)


def exif_orientation(path: PathLike) -> int:
    """The EXIF orientation tag of an image file (1, as stored, when absent or unreadable);
    2-8 ask viewers to flip or turn the stored pixels for display."""
    try:
        with Image.open(path) as img:
            value = img.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,  # reading the pixels names the file and says why
        OSError,
        SyntaxError,
        ValueError,
        TypeError,
    ):
        return 1


def turned_by_90(got_hw: Sequence[int], want_hw: Sequence[int]) -> bool:
    """Whether an (H, W) size is another one's with height and width swapped (not square)."""
    got, want = tuple(got_hw), tuple(want_hw)
    return got != want and got == want[::-1]


def quarter_turn_hint(image: PathLike, got_hw: Tuple[int, int], image_hw: Tuple[int, int]) -> str:
    """``"; <why>"`` when a mask or map of ``got_hw`` is ``image``'s size turned by 90° and the
    image carries a quarter-turn EXIF orientation (so it was drawn on the displayed view)."""
    if not turned_by_90(got_hw, image_hw):
        return ""
    orientation = exif_orientation(image)
    if orientation not in EXIF_QUARTER_TURNS:
        return ""
    return (
        f"; '{Path(image).name}' carries EXIF orientation {orientation} (shown turned by 90°), "
        f"so this file was made on the displayed view: {EXIF_ADVICE}"
    )
