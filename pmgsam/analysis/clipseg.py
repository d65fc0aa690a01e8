"""CLIPSeg as a semantic prior (Table 5), from a local model folder and a text prompt.

Needs the optional ``transformers`` package and a folder holding a CLIPSeg model and its
processor as ``save_pretrained`` writes them (for instance a local copy of
``CIDAS/clipseg-rd64-refined``); nothing is downloaded. The maps of one model folder and one
prompt have a folder of their own (:func:`clipseg_folder`), recorded in its ``clipseg.json``, so
that a later run with another prompt or model never takes them for its own; those of one split
are kept under the split's canonical name (:func:`clipseg_cache`), so that every spelling of the
same images (``DIS-TE``, ``DIS-TE1+DIS-TE2+DIS-TE3+DIS-TE4``) shares one cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from pmgsam.utils.cli import MissingDependencyError
from pmgsam.utils.io import write_text_atomic


class ClipSegUnavailable(MissingDependencyError):
    """transformers is missing or the local model folder cannot be loaded."""


RECORD = "clipseg.json"
logger = logging.getLogger(__name__)


def _identity(model_dir: Path, prompt: str) -> dict:
    """What makes a CLIPSeg map: the model folder (absolute) and the text prompt."""
    return {"model": str(Path(model_dir).resolve()), "prompt": prompt}


def clipseg_folder(root: Path, model_dir: Path, prompt: str) -> Path:
    """``root/<key>``, the folder of the maps of one model folder and one prompt; ``key`` is
    the first 12 hex digits of the SHA-256 of both (the folder's ``clipseg.json`` names them)."""
    text = json.dumps(_identity(model_dir, prompt), sort_keys=True)
    return Path(root) / hashlib.sha256(text.encode()).hexdigest()[:12]


def split_cache_name(split: str) -> str:
    """The name of ``split``'s CLIPSeg cache: its parts sorted, as the results of that set are
    named (:func:`~pmgsam.evaluation.combined.combined_name`: ``DIS-TE1-4`` for the four DIS
    test subsets, else ``A+B``), whichever spelling and order names the same parts."""
    from pmgsam.evaluation.combined import combined_name, split_parts

    return combined_name("+".join(sorted(split_parts(split))))


def clipseg_cache(priors: Path, split: str, model_dir: Path, prompt: str) -> Path:
    """The folder of the CLIPSeg maps of ``split``'s images for one model folder and prompt:
    ``priors/<split_cache_name>/<key>`` (:func:`clipseg_folder`). Where that folder does not
    exist but one under another name of the same parts does (an older pmgsam named the cache
    after ``--split`` as typed), that one is read and filled, so its maps are not predicted
    again."""
    from pmgsam.evaluation.combined import split_parts
    from pmgsam.evaluation.scoring import EvaluationInputError

    canonical = clipseg_folder(Path(priors) / split_cache_name(split), model_dir, prompt)
    if canonical.is_dir() or not Path(priors).is_dir():
        return canonical
    parts = sorted(split_parts(split))
    for named in sorted(p for p in Path(priors).iterdir() if p.is_dir()):
        try:
            same = sorted(split_parts(named.name)) == parts
        except EvaluationInputError:  # not a split's folder
            continue
        if same and (named / canonical.name).is_dir():
            logger.info(
                "CLIPSeg maps of %s: reading the cache '%s' (named as an older pmgsam named "
                "it, after --split as typed)",
                split,
                named / canonical.name,
            )
            return named / canonical.name
    return canonical


def _load(model_dir: Path):
    try:
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor
    except ImportError as err:
        raise ClipSegUnavailable(
            f"the CLIPSeg prior needs the 'transformers' package ({err}); install it with "
            "`pip install transformers`, or pass ready CLIPSeg maps with --prior-dir"
        ) from None
    if not Path(model_dir).is_dir():
        raise ClipSegUnavailable(f"--clipseg: '{model_dir}' is not a folder")
    try:
        processor = CLIPSegProcessor.from_pretrained(model_dir, local_files_only=True)
        model = CLIPSegForImageSegmentation.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ClipSegUnavailable(
            f"--clipseg: cannot load a CLIPSeg model from '{model_dir}': {err}"
        ) from None
    return processor, model.eval()


def clipseg_maps(
    model_dir: Path,
    prompt: str,
    image_paths: Sequence[Path],
    stems: Sequence[str],
    out_dir: Path,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Write CLIPSeg's probability map for ``prompt`` of every image as ``<stem>.png``.

    Maps are resized (bilinear) from CLIPSeg's output grid to each image's size; images whose
    map already exists are skipped, so an interrupted run continues (``progress``: a progress
    bar over the images predicted). ``out_dir`` records the
    model folder and prompt in ``clipseg.json``; a folder holding maps of another model or
    prompt (or of unrecorded ones) is refused, as its maps would pass for this prompt's.
    ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    """
    import cv2
    import torch
    from tqdm import tqdm

    from pmgsam.data import load_image
    from pmgsam.engine.inference import write_probability_png

    identity = _identity(model_dir, prompt)
    _check_record(out_dir, identity)
    todo = [(p, out_dir / f"{s}.png") for p, s in zip(image_paths, stems)]
    todo = [(p, target) for p, target in todo if not target.is_file()]
    if not todo:  # the model is not loaded for nothing
        return out_dir
    from pmgsam.engine.distributed import resolve_device

    device = resolve_device(device, option="--device")  # "auto" is no device to torch
    processor, model = _load(model_dir)
    model.to(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / RECORD, json.dumps(identity, indent=2) + "\n")
    for path, target in tqdm(todo, desc="CLIPSeg prior", unit="img", disable=not progress):
        image = load_image(path)
        inputs = processor(text=[prompt], images=[image], return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits
        prob = torch.sigmoid(logits.float()).reshape(logits.shape[-2:]).cpu().numpy()
        h, w = image.shape[:2]
        prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        write_probability_png(torch.from_numpy(prob), target)
    return out_dir


def _check_record(out_dir: Path, identity: dict) -> None:
    """Refuse ``out_dir`` when it holds maps that ``clipseg.json`` does not vouch for as the
    maps of ``identity`` (model folder and prompt)."""
    if not out_dir.is_dir() or not any(out_dir.glob("*.png")):
        return
    try:
        held = json.loads((out_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        held = None
    if held != identity:
        from pmgsam.evaluation.scoring import EvaluationInputError

        made = (
            f"model '{held.get('model')}' and prompt {held.get('prompt')!r}"
            if isinstance(held, dict)
            else f"an unrecorded model and prompt (no readable {RECORD})"
        )
        raise EvaluationInputError(
            f"'{out_dir}' holds CLIPSeg maps of {made}, not of model '{identity['model']}' "
            f"and prompt {identity['prompt']!r}: they would be scored as this prompt's. "
            "Choose another folder, or move those maps away"
        )
