"""What ``python -m pmgsam.baselines.finetune_sam`` reads and writes besides the recipe: the
prompted images, the record beside ``--output`` and the checks of ``--output``. The image
embeddings are cached by :mod:`pmgsam.baselines.finetune_cache`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from pmgsam.baselines.finetune_recipe import Sample, image_key, prepare
from pmgsam.baselines.finetune_targets import sample_instance_points, sample_points
from pmgsam.utils.io import file_sha256
from pmgsam.utils.outputs import OutputError, check_output_file

logger = logging.getLogger("pmgsam.baselines.finetune_sam")
SIDECAR_SUFFIX = ".finetune.json"
RECORD_FORMAT = "pmgsam-sam-finetune"


def sidecar_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.stem + SIDECAR_SUFFIX)


def finetune_record(
    checkpoint: str | Path, sha256: Optional[str] = None
) -> Optional[Dict[str, Any]]:
    """The ``<stem>.finetune.json`` record written beside a fine-tuned ``checkpoint``, or None
    when there is none. A record that is unreadable, of another ``format`` (another tool's, or
    another pmgsam version's), or whose ``output_sha256`` is not the file's (the weights were
    replaced after fine-tuning) is ignored with a warning naming why.
    ``sha256``: the checkpoint's SHA-256 when the caller has it (else the file is hashed)."""
    path = sidecar_path(checkpoint)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("ignoring '%s': not a readable fine-tuning record (%s)", path, err)
        return None
    if not isinstance(record, dict):
        logger.warning("ignoring '%s': not a fine-tuning record (JSON, but not an object)", path)
        return None
    if record.get("format") != RECORD_FORMAT:  # named, as an unreadable record is
        logger.warning(
            "ignoring '%s': not a fine-tuning record of this pmgsam (format %r, not %r); the row "
            "is named as an untuned model's",
            path,
            record.get("format"),
            RECORD_FORMAT,
        )
        return None
    if record.get("output_sha256") != (sha256 or file_sha256(checkpoint)):
        logger.warning(
            "ignoring '%s': it records the fine-tuning of another file (SHA-256 differs from "
            "'%s'); the row is named as an untuned model's",
            path,
            checkpoint,
        )
        return None
    return record


def check_outputs(output: str | Path, checkpoint: str | Path, overwrite: bool) -> None:
    """Refuse, before any work, an ``--output`` that is the input checkpoint (``--overwrite``
    included), or that exists (or whose sidecar exists) without ``--overwrite``."""
    paths = (Path(output), sidecar_path(output))
    source = Path(checkpoint)
    for path in paths:
        check_output_file(path, "--output")
        same = path.resolve() == source.resolve() or (
            path.exists() and source.exists() and os.path.samefile(path, source)
        )
        if same:
            raise OutputError(
                f"--output '{output}' would replace the input --checkpoint '{checkpoint}' "
                f"('{path}'); write the fine-tuned weights to another file"
            )
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputError(
            f"--output: {', '.join(existing)} already exist(s); pass --overwrite to replace"
        )


class PromptedImages(torch.utils.data.Dataset):
    """Items ``(name, Sample or None)`` of ``dataset`` images ``indices`` in that order; None
    for an image without GT foreground (no point can be sampled). A sample of an image whose
    binary GT is empty (possible with ``instances``) is marked ``gt_empty``.

    Arguments:
        dataset: a split's dataset (``load(index)`` -> RGB image and binary (H, W) GT;
            ``names``), built without augmentation.
        indices: the dataset indices of the items, in item order.
        side: SAM's input side in pixels (the longest image side is resized to it).
        points: single positive point prompts drawn per image.
        seed: the points of image ``i`` are drawn from ``numpy.random.default_rng([*seed,
            i])``, so an image gets the same points whatever its position.
        keyed: give each sample its :func:`image_key` (what a cache looks embeddings up by).
        instances: ``finetune_targets.InstanceMasks`` (image index, (H, W) -> (T, H, W) masks);
            when given the targets are the instances, each point's the one containing it,
            and an image without any is None. ``None``: the binary GT is the target.
    """

    def __init__(
        self,
        dataset: Any,
        indices: Sequence[int],
        side: int,
        points: int,
        seed: Sequence[int],
        keyed: bool = False,
        instances: Optional[Callable[[int, Tuple[int, int]], np.ndarray]] = None,
    ) -> None:
        self.dataset, self.indices, self.side = dataset, list(indices), side
        self.points, self.seed, self.keyed = points, list(seed), keyed
        self.instances = instances

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tuple[str, Optional[Sample]]:
        index = self.indices[i]
        image, mask = self.dataset.load(index)
        rng = np.random.default_rng([*self.seed, index])
        name, owner, gt_empty = self.dataset.names[index], None, False
        if self.instances is None:
            points = sample_points(mask, self.points, rng)
        else:
            gt_empty = not mask.any()
            mask = self.instances(index, mask.shape)
            drawn = sample_instance_points(mask, self.points, rng)
            points, owner = drawn if drawn is not None else (None, None)
        if points is None:
            return name, None
        sample = prepare(image, mask, points, self.side, owner)
        sample.gt_empty = gt_empty
        if self.keyed:
            sample.key = image_key(sample.image)
        return name, sample
