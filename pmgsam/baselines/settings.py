"""What a user can choose for the baselines (names, model types, E-SAM thresholds).

Kept free of torch and the model packages so ``evaluate.py`` can build its parser cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

REDUCTIONS = ("union", "largest", "oracle")
ORACLE_NOTE = "oracle upper bound: the mask chosen by IoU with the GT (not a fair baseline)"
MODEL_TYPES = {"sam": ("vit_b", "vit_l", "vit_h"), "sam2": ("tiny", "small", "base_plus", "large")}
# python -m pmgsam.efficiency --compare choices: the automatic mask generators, as the baselines
# build them.
AMG_MODELS = tuple(f"{family}_{kind}" for family, kinds in MODEL_TYPES.items() for kind in kinds)


def finetune_limit(record: Any) -> Optional[int]:
    """The ``--limit`` a fine-tuned SAM's decoder was trained with (a quick look on the first
    images of each split), read from its ``.finetune.json`` record or from run.json's
    ``meta.finetune``, which keeps the record's ``data``; None for a fine-tuning on the whole
    splits, or for no record."""
    data = record.get("data") if isinstance(record, dict) else None
    limit = data.get("limit") if isinstance(data, dict) else None
    return int(limit) if limit is not None else None


def family_of(model_type: str) -> str:
    """The family whose model type this is (SAM ``vit_*``, SAM2.1 ``tiny``/``small``/...)."""
    for name, types in MODEL_TYPES.items():
        if model_type in types:
            return name
    known = "; ".join(f"{n}: {', '.join(t)}" for n, t in MODEL_TYPES.items())
    raise ValueError(f"unknown model type {model_type!r} ({known})")


@dataclass
class EsamSettings:
    """E-SAM-style thresholds (areas are fractions of the image's pixel count).

    Arguments:
        points_per_side: generation grid, 32 per side as in E-SAM (SAM's default too).
        pred_iou_thresh: generator confidence filter; 0.8 (SAM2's default, below SAM's 0.88)
            because the levels and the gallery filter again later.
        stability_score_thresh: generator stability filter; 0.9, slightly below both packages'
            0.95 for the same reason.
        object_min_area: masks covering at least this fraction are object level (0.02: ~145x145
            px at 1024², the smallest DIS/COS objects the paper shows).
        part_min_area: masks between this and ``object_min_area`` are part level, smaller ones
            subpart level (0.002: ~45x45 px at 1024²).
        object_nms: box-IoU NMS threshold of object masks; 0.5, strict: a second large mask
            over the same box is a duplicate, not another entity.
        part_nms: part-level NMS threshold; 0.7 (SAM's own value).
        subpart_nms: subpart-level NMS threshold; 0.85, lenient: small masks crowd together.
        gallery_points_per_side: denser grid of the refinement gallery (64 = 4x the prompts);
            0 reuses the first generation's masks before the level NMS (one encoder pass less).
        gallery_iou_thresh: a gallery mask needs at least this predicted IoU (0.88, SAM's own
            confidence bar: the gallery arbitrates, so it should be reliable).
        merge_similarity: merge two entities when one gallery mask covers at least this
            fraction of each and lies at least this fraction inside their union (0.8).
        min_entity_area: drop entity fragments left by the separation below this (0.0005).
        slic_segments: SLIC superpixels per image (100, scikit-image's default).
        slic_compactness: SLIC colour/space trade-off (10, scikit-image's default for RGB).
        slic_max_side: SLIC runs on the image resized to at most this side (512), for speed.
        uncovered_fraction: a superpixel or part mask gives a prompt when at least this
            fraction of it lies outside every entity (0.5: mostly missed).
        repair_iou_thresh: a repair mask needs at least this predicted IoU (0.88, as above).
        repair_new_fraction: a repair mask is added (its uncovered pixels only) when at least
            this fraction of it is new (0.5), so it does not re-cut an existing entity.
        max_repair_prompts: at most this many repair prompts, largest regions first (64).
    """

    points_per_side: int = 32
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.9
    object_min_area: float = 0.02
    part_min_area: float = 0.002
    object_nms: float = 0.5
    part_nms: float = 0.7
    subpart_nms: float = 0.85
    gallery_points_per_side: int = 64
    gallery_iou_thresh: float = 0.88
    merge_similarity: float = 0.8
    min_entity_area: float = 0.0005
    slic_segments: int = 100
    slic_compactness: float = 10.0
    slic_max_side: int = 512
    uncovered_fraction: float = 0.5
    repair_iou_thresh: float = 0.88
    repair_new_fraction: float = 0.5
    max_repair_prompts: int = 64
