"""CLIPSeg as a semantic prior (Table 5), from a local model folder and a text prompt.

Needs the optional ``transformers`` package and a folder holding a CLIPSeg model and its
processor as ``save_pretrained`` writes them (for instance a local copy of
``CIDAS/clipseg-rd64-refined``); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pmgsam.utils.cli import MissingDependencyError


class ClipSegUnavailable(MissingDependencyError):
    """transformers is missing or the local model folder cannot be loaded."""


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
) -> Path:
    """Write CLIPSeg's probability map for ``prompt`` of every image as ``<stem>.png``.

    Maps are resized (bilinear) from CLIPSeg's output grid to each image's size; images whose
    map already exists are skipped, so an interrupted run continues.
    """
    import cv2
    import torch

    from pmgsam.data import load_image
    from pmgsam.engine.inference import write_probability_png

    processor, model = _load(model_dir)
    model.to(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, stem in zip(image_paths, stems):
        target = out_dir / f"{stem}.png"
        if target.is_file():
            continue
        image = load_image(path)
        inputs = processor(text=[prompt], images=[image], return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits
        prob = torch.sigmoid(logits.float()).reshape(logits.shape[-2:]).cpu().numpy()
        h, w = image.shape[:2]
        prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        write_probability_png(torch.from_numpy(prob), target)
    return out_dir
