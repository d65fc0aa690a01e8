"""Telling a folder of photos from a folder of probability maps before it is scored.

A saliency / camouflage map is one channel (grey levels, however it is saved: an 8-bit PNG, or
an RGB file whose three channels are equal). Scoring reads an RGB file as the maximum of its
channels, so an image folder given as the prediction folder (``--pred-dir Imgs/``) would be
scored as if it held maps: AP 0, DIS scores of garbage, and no word about it. A few files are
enough to tell: a map folder is refused only when a file reads as colour, or holds strongly
coloured pixels on a small share of it (each instance its own colour on black: read by its
brightest channel, touching instances would become one). The GT folder of DIS
scoring (``--gt-dir DIS-TE1/im`` for ``DIS-TE1/gt``) is refused likewise when a file is a colour
photo; a GT mask saved in one colour (few colours in all) still reads as a mask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from pmgsam.data.mask_warnings import COLOUR_SPREAD
from pmgsam.utils.command_names import command_name

from .map_pairs import EvaluationInputError

PathLike = Union[str, os.PathLike]
# Files looked at (the first ones by name): decoding a few costs little even at 4K.
FILES_CHECKED = 3
# Modes that hold one grey channel (and alpha): never colour, known from the header alone.
GREY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


def _rgb(path: Path) -> Optional[np.ndarray]:
    """``path`` as int16 RGB (a JPEG at a reduced size); an empty array for a grey file (known
    from its header); ``None`` when PIL cannot open it (scoring then names the file itself)."""
    try:
        with Image.open(path) as img:
            if img.mode in GREY_MODES:
                return np.zeros((0, 0, 3), np.int16)
            img.draft("RGB", (512, 512))  # JPEG: decode at a reduced size, enough to tell
            return np.asarray(img.convert("RGB"), dtype=np.int16)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def _spread(rgb: np.ndarray) -> float:
    """The mean difference between a pixel's brightest and darkest channel (0 when empty)."""
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean()) if rgb.size else 0.0


# A pixel whose channels differ by more than this is coloured whatever the encoding (a grey map
# saved as JPEG differs by a level or two); an instance-coloured map on a black background
# (a red, a green and a blue instance) has such pixels on a small share of its area only, below
# the mean spread a colour picture has: that share of the map's pixels makes it colour too.
STRONG_COLOUR = 64
STRONG_COLOUR_SHARE = 0.002
# Distinct colours up to which a colour map is one colour per instance, not a photo or a
# colour-mapped (jet) probability map, which hold hundreds.
INSTANCE_COLOURS = 64


def _colour_count(rgb: np.ndarray) -> int:
    # In int32: int16 green << 8 wraps, and its sign bits would hide red.
    r, g, b = (rgb[..., c].astype(np.int32) for c in range(3))
    return len(np.unique((r << 16) | (g << 8) | b))


def refuse_colour_images(maps: Iterable[Path], folder: PathLike) -> None:
    """:class:`~pmgsam.evaluation.map_pairs.EvaluationInputError` naming ``folder`` when one of
    the first :data:`FILES_CHECKED` of ``maps`` (by name) is a colour picture, not a map: the
    dataset's image folder, colour-mapped maps, or maps that give each instance its own colour
    (read by their brightest channel, touching instances would become one)."""
    for path in sorted(maps, key=lambda p: p.name)[:FILES_CHECKED]:
        rgb = _rgb(path)
        if rgb is None or not rgb.size:
            continue
        spread = _spread(rgb)
        strong = float(((rgb.max(axis=2) - rgb.min(axis=2)) > STRONG_COLOUR).mean())
        if spread <= COLOUR_SPREAD and strong < STRONG_COLOUR_SHARE:
            continue
        colours = _colour_count(rgb)
        # Instances in colours on a black background (the first colour of a label palette).
        if 2 <= colours <= INSTANCE_COLOURS and bool((rgb.max(axis=2) == 0).any()):
            raise EvaluationInputError(
                f"the prediction folder '{folder}' holds colour maps, not grey probability "
                f"maps: {path.name} has {colours} colours ({strong:.1%} of its pixels "
                "coloured), as a map giving each instance its own colour has. Scoring reads "
                "one grey map per image (COS instances are its connected components above "
                "--threshold): save each map as grey (e.g. 255 on every instance), where "
                "touching instances become one, or each instance's probability"
            )
        raise EvaluationInputError(
            f"the prediction folder '{folder}' holds colour images, not probability maps: "
            f"the red, green and blue channels of {path.name} differ (by {spread:.0f} of "
            "255 on average), while a map is grey. Give the folder of predicted maps "
            f"({command_name('evaluate')} benchmark mode writes them to "
            "<output-dir>/pred/<split>), not the dataset's image folder"
        )


# A colour mask (a red object on black, antialiased) holds a few hundred colours at most; a
# photo holds tens of thousands, about one per pixel or more.
PHOTO_COLOURS = 4096


def refuse_photo_gt(masks: Iterable[Path], folder: PathLike) -> None:
    """:class:`~pmgsam.evaluation.map_pairs.EvaluationInputError` naming ``folder`` when one of
    the first :data:`FILES_CHECKED` GT files (by name) is a colour photo (many colours, unequal
    channels): the dataset's image folder given as the GT folder (``DIS-TE1/im`` for
    ``DIS-TE1/gt``), which scoring would read by each pixel's brightest channel. A GT mask saved
    in one colour still reads as a mask."""
    for path in sorted(masks, key=lambda p: p.name)[:FILES_CHECKED]:
        rgb = _rgb(path)
        # Grey (or unreadable) files are masks as far as this check goes: no colours counted.
        if rgb is None or _spread(rgb) <= COLOUR_SPREAD:
            continue
        colours = _colour_count(rgb)
        # A small photo has fewer pixels than PHOTO_COLOURS, but still about one colour each.
        if colours > min(PHOTO_COLOURS, rgb.shape[0] * rgb.shape[1] // 8):
            raise EvaluationInputError(
                f"the GT folder '{folder}' holds colour photos, not masks: {path.name} has "
                f"{colours} colours and unequal red, green and blue channels. "
                "Give the folder of GT masks (DIS5K: <split>/gt, COD10K-v3: <split>/GT_Object, "
                "NC4K: GT), not the dataset's image folder"
            )
