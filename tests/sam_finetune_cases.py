"""Plain helpers of the SAM fine-tuning tests (``test_sam_finetune*.py``; pytest's default
import mode puts tests/ on the path): the in-memory dataset :class:`ArrayDataset`, its image
pairs, and :func:`command`, the command line of a short fine-tuning run of a shrunk ViT-B."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import yaml

from pmgsam.baselines import sam

SIDE = 64


class ArrayDataset:
    """What PromptedImages reads of a SegmentationDataset: ``names`` and ``load(i)``."""

    def __init__(self, pairs: List[tuple]) -> None:
        self.pairs, self.names = pairs, [f"im{i}" for i in range(len(pairs))]

    def load(self, index: int) -> tuple:
        return self.pairs[index]


def pairs(count: int, empty: tuple = ()) -> List[tuple]:
    """48 x 80 images with a dark box each (none in the images ``empty``)."""
    rng = np.random.default_rng(3)
    made = []
    for i in range(count):
        image = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
        mask = np.zeros((48, 80), np.uint8)
        if i not in empty:
            mask[8 + 4 * i : 30, 30 : 70 - 5 * i] = 1
            image[mask == 1] //= 3  # a darker object: something to learn
        made.append((image, mask))
    return made


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def command(tmp: Path, data: Dict[str, Any], finetune: Optional[Dict[str, Any]] = None) -> tuple:
    """``(source, output, argv)``: a seeded ViT-B at SIDE px (shrink its encoder first:
    ``sam._ENCODERS``) saved in ``tmp``, and the argv of one epoch (``finetune`` values) of
    ``--limit 2`` images per split, batch 2, lr 1e-3, on the CPU, with the config ``data``."""
    torch.manual_seed(0)
    source = tmp / "sam_vit_b_small.pth"
    torch.save(sam.build("vit_b", SIDE).state_dict(), source)
    config = tmp / "ft.yaml"
    values = {"epochs": 1, "points": 3, **(finetune or {})}
    config.write_text(yaml.safe_dump({"data": data, "finetune": values}))
    out = tmp / "out" / "sam_vit_b_ft.pth"
    argv = ["--model-type", "vit_b", "--checkpoint", source, "--config", config, "--output", out]
    argv += ["--model-image-size", SIDE, "--lr", "1e-3", "--batch-size", "2", "--limit", "2"]
    argv += ["--device", "cpu", "--quiet"]
    return source, out, argv
