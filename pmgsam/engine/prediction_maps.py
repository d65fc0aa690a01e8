"""The probability maps a prediction writes: ``<stem>.png`` at the image's size, 0–255 (the
foreground probability × 255 rounded, :func:`probability_levels`), the binary mask scoring reads
off such a map (:func:`binary_mask`), and the warning for maps that held NaN. The names stay
importable from :mod:`pmgsam.engine.predictor`.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator, List, Optional

import cv2
import numpy as np
import torch

from pmgsam.data.io import binarize
from pmgsam.utils.io import atomic_path
from pmgsam.utils.messages import preview


class NaNPredictionWarning(UserWarning):
    """A probability map held NaN, which :func:`write_probability_png` saves as 0; the message
    names the map and how many pixels."""


#: Pixels quantised at a time by :func:`probability_levels` (rows of the last two dimensions).
LEVEL_BAND_PIXELS = 1 << 20


def _levels(prob: torch.Tensor) -> torch.Tensor:
    # In place on one float32 copy, not one per step (four: 380 MB for a 24 MP map).
    levels = torch.nan_to_num(prob.float(), nan=0.0)
    return levels.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)


def probability_levels(prob: torch.Tensor) -> torch.Tensor:
    """The 0-255 levels (uint8, same device) that a [0, 1] probability map is saved as:
    ``prob × 255`` rounded half to even (as ``np.rint``), out-of-range values clamped, NaN
    as 0 (a NaN cast to uint8 is undefined in C++: 0 on x86 CPUs, not promised elsewhere)."""
    if prob.dim() < 2 or prob.numel() <= LEVEL_BAND_PIXELS or prob.device.type != "cpu":
        return _levels(prob)
    # On the CPU band by band: a float32 copy of a whole 24 MP map (92 MB) would set the
    # inference command's peak (BENCHMARKS.md, "Evaluation speed"). Each value's level is its
    # own. Not on a GPU, where that copy is nothing and 12-24 bands of five kernels each would
    # cost the host more launches per map than the rest of its writing.
    out = torch.empty(prob.shape, dtype=torch.uint8, device=prob.device)
    rows = max(1, LEVEL_BAND_PIXELS * prob.shape[-2] // prob.numel())
    for top in range(0, prob.shape[-2], rows):
        out[..., top : top + rows, :] = _levels(prob[..., top : top + rows, :])
    return out


def binary_mask(prob: torch.Tensor) -> torch.Tensor:
    """The foreground (bool, on the CPU) of a probability map as scoring reads it from the
    map :func:`write_probability_png` saves: level > 128 (:func:`pmgsam.data.io.binarize`,
    HCE's and the official DIS tools' rule). That is ``prob > 128.5 / 255``: for a probability
    in (0.5, 0.50392] the saved map holds 128, which is background there, so ``prob > 0.5``
    would call foreground what the scores count as background.

    Arguments:
      prob (torch.Tensor or numpy.ndarray): probabilities, floating point, in [0, 1]. Integer
        and bool maps are refused (TypeError), and so are values outside [0, 1] beyond
        rounding (ValueError: a 0-255 map, ``prob × 255``, or logits): clamped, every value
        above 0.504 would be foreground. A saved 0-255 map goes to
        :func:`pmgsam.data.io.binarize`. NaN is background, as in the saved map, with a
        :class:`NaNPredictionWarning`."""
    prob = torch.as_tensor(prob)
    if not prob.is_floating_point():
        raise TypeError(
            f"binary_mask takes floating-point probabilities in [0, 1], got {prob.dtype}; "
            "for a map of 0-255 levels (a saved PNG) use pmgsam.data.io.binarize"
        )
    _check_probabilities(prob)
    levels = probability_levels(prob).cpu().numpy()
    # binarize gives a NumPy scalar, not an array, for a single (0-d) probability.
    return torch.as_tensor(binarize(levels), dtype=torch.bool)


NAN_CAUSE = "the model failed there (an overflow under mixed precision, or weights holding NaN)"


#: How far outside [0, 1] :func:`binary_mask` lets values lie: rounding of an interpolated or
#: float16 map, far below a 0-255 map's or logits' range.
PROBABILITY_SLACK = 1e-3


def _check_probabilities(prob: torch.Tensor) -> None:
    if prob.numel() == 0:
        return
    low, high = torch.aminmax(prob)  # one pass; NaN if the map holds any
    nan = 0
    if torch.isnan(low) or torch.isnan(high):
        finite = prob[~torch.isnan(prob)]
        nan = prob.numel() - finite.numel()
        if not finite.numel():
            low = high = torch.tensor(0.0)
        else:
            low, high = torch.aminmax(finite)
    low, high = float(low), float(high)
    if low < -PROBABILITY_SLACK or high > 1 + PROBABILITY_SLACK:
        raise ValueError(
            f"binary_mask takes probabilities in [0, 1], got values in [{low:g}, {high:g}]: "
            "divide a 0-255 map by 255 (or give its uint8 levels to pmgsam.data.io.binarize), "
            "apply torch.sigmoid to logits, clamp(0, 1) a resampled map that overshoots"
        )
    if nan:
        warnings.warn(
            f"binary_mask: NaN at {nan} of the map's {prob.numel()} pixels, taken as "
            f"background (as the saved map holds them); {NAN_CAUSE}",
            NaNPredictionWarning,
            stacklevel=3,
        )


def write_probability_png(
    prob: torch.Tensor, path: Path, nan_maps: Optional[List[str]] = None
) -> None:
    """Save a [0, 1] probability map as an 8-bit grayscale PNG.

    The map may live on the GPU: un-padding, resizing to the original size (2K-4K for DIS) and
    quantising happen there, and only the 8-bit result crosses to the host. Written whole under
    a temporary name, then renamed: a killed run leaves no truncated map under the map's name.
    NaN probabilities are saved as 0 with a :class:`NaNPredictionWarning` naming the map, or,
    given ``nan_maps``, noted there for the caller's one warning. The two halves are
    :func:`host_levels` and :func:`save_levels_png` (:class:`~pmgsam.engine.map_writer.MapWriter`
    runs the second on its threads).
    """
    save_levels_png(host_levels(prob, path, nan_maps), path)


def host_levels(prob: torch.Tensor, path: Path, nan_maps: Optional[List[str]] = None) -> np.ndarray:
    """The 0-255 levels of ``prob`` (:func:`probability_levels`) as a host array, NaN
    accounted for as :func:`write_probability_png` says (``path`` names the map)."""
    arr = probability_levels(prob).cpu().numpy()
    # A NaN probability saves as 0: a model that failed would otherwise score as empty. The
    # levels' transfer has already waited for the device. A sum is NaN when a term is: only
    # then are the NaN counted (a full-size mask otherwise, 0.15 s on a 24 MP map).
    nan = int(torch.isnan(prob).sum()) if torch.isnan(prob.sum()) else 0
    note_nan_map(nan, prob.numel(), path, nan_maps, stacklevel=4)
    return arr


def note_nan_map(
    nan: int, pixels: int, path: Path, nan_maps: Optional[List[str]], stacklevel: int = 3
) -> None:
    """Note that the map written to ``path`` held ``nan`` NaN of its ``pixels`` (nothing when
    ``nan`` is 0): in ``nan_maps`` for the caller's one warning, else a warning of its own."""
    if nan and nan_maps is not None:
        nan_maps.append(f"'{path}' (NaN at {nan} of its {pixels} pixels)")
    elif nan:
        warnings.warn(
            f"prediction '{path}': the model gave NaN at {nan} of its {pixels} pixels, "
            f"saved as 0 (background); {NAN_CAUSE}",
            NaNPredictionWarning,
            stacklevel=stacklevel,
        )


def save_levels_png(levels: np.ndarray, path: Path) -> None:
    """Encode 0-255 ``levels`` (uint8, H × W) as a PNG and write it to ``path`` atomically
    (:func:`~pmgsam.utils.io.atomic_path`); an error names the map."""
    ok, png = cv2.imencode(".png", levels)
    if not ok:
        raise OSError(f"could not encode prediction '{path}' as PNG")
    try:
        # No folder fsync per map (about 10 ms each on ext4, against 1 ms for the write: 20 s
        # on a 2000-image split; nor is a map's data synced): the rename guards against kills;
        # after a power cut, re-running without --skip-existing predicts every map again.
        with atomic_path(path, sync=False) as tmp:
            tmp.write_bytes(png.tobytes())
    except OSError as err:
        raise OSError(f"could not write prediction '{path}': {err.strerror or err}") from err


@contextlib.contextmanager
def warn_nan_maps(nan_maps: List[str]) -> Iterator[None]:
    """One NaNPredictionWarning listing the maps ``nan_maps`` gathers meanwhile (also when the
    run stops early: the maps written stay)."""
    try:
        yield
    finally:
        if nan_maps:
            warnings.warn(
                f"{len(nan_maps)} map(s) held NaN probabilities, saved as 0 (background): "
                f"{preview(nan_maps, 5)}; {NAN_CAUSE}",
                NaNPredictionWarning,
                stacklevel=4,
            )
