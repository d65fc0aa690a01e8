"""The warnings the mask and map readers give (:class:`MaskValueWarning`), and how DataLoader
workers give them: each file named once per run, at most :data:`NAMED_MASK_FILES` files, in the
command's one-line format.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Callable, Union

import numpy as np

from pmgsam.utils.cli import one_line_warning
from pmgsam.utils.messages import FilesNamedOnce, in_dataloader_worker

PathLike = Union[str, Path]


class MaskValueWarning(UserWarning):
    """A mask (or image) was read under a rule that may not be what its author meant (a 0/1 or
    0/v label mask read as 0/255, a GT mask of several values none above 128 read as empty, a
    prediction holding only 0 and 1, a 16-bit map that never exceeds 255 (an image, 4095), a
    float map of logits or holding NaN / inf, a cut-out whose alpha is not its colour's shape, a
    palette mask whose foreground only outlines dark labels, a multi-page TIFF read as its first
    page); the message names the file."""


NAMED_MASK_FILES = 5  # files a run names in MaskValueWarnings from DataLoader workers


_NAMED = FilesNamedOnce()  # made at import, before any DataLoader worker is forked


def worker_warnings_init() -> Callable[[int], None]:
    """A DataLoader ``worker_init_fn``: its workers warn as this process does.

    * They share this run's named files: forked workers share them anyway; workers started by
      ``spawn`` or ``forkserver`` receive the state with this function and adopt it, so they
      too name each file once per run.
    * Made while a command runs (:func:`pmgsam.utils.cli.run_cli`), its workers print warnings
      in the command's one-line format: forked workers inherit it, spawned ones would start
      with Python's (file, line number and source line). Made outside one, they keep Python's.
    """
    one_line = warnings.formatwarning is one_line_warning
    return functools.partial(_init_worker_warnings, _NAMED, one_line)


def _init_worker_warnings(named: FilesNamedOnce, one_line: bool, worker_id: int) -> None:
    global _NAMED
    if named.inherited:
        _NAMED = named
    if one_line:
        warnings.formatwarning = one_line_warning


# Mean spread between a pixel's largest and smallest channel (0-255) above which a file is a
# colour picture. A grey map saved as RGB has 0 (JPEG chroma rounding adds a level or two);
# photos and colour-mapped (jet) maps have tens.
COLOUR_SPREAD = 8.0


def _warn_colour_prediction(colour: np.ndarray, path: PathLike, what: str) -> None:
    """Warn when a prediction (a grey map) is a colour picture: its brightest channel, which
    scoring reads, is not its probability (a colour-mapped map, a photo)."""
    spread = float((colour.max(axis=2).astype(np.int16) - colour.min(axis=2)).mean())
    if spread > COLOUR_SPREAD:
        _warn_mask(
            f"{what} file '{path}' is a colour image (its red, green and blue differ by "
            f"{spread:.0f} of 255 on average): read as its brightest channel, which is not a "
            "probability if it is colour-mapped (e.g. jet) or a photo; save maps as grey",
            path,
        )


# Overlap (IoU) of the foregrounds read from a file's colour and from its alpha below which the
# two readings are different shapes: antialiased edges keep it near 1, a cut-out (a photo's
# object kept, the rest transparent) or a mask on a transparent canvas far below.
ALPHA_AGREEMENT = 0.5


def _warn_alpha_disagrees(
    colour_read: np.ndarray, alpha: np.ndarray, path: PathLike, what: str
) -> bool:
    """Warn when a file with transparency shows another shape in its alpha than in its
    colour, which is what is read (a cut-out's object is its alpha, its colour a photo);
    returns whether it warned."""
    if alpha.min() == 255:
        return False
    # Half the alpha's top: a 40%-opaque overlay (alpha 0/100) marks its shape as well.
    by_colour, by_alpha = colour_read > 128, alpha > int(alpha.max()) // 2
    union = int(np.count_nonzero(by_colour | by_alpha))
    iou = np.count_nonzero(by_colour & by_alpha) / union if union else 1.0
    if iou >= ALPHA_AGREEMENT:
        return False
    _warn_mask(
        f"{what} file '{path}' has transparency whose shape is not its colour's (IoU "
        f"{iou:.2f}): read by its brightest channel ({by_colour.mean():.0%} foreground), where "
        f"its alpha would give {by_alpha.mean():.0%}; if it is a cut-out (the object kept, "
        "the rest transparent), save its alpha channel as the mask",
        path,
    )
    return True


# Share of the dark labels' edge pixels that must touch the foreground (> 128) for it to be a
# boundary around them: VOC draws its boundary around every object, so nearly all do; a
# trimap's band or a quantised blur touches the foreground on its inner side only.
BOUNDARY_AROUND = 0.8


def _erode(mask: np.ndarray) -> np.ndarray:
    """3x3 erosion; the image border extends the mask (an object cut by it has no edge there)."""
    padded = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    out = mask.copy()
    for dy in range(3):
        for dx in range(3):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


def _warn_dark_labels_in_boundary(raw: np.ndarray, path: PathLike, what: str) -> None:
    """Warn when a palette GT mask's foreground (> 128) is only a boundary drawn around larger
    regions of dark labels (1-128, read as background): a VOC-style class mask, whose object
    colours (dark red 128...) are dark and whose boundary colour (224) is bright, reads as its
    boundary alone."""
    fg = raw > 128
    dark = (raw > 0) & ~fg
    n_fg = int(np.count_nonzero(fg))
    if not n_fg or not dark.any():
        return
    core = _erode(dark)
    # No larger region of them: antialiased edges (thin lines' too), small dark labels.
    if np.count_nonzero(core) <= n_fg:
        return
    edge = dark & ~core
    touching = np.count_nonzero(edge & ~_erode(~fg)) / max(int(np.count_nonzero(edge)), 1)
    if touching < BOUNDARY_AROUND:
        return
    _warn_mask(
        f"{what} file '{path}' is a palette mask whose foreground (> 128, {fg.mean():.1%} of "
        f"its pixels) only outlines dark labels (values {int(raw[dark].min())}-"
        f"{int(raw[dark].max())}, {dark.mean():.1%} of its pixels, read as background): if it is a "
        "VOC-style class mask (dark object colours, a bright boundary), save its objects as "
        "255 and the rest as 0",
        path,
    )


def _warn_mask(message: str, path: PathLike) -> None:
    """A MaskValueWarning about ``path`` for load_mask's caller; once per run in workers."""
    if in_dataloader_worker():
        before = _NAMED.first(str(path))
        if before is None or before >= NAMED_MASK_FILES:
            return
        if before == NAMED_MASK_FILES - 1:
            message += (
                f" [file {before + 1} of this run with such values: any later ones are read "
                "the same way without a warning]"
            )
    warnings.warn(message, MaskValueWarning, stacklevel=3)
