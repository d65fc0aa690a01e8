"""Pairing predicted maps with their GT masks by file stem, and checking their sizes.

Every GT needs a prediction and every prediction a GT; a map must be its GT's size unless the
caller resizes it (``resize_pred``), and a map whose size is its GT's turned by 90° is refused
either way. Kept apart from the pooled scoring of :mod:`pmgsam.evaluation.scoring`, which
the COS instance protocol, the analyses and the figures do not need.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from pmgsam.data.io import MASK_EXTENSIONS, DataError, list_files, other_files, read_size
from pmgsam.data.orientation import turned_by_90
from pmgsam.data.stem_affixes import added_to_stems, added_words
from pmgsam.utils.messages import preview

PathLike = Union[str, os.PathLike]
LIST_LIMIT = 20


class EvaluationInputError(DataError):
    """Predictions and ground truth do not line up (missing files, other sizes, unreadable)."""


def list_images(folder: PathLike, what: str = "prediction") -> Dict[str, Path]:
    """Map stem -> path for the mask/map files directly inside ``folder`` (hidden files skipped)."""
    try:
        return list_files(Path(folder), MASK_EXTENSIONS, what)
    except DataError as err:
        raise EvaluationInputError(str(err)) from err


def image_size(path: Path, what: str = "image") -> Tuple[int, int]:
    """(height, width) read from the file header; EvaluationInputError naming a bad file."""
    try:
        return read_size(path, what)
    except DataError as err:
        raise EvaluationInputError(str(err)) from err


def pair_folders(
    pred_dir: PathLike,
    gt_dir: PathLike,
    listed: Optional[Tuple[Dict[str, Path], Dict[str, Path]]] = None,
) -> List[Tuple[str, Path, Path]]:
    """(stem, prediction, GT) triples, raising :class:`EvaluationInputError` on missing files.

    Files of ``gt_dir`` in other formats than :data:`~pmgsam.data.io.MASK_EXTENSIONS` (a mask
    saved as ``.webp``, notes) are named in a warning: they are left out of the score.
    ``listed``: the folders' :func:`list_images` when the caller has them (else listed here)."""
    if listed is None:
        listed = list_images(pred_dir, "prediction"), list_images(gt_dir, "GT mask")
    preds, gts = listed
    if not gts:
        raise EvaluationInputError(f"no GT images in {gt_dir}")
    unread = other_files(gt_dir, MASK_EXTENSIONS)
    if unread:
        # A GT mask saved as .webp or .gif would drop its image from the score without a word.
        warnings.warn(
            f"{len(unread)} file(s) in the GT folder {gt_dir} are not GT masks pmgsam reads "
            f"({', '.join(MASK_EXTENSIONS)}) and are not scored: {preview(unread, LIST_LIMIT)}",
            stacklevel=2,
        )
    missing = sorted(s for s in gts if s not in preds)
    extra = sorted(s for s in preds if s not in gts)
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} GT image(s) in {gt_dir} have no prediction in {pred_dir}: "
            + preview([gts[s].name for s in missing], LIST_LIMIT)
        )
    if extra:
        problems.append(
            f"{len(extra)} prediction(s) in {pred_dir} have no GT in {gt_dir}: "
            + preview([preds[s].name for s in extra], LIST_LIMIT)
        )
    if problems:
        hint = pairing_hint(missing, extra, preds, pred_dir, gt_dir) if missing else ""
        raise EvaluationInputError("; ".join(problems) + hint)
    return [(s, preds[s], gts[s]) for s in sorted(gts)]


def pairing_hint(
    missing: Sequence[str],
    extra: Sequence[str],
    preds: Dict[str, Path],
    pred_dir: PathLike,
    gt_dir: PathLike,
) -> str:
    """What the unpaired names suggest went wrong: maps named ``<stem>_pred``, a folder of
    another split's maps, per-split subfolders, maps in a format that is not read."""
    added = added_to_stems(missing, extra) if extra else None
    if added is not None:
        pre, suf = added
        return (
            f". Every prediction is named as its GT with {added_words(pre, suf)} "
            f"its name (e.g. '{preds[pre + missing[0] + suf].name}' for '{missing[0]}'): maps "
            "pair with their GT by the file name without its extension (which may differ), so "
            "rename them to the GT's names"
        )
    # The other way round: GT masks of one's own named <stem>_mask, maps named <stem>.
    added = added_to_stems(extra, missing) if extra else None
    if added is not None:
        pre, suf = added
        return (
            f". Every GT is named as a prediction with {added_words(pre, suf)} "
            f"its name (e.g. GT '{pre + extra[0] + suf}' for '{preds[extra[0]].name}'): maps "
            "pair with their GT by the file name without its extension (which may differ), so "
            "rename the maps (or the GT masks) to match"
        )
    hints = []
    folder = Path(pred_dir)
    subfolders = sorted(
        c.name for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")
    )
    if subfolders:
        gt = Path(gt_dir).resolve()
        # DIS5K's <split>/gt, COD10K's <split>/GT_Object: the split is the GT folder's or its
        # parent's name.
        split = next(
            (
                c
                for c in subfolders
                if c.casefold() in {gt.name.casefold(), gt.parent.name.casefold()}
            ),
            None,
        )
        which = f", e.g. '{folder / split}'" if split else ""
        hints.append(
            f"The prediction folder holds subfolder(s) ({preview(subfolders, 5)}), which are "
            f"not read: give the one holding this GT's maps{which}"
        )
    unread = other_files(pred_dir, MASK_EXTENSIONS)
    if unread:
        hints.append(
            f"The prediction folder holds {len(unread)} file(s) in formats that are not read "
            f"({preview(unread, 5)}): save maps as {', '.join(MASK_EXTENSIONS)}"
        )
    if not hints and extra and len(extra) == len(preds):  # not one map paired
        hints.append(
            f"No prediction's name is a GT's: are the maps in {pred_dir} of another split or "
            f"dataset than the GT in {gt_dir}?"
        )
    return (". " + "; ".join(hints)) if hints else ""


# A map whose width and height are its GT's swapped is the other one's content turned by 90°:
# resizing would stretch it over the GT and score garbage without a word.
def quarter_turned(resize_option: str | None = "--resize-pred") -> str:
    """Why maps of their GT's size turned by 90° are refused; ``resize_option``: the tool's
    option that resizes maps to their GT (None: it has none, e.g. it always resizes)."""
    resizing = (
        f"{resize_option} would stretch them over the GT, so they are refused with it too"
        if resize_option
        else "resizing them to the GT's size would stretch them over it, so they are refused"
    )
    return (
        "prediction(s) are their GT's size turned by 90° (width and height swapped), so one side "
        f"was made on an EXIF-rotated view of the image; {resizing}: predict and annotate on the "
        "pixels as stored (pmgsam reads images so), or turn the maps back"
    )


def refuse_size_mismatches(
    turned: Sequence[str], other: Sequence[str], resize_option: str | None = "--resize-pred"
) -> None:
    """One error naming the maps whose size is their GT's turned by 90° (refused even with
    ``resize_option``), else those of another size (which ``resize_option`` would resize).
    ``resize_option``: the calling tool's option that resizes maps to their GT, named in the
    message; None for a tool without one (``pmgsam.ablate``, a baseline row)."""
    if turned:
        raise EvaluationInputError(
            f"{len(turned)} {quarter_turned(resize_option)}: " + preview(list(turned), LIST_LIMIT)
        )
    if other:
        advice = f" (pass {resize_option} to resize them to the GT size)" if resize_option else ""
        raise EvaluationInputError(
            f"{len(other)} prediction(s) differ in size from their GT{advice}: "
            + preview(list(other), LIST_LIMIT)
        )


def check_sizes(
    pairs: Sequence[Tuple[str, Path, Path]],
    resize_pred: bool = False,
    resize_option: str | None = "--resize-pred",
) -> List[int]:
    """Pixel count of each GT, read from the file headers (a bad header raises naming the file).

    Unless ``resize_pred``, raises listing every prediction whose size differs from its GT;
    the error names ``resize_option`` (:func:`refuse_size_mismatches`).
    """
    bad, turned, pixels = [], [], []
    for _, pred, gt in pairs:
        hp, hg = image_size(pred, "prediction"), image_size(gt, "GT mask")
        pixels.append(hg[0] * hg[1])
        if turned_by_90(hp, hg):
            turned.append(f"{pred.name} {hp[1]}x{hp[0]} vs GT {gt.name} {hg[1]}x{hg[0]}")
        elif hp != hg and not resize_pred:
            bad.append(f"{pred.name} {hp[1]}x{hp[0]} vs GT {gt.name} {hg[1]}x{hg[0]}")
    refuse_size_mismatches(turned, bad, resize_option)
    return pixels


def map_at_gt_size(
    pred: np.ndarray,
    gt: np.ndarray,
    pred_path: PathLike,
    gt_path: PathLike,
    resize_pred: bool,
    resize_option: str | None = "--resize-pred",
) -> np.ndarray:
    """``pred`` at the size of ``gt``: as it is when the sizes match, else resized bilinearly
    (as the DIS / SOD tools do) when ``resize_pred``. :class:`EvaluationInputError` naming
    ``pred_path`` and ``gt_path`` when the sizes differ without ``resize_pred``, and when
    ``pred`` is ``gt``'s size turned by 90° even with it (resizing would stretch it); that error
    names ``resize_option``, the caller's option setting ``resize_pred`` (None: it has none)."""
    if pred.shape == gt.shape:
        return pred
    if turned_by_90(pred.shape, gt.shape):
        why = quarter_turned(resize_option)
        raise EvaluationInputError(f"'{pred_path}': 1 {why} (GT '{gt_path}')")
    if not resize_pred:
        advice = f"; pass {resize_option} to resize it to the GT size" if resize_option else ""
        raise EvaluationInputError(
            f"{pred_path}: size {pred.shape} differs from GT {gt.shape} ('{gt_path}'{advice})"
        )
    import cv2

    return cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
