"""The interface every baseline implements, and the prompts/reductions they share.

A *family* module (``sam.py``, ``sam2.py``) knows how to load its model strictly and how to wrap it
in its package's point/box predictor and automatic mask generator (:class:`Family`). A *mode*
(:class:`BoxBaseline`, :class:`AutoBaseline`, ``esam.EsamBaseline``) turns one image (and, for box
prompts, its GT boxes) into a :class:`Prediction`; the runner turns predictions into DIS maps or
COCO instances. A new family is one file with the four :class:`Family` functions, registered in
``FAMILY_MODULES`` and ``settings.MODEL_TYPES``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, cast

import numpy as np
import torch

from pmgsam.baselines.settings import REDUCTIONS

# Family name -> module; imported only when asked for, so an optional package (sam2) is only
# needed by those who use it.
FAMILY_MODULES = {"sam": "pmgsam.baselines.sam", "sam2": "pmgsam.baselines.sam2"}


class Family(Protocol):
    """What a family module provides (module-level names)."""

    def label(self, model_type: str) -> str: ...  # table row prefix, e.g. "SAM ViT-B"

    def load(
        self, model_type: str, checkpoint: str, device: Any, image_size: Optional[int]
    ) -> torch.nn.Module: ...

    def predictor(self, model: torch.nn.Module) -> Any: ...

    def generator(self, model: torch.nn.Module, settings: Mapping[str, Any]) -> Any: ...


def family(name: str) -> Family:
    """The family module ``name`` (``sam`` or ``sam2``); its import errors say how to install it."""
    if name not in FAMILY_MODULES:
        raise ValueError(f"unknown baseline family {name!r}; choose from {sorted(FAMILY_MODULES)}")
    return cast(Family, importlib.import_module(FAMILY_MODULES[name]))


@dataclass
class Prediction:
    """What a baseline returns for one image.

    Arguments:
        masks: (H, W) float32 maps in [0, 1] at the original image size: a probability map
            (box prompts) or a binary mask (automatic modes); one per box, or one per entity.
        scores: a confidence per mask (the model's predicted IoU), used as the COCO score.
    """

    masks: List[np.ndarray] = field(default_factory=list)
    scores: List[float] = field(default_factory=list)


class Baseline(ABC):
    """One baseline row: a loaded model used in one prompting mode.

    Arguments:
        family_name: ``sam`` or ``sam2``.
        model_type: the family's model type (``vit_b``, ``tiny``, ...).
        model: the loaded model (its parameters are counted for the efficiency block).
    """

    prompt = "auto"  # "box" when the runner must pass GT boxes
    mode = "auto"
    fine_tuned = False  # set for weights written by pmgsam.baselines.finetune_sam
    finetune_limit: Optional[int] = None  # its --limit, when it saw only part of its splits

    def __init__(self, family_name: str, model_type: str, model: torch.nn.Module) -> None:
        self.family_name, self.model_type, self.model = family_name, model_type, model
        self.family = family(family_name)

    @property
    def label(self) -> str:
        """Model part of the table row, e.g. ``SAM ViT-B``, ``SAM2.1 tiny``, ``SAM ViT-H
        fine-tuned`` or, fine-tuned with ``--limit 8``, ``SAM ViT-H fine-tuned on a subset
        (--limit 8)``: a quick look must not pass for the fine-tuned baseline."""
        if not self.fine_tuned:
            return self.family.label(self.model_type)
        subset = (
            "" if self.finetune_limit is None else f" on a subset (--limit {self.finetune_limit})"
        )
        return f"{self.family.label(self.model_type)} fine-tuned{subset}"

    @abstractmethod
    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        """Masks of one RGB uint8 (H, W, 3) image; ``boxes`` (N, 4) XYXY for box prompts."""

    def meta(self) -> Dict[str, Any]:
        """Settings recorded in run.json ``meta``."""
        return {"family": self.family_name, "model_type": self.model_type, "mode": self.mode}


class BoxBaseline(Baseline):
    """One box prompt per box, ``multimask_output=False``; maps are sigmoid(logits).

    Arguments:
        family_name: ``sam`` or ``sam2``.
        model_type: the family's model type (``vit_b``, ``tiny``, ...).
        model: the loaded model, wrapped in the family's point/box predictor.
    """

    prompt = "box"
    mode = "box"

    def __init__(self, family_name: str, model_type: str, model: torch.nn.Module) -> None:
        super().__init__(family_name, model_type, model)
        self.predictor = self.family.predictor(model)

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        if boxes is None or len(boxes) == 0:
            return Prediction()
        self.predictor.set_image(image)
        out = Prediction()
        for box in boxes:
            logits, iou, _ = self.predictor.predict(
                box=np.asarray(box), multimask_output=False, return_logits=True
            )
            out.masks.append(torch.sigmoid(torch.as_tensor(logits[0]).float()).numpy())
            out.scores.append(float(iou[0]))
        return out


class AutoBaseline(Baseline):
    """The family's automatic mask generator ("segment everything").

    Arguments:
        settings: generator keyword arguments; those not given keep the package's defaults.
    """

    def __init__(
        self,
        family_name: str,
        model_type: str,
        model: torch.nn.Module,
        settings: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(family_name, model_type, model)
        self.settings = dict(settings or {})
        self.generator = self.family.generator(model, self.settings)

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        records = self.generator.generate(image)
        return Prediction(
            [r["segmentation"].astype(np.float32) for r in records],
            [float(r["predicted_iou"]) for r in records],
        )

    def meta(self) -> Dict[str, Any]:
        return {**super().meta(), "auto_settings": self.settings or "package defaults"}


def gt_box(mask: np.ndarray) -> Optional[np.ndarray]:
    """Tight XYXY box (inclusive pixel indices) of a binary mask; ``None`` when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def instance_boxes(coco: Any, image_id: int) -> Tuple[np.ndarray, int]:
    """(N, 4) tight XYXY boxes of the GT instance masks of one image, and how many were empty.

    ``coco`` is a ``pycocotools.coco.COCO``. Boxes come from the decoded instance masks (not the
    ``bbox`` field) so they follow the same convention as :func:`gt_box` for DIS. Crowd regions
    (``iscrowd`` 1) get no box: they are no instance to find (COCOeval ignores a mask matching
    one), and their mask would only add to the image's map.
    """
    boxes, empty = [], 0
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])):
        if ann.get("iscrowd", 0):  # COCOeval's test: a missing key is not a crowd
            continue
        box = gt_box(coco.annToMask(ann))
        if box is None:
            empty += 1
        else:
            boxes.append(box)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), empty


def reduce_masks(
    masks: Sequence[np.ndarray], how: str, shape: Sequence[int], gt: Optional[np.ndarray] = None
) -> np.ndarray:
    """One boolean (H, W) map from generated masks; no mask -> all False.

    ``union``: all masks; ``largest``: the mask with most pixels; ``oracle``: the mask with the
    highest IoU against ``gt`` (empty when none overlaps) - an ORACLE UPPER BOUND, it reads the
    GT. Ties (equal area or IoU) go to the earliest mask.
    """
    if how not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {how!r}")
    out = np.zeros(tuple(shape), dtype=bool)
    if not len(masks):
        return out
    binary = [m.astype(bool) for m in masks]
    if how == "union":
        return np.logical_or.reduce(binary)
    if how == "largest":
        return binary[int(np.argmax([int(m.sum()) for m in binary]))]
    if gt is None:
        raise ValueError("reduce='oracle' needs the GT mask")
    gt = gt.astype(bool)
    ious = [(m & gt).sum() / max((m | gt).sum(), 1) for m in binary]
    best = int(np.argmax(ious))
    return binary[best] if ious[best] > 0 else out
