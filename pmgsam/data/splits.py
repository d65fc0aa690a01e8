"""Seeded, saved and re-validated splits.

A split carved from a pool of stems (NC4K ``train``/``test``, any ``X:train``/``X:val``) is drawn
once with a seeded permutation, written to a JSON file in the split directory and reused from
that file afterwards, so that training and later evaluation runs see exactly the same images even
if the file listing order or numpy's RNG changed in between. The file name carries the source,
fraction and seed (``nc4k__all__test0.2__seed0.json``), so changing any of them draws a new split
instead of silently reusing a stale one (COD10K with ``data.cam_only: false``, whose pool holds
the NonCAM images too, is ``cod10k-with-noncam__...``). A reused file is validated: every stem it
lists must still exist in the source pool, and its two parts must be disjoint.

Only commands that train save split files (:func:`read_only_splits` is off there). Evaluation
(``evaluate.py``'s benchmark and baseline modes, ablation scoring, the analyses) runs inside
:func:`read_only_splits`: it reads a saved file, and where none exists draws the same split in
memory without saving it, so a scoring run never writes into the dataset folder (one refused,
e.g. for a ``data.split_seed`` whose test split holds training images, leaves no split file of
that seed behind).

File format::

    {"dataset": "nc4k", "source": "all", "fraction": 0.2, "seed": 0,
     "parts": {"train": [...stems...], "test": [...stems...]}}
"""

from __future__ import annotations

import contextvars
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

from pmgsam.utils.io import read_user_text, write_text_atomic
from pmgsam.utils.messages import preview

from .config import DataConfig
from .io import DataError, natural_key

logger = logging.getLogger(__name__)

SPLIT_DIR_NAME = "pmgsam_splits"
# One command reads a split file several times (the trained-images check, each dataset built):
# its warning about images the file does not list is given once per file and image list.
_warned_unlisted: set = set()
CARVE_PARTS = ("train", "val")
_told_unsaved: set = set()
# Inside read_only_splits: why a split drawn in memory is not saved, as its info line says.
_READ_ONLY = contextvars.ContextVar("pmgsam_read_only_splits", default="")


@contextmanager
def read_only_splits(why: str = "only training saves split files") -> Iterator[None]:
    """Within it, a split without a saved file is drawn in memory and not saved (evaluation
    only reads split files: training saves them, and the draw is the same seeded one); an info
    line says so once per file, giving ``why`` as the reason."""
    token = _READ_ONLY.set(why)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def parse_split(name: str) -> Tuple[str, str | None]:
    """``"DIS-TR:val"`` -> ``("DIS-TR", "val")``; ``"DIS-TR"`` -> ``("DIS-TR", None)``."""
    base, sep, part = name.partition(":")
    if not sep:
        return name, None
    if part not in CARVE_PARTS or not base:
        raise DataError(f"split {name!r} must be '<split>', '<split>:train' or '<split>:val'")
    return base, part


def train_val_split_names(cfg: DataConfig) -> Tuple[str, str]:
    """(train, val) split names to use: the configured pair, or the carved ``X:train``/``X:val``."""
    if cfg.val_split is not None:
        return cfg.train_split, cfg.val_split
    base, part = parse_split(cfg.train_split)
    if part is not None:
        raise DataError(
            f"train_split {cfg.train_split!r} is already carved; set val_split explicitly"
        )
    return f"{base}:train", f"{base}:val"


def split_dir(cfg: DataConfig) -> Path:
    """Folder holding the split files: ``cfg.split_dir`` or ``<root>/pmgsam_splits``."""
    return Path(cfg.split_dir) if cfg.split_dir else Path(cfg.root) / SPLIT_DIR_NAME


def carve(stems: Sequence[str], fraction: float, seed: int) -> Tuple[List[str], List[str]]:
    """Seeded split of ``stems`` into (kept, held_out) with ``round(fraction * n)`` held out.

    Both parts are non-empty whenever there are at least two stems. Independent of input order.
    """
    pool = sorted(set(stems), key=natural_key)
    n = len(pool)
    if n < 2:
        raise DataError(f"cannot split {n} image(s) into two non-empty parts")
    n_held = min(n - 1, max(1, int(round(fraction * n))))
    order = np.random.default_rng(seed).permutation(n)
    held_idx = set(order[:n_held].tolist())
    kept = [s for i, s in enumerate(pool) if i not in held_idx]
    held = [s for i, s in enumerate(pool) if i in held_idx]
    return kept, held


def split_file(
    folder: Path, dataset: str, source: str, held_name: str, fraction: float, seed: int
) -> Path:
    """Path of the split file for one carving (source may contain characters unsafe in paths:
    :func:`split_file_source`)."""
    safe = split_file_source(source)
    return folder / f"{dataset}__{safe}__{held_name}{fraction:g}__seed{seed}.json"


def split_file_source(source: str) -> str:
    """``source`` as split file names carry it: each character unsafe in paths becomes '_'
    (so ``a b`` and ``a_b`` share one: :func:`pmgsam.data.layouts.list_split` refuses that)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in source)


def load_or_create(
    path: Path,
    stems: Sequence[str],
    parts: Tuple[str, str],
    fraction: float,
    seed: int,
    dataset: str,
    source: str,
) -> Dict[str, List[str]]:
    """Read the split in ``path`` (validated against ``stems``) or draw it and save it there
    (inside :func:`read_only_splits`: draw it only).

    ``parts`` names the (kept, held-out) parts, e.g. ``("train", "val")``.
    """
    available = set(stems)
    if path.is_file():
        return _read_split(path, available, parts)
    kept, held = carve(stems, fraction, seed)
    why = _READ_ONLY.get()
    if why:
        if str(path) not in _told_unsaved:  # once, however often the command lists the split
            _told_unsaved.add(str(path))
            logger.info(
                "split file '%s' does not exist: %s/%s drawn with seed %d in memory, not "
                "saved (%s)", path, *parts, seed, why
            )  # fmt: skip
        return {parts[0]: kept, parts[1]: held}
    payload = {
        "dataset": dataset,
        "source": source,
        "fraction": fraction,
        "seed": seed,
        "parts": {parts[0]: kept, parts[1]: held},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a concurrent reader (another DataLoader/run) never sees half a
        # file; the temporary's name is unique, so it never replaces a file of the user's.
        write_text_atomic(path, json.dumps(payload, indent=1))
    except OSError as err:
        raise DataError(
            f"cannot save split file '{path}' ({err}); set data.split_dir to a writable folder"
        ) from err
    return {parts[0]: kept, parts[1]: held}


def _read_split(path: Path, available: set, parts: Tuple[str, str]) -> Dict[str, List[str]]:
    try:
        payload = json.loads(read_user_text(path))
        lists = payload["parts"]
        out = {p: [str(s) for s in lists[p]] for p in parts}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"split file '{path}' is unreadable or lacks parts {list(parts)} ({err!r}); "
            "delete it to draw the split again"
        ) from err
    for part, names in out.items():
        missing = [s for s in names if s not in available]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(
                f"split file '{path}' lists {len(missing)} '{part}' image(s) that no longer exist "
                f"in the dataset: {shown}; restore them or delete the split file"
            )
    overlap = set(out[parts[0]]) & set(out[parts[1]])
    if overlap:
        raise DataError(
            f"split file '{path}': {len(overlap)} image(s) are in both '{parts[0]}' and "
            f"'{parts[1]}' (e.g. {sorted(overlap)[0]!r})"
        )
    unlisted = sorted(available - set(out[parts[0]]) - set(out[parts[1]]), key=natural_key)
    key = (str(path.resolve()), tuple(unlisted))
    if unlisted and key not in _warned_unlisted:
        _warned_unlisted.add(key)
        logger.warning(
            "split file '%s' does not list %d image(s) present in the dataset (%s): they are "
            "left out of both parts. Delete the file to draw the split again with them (a new "
            "split: runs trained on the old one are no longer comparable)",
            path,
            len(unlisted),
            preview(unlisted, 5),
        )
    return out
