"""E-SAM-style automatic mode: training-free post-processing of SAM's / SAM2's generated masks.

After E-SAM (ICCV 2025), re-implemented from its description (no code was released); every
threshold is an :class:`EsamSettings` field. Three stages, each a pure function tested alone:

1. multi-level generation (:func:`split_levels`, :func:`level_nms`): the generator's masks are
   stratified by area into object / part / subpart levels, each de-duplicated by its own box NMS
   (strict for objects, lenient for small parts, whose neighbours legitimately overlap);
2. entity-level refinement: a denser *gallery* of confident masks is generated;
   :func:`separate_overlaps` gives each pixel shared by several object masks to the one the
   gallery supports best, so objects become disjoint, and :func:`merge_similar` joins entities
   that a single gallery mask explains together (pairwise similarity matrix);
3. under-segmentation repair: SLIC superpixels mostly outside every entity and part masks
   mostly outside every entity give point prompts (:func:`repair_prompts`); the model's
   confident masks for them fill the gaps (:func:`add_repair_masks`).

Output: disjoint entity masks scored by the model's predicted IoU.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torchvision.ops import nms

from pmgsam.baselines.base import Baseline, Prediction, gt_box
from pmgsam.baselines.settings import EsamSettings

LEVELS = ("object", "part", "subpart")


Masks = List[np.ndarray]


def split_levels(
    masks: Sequence[np.ndarray], object_min_area: float, part_min_area: float
) -> Dict[str, List[int]]:
    """Indices of the object / part / subpart masks, by area as a fraction of the image."""
    out: Dict[str, List[int]] = {level: [] for level in LEVELS}
    for i, m in enumerate(masks):
        frac = m.sum() / m.size
        level = "object" if frac >= object_min_area else "part" if frac >= part_min_area else None
        out[level or "subpart"].append(i)
    return out


def level_nms(masks: Sequence[np.ndarray], scores: Sequence[float], thresh: float) -> List[int]:
    """Indices kept by box NMS at ``thresh`` (higher score first; SAM's AMG uses box NMS too)."""
    keep = [i for i, m in enumerate(masks) if m.any()]
    if not keep:
        return []
    boxes = torch.from_numpy(np.stack([gt_box(masks[i]) for i in keep]))
    # Inclusive pixel indices -> pixel-edge coordinates so a 1-px box has area 1.
    boxes[:, 2:] += 1
    kept = nms(boxes, torch.tensor([float(scores[i]) for i in keep]), thresh)
    return [keep[int(k)] for k in kept]


# Pairwise mask statistics (IoU, coverage) are area ratios: they are computed on every k-th
# pixel in each direction, k chosen so the grid has at most this side, which keeps the
# (masks x pixels) matrices small for multi-megapixel DIS images.
STATS_MAX_SIDE = 256


def _intersections(a: Masks, b: Masks) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(len(a), len(b)) pairwise intersection areas and the areas of a and b, all counted on
    the same subsampled grid (see ``STATS_MAX_SIDE``)."""
    step = max(1, -(-max(a[0].shape) // STATS_MAX_SIDE))
    fa = np.stack([m[::step, ::step].reshape(-1) for m in a]).astype(np.float32)
    fb = np.stack([m[::step, ::step].reshape(-1) for m in b]).astype(np.float32)
    return fa @ fb.T, fa.sum(1), fb.sum(1)


def separate_overlaps(objects: Masks, scores: Sequence[float], gallery: Masks) -> Masks:
    """Disjoint masks: a pixel claimed by several objects goes to the one whose best gallery
    match (max IoU over the gallery masks containing that pixel) is highest; ties and pixels
    no gallery mask contains go to the higher-scored object. Non-shared pixels are unchanged."""
    if len(objects) < 2:
        return [m.astype(bool) for m in objects]
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    stack = np.stack([objects[i].astype(bool) for i in order])
    shared = stack.sum(0) >= 2
    if not shared.any():
        return [m.astype(bool) for m in objects]
    member = stack[:, shared]  # (N, P)
    affinity = np.zeros(member.shape, dtype=np.float32)
    if gallery:
        inter, areas, g_areas = _intersections(list(stack), gallery)
        ious = inter / np.maximum(areas[:, None] + g_areas[None, :] - inter, 1)
        for j, g in enumerate(gallery):
            inside = g[shared].astype(bool)
            affinity[:, inside] = np.maximum(affinity[:, inside], ious[:, j : j + 1])
    affinity[~member] = -1.0
    winner = np.argmax(affinity, axis=0)  # first maximum = higher score on ties
    out: Masks = [np.zeros_like(objects[0], dtype=bool) for _ in objects]
    for rank, i in enumerate(order):
        m = stack[rank] & ~shared
        m[shared] = winner == rank
        out[i] = m
    return out


def similarity_matrix(entities: Masks, gallery: Masks) -> np.ndarray:
    """S[i, j] = max over gallery masks g of min(cover(g, e_i), cover(g, e_j), precision), with
    cover = |g ∩ e| / |e| and precision = |g ∩ (e_i ∪ e_j)| / |g| (entities are disjoint).

    High only when ONE gallery mask spans most of both entities and little else: a large
    background mask that merely contains a small entity's surroundings does not join them.
    """
    k = len(entities)
    if k < 2 or not gallery:
        return np.zeros((k, k), dtype=np.float32)
    inter, areas, g_areas = _intersections(entities, gallery)  # (K, M), (K,), (M,)
    cover = inter / np.maximum(areas[:, None], 1)
    precision = (inter[:, None, :] + inter[None, :, :]) / np.maximum(g_areas, 1)[None, None, :]
    both = np.minimum(np.minimum(cover[:, None, :], cover[None, :, :]), precision)
    sim = both.max(axis=2).astype(np.float32)
    np.fill_diagonal(sim, 0.0)
    return sim


def merge_similar(
    entities: Masks, scores: Sequence[float], gallery: Masks, threshold: float
) -> Tuple[Masks, List[float]]:
    """Join entities whose :func:`similarity_matrix` entry reaches ``threshold`` (transitively);
    a merged entity keeps the highest score of its members."""
    sim = similarity_matrix(entities, gallery)
    parent = list(range(len(entities)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(sim >= threshold, 1))):
        parent[root(int(j))] = root(int(i))
    groups: Dict[int, List[int]] = {}
    for i in range(len(entities)):
        groups.setdefault(root(i), []).append(i)
    masks = [np.logical_or.reduce([entities[i] for i in g]) for g in groups.values()]
    return masks, [max(float(scores[i]) for i in g) for g in groups.values()]


def _snap_centroid(region: np.ndarray) -> Tuple[float, float]:
    """(x, y) centroid of a region, moved to its nearest pixel when it falls outside (a ring)."""
    ys, xs = np.nonzero(region)
    cx, cy = xs.mean(), ys.mean()
    if region[int(round(cy)), int(round(cx))]:
        return float(cx), float(cy)
    nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    return float(xs[nearest]), float(ys[nearest])


def _uncovered(
    covered: np.ndarray, regions: Sequence[np.ndarray], uncovered_fraction: float
) -> List[Tuple[int, Tuple[float, float]]]:
    """(uncovered area, (x, y) prompt) of every region at least that fraction uncovered."""
    found = []
    for region in regions:
        region = region.astype(bool)
        area = int(region.sum())
        missed = region & ~covered
        if area and missed.sum() >= uncovered_fraction * area:
            found.append((int(missed.sum()), _snap_centroid(missed)))
    return found


def repair_prompts(
    image: np.ndarray, covered: np.ndarray, parts: Masks, settings: EsamSettings
) -> np.ndarray:
    """(N, 2) XY point prompts, largest region first: the centroid of the uncovered part of
    every SLIC superpixel and part mask at least ``settings.uncovered_fraction`` outside
    ``covered``, at most ``settings.max_repair_prompts``.

    Superpixels are found and tested on a copy of the image of side <= ``slic_max_side`` (the
    coverage map is resized to it) and their prompts mapped back to image coordinates, so no
    full-size superpixel masks are held.
    """
    import cv2
    from skimage.segmentation import slic

    h, w = image.shape[:2]
    scale = min(1.0, settings.slic_max_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    labels = slic(
        cv2.resize(image, (sw, sh)), n_segments=settings.slic_segments,
        compactness=settings.slic_compactness, start_label=0,
    )  # fmt: skip
    # Bilinear, centred on each SLIC pixel: covered when the image pixels around its centre
    # mostly are. (cv2.INTER_NEAREST would read each block's top-left pixel, half a block off.
    # By keyword: passed positionally, cv2.resize takes it as `dst` and ignores it.)
    small = cv2.resize(covered.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_LINEAR)
    small_covered = small > 0
    regions = [labels == v for v in np.unique(labels)]
    found = []
    for area, (x, y) in _uncovered(small_covered, regions, settings.uncovered_fraction):
        # Pixel centres map through the resize; areas are compared at the image's scale.
        point = ((x + 0.5) * w / sw - 0.5, (y + 0.5) * h / sh - 0.5)
        found.append((area * (w * h) / (sw * sh), point))
    found += _uncovered(covered, parts, settings.uncovered_fraction)
    found.sort(key=lambda t: -t[0])
    points = [p for _, p in found[: settings.max_repair_prompts]]
    return np.array(points, dtype=np.float32).reshape(-1, 2)


def add_repair_masks(
    entities: Masks,
    scores: List[float],
    candidates: Masks,
    candidate_scores: Sequence[float],
    iou_thresh: float,
    new_fraction: float,
) -> Tuple[Masks, List[float]]:
    """Append the uncovered pixels of confident, mostly-new candidates (best score first)."""
    entities, scores = list(entities), list(scores)
    covered = np.logical_or.reduce(entities) if entities else None
    for i in np.argsort(-np.asarray(candidate_scores, dtype=np.float64), kind="stable"):
        cand = candidates[i].astype(bool)
        if candidate_scores[i] < iou_thresh or not cand.any():
            continue
        new = cand if covered is None else cand & ~covered
        if new.sum() < new_fraction * cand.sum():
            continue
        entities.append(new)
        scores.append(float(candidate_scores[i]))
        covered = new if covered is None else covered | new
    return entities, scores


class EsamBaseline(Baseline):
    """E-SAM-style automatic mode on a SAM or SAM2 model (see the module doc).

    Arguments:
        settings: the thresholds (defaults: :class:`EsamSettings`).
    """

    mode = "esam"

    def __init__(
        self,
        family_name: str,
        model_type: str,
        model: torch.nn.Module,
        settings: Optional[EsamSettings] = None,
    ) -> None:
        super().__init__(family_name, model_type, model)
        s = self.settings = settings or EsamSettings()
        common = {"pred_iou_thresh": s.pred_iou_thresh}
        common["stability_score_thresh"] = s.stability_score_thresh
        # The package's own NMS runs at the most lenient level threshold: it only removes
        # what every level would remove, and bounds the number of full-size masks held.
        lenient = max(s.object_nms, s.part_nms, s.subpart_nms)
        self.generator = self.family.generator(
            model, {"points_per_side": s.points_per_side, "box_nms_thresh": lenient, **common}
        )
        self.gallery_generator = None
        if s.gallery_points_per_side:
            gallery = {"points_per_side": s.gallery_points_per_side, "box_nms_thresh": lenient}
            gallery.update(common, pred_iou_thresh=s.gallery_iou_thresh)
            self.gallery_generator = self.family.generator(model, gallery)
        self.predictor = self.family.predictor(model)

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        s = self.settings
        records = self.generator.generate(image)
        masks = [r["segmentation"].astype(bool) for r in records]
        scores = [float(r["predicted_iou"]) for r in records]
        levels = split_levels(masks, s.object_min_area, s.part_min_area)
        thresholds = {"object": s.object_nms, "part": s.part_nms, "subpart": s.subpart_nms}
        kept: Dict[str, List[int]] = {}
        for level, idx in levels.items():
            sub = level_nms([masks[i] for i in idx], [scores[i] for i in idx], thresholds[level])
            kept[level] = [idx[i] for i in sub]
        if self.gallery_generator is not None:
            gallery = [
                r["segmentation"].astype(bool) for r in self.gallery_generator.generate(image)
            ]
        else:
            gallery = [m for m, sc in zip(masks, scores) if sc >= s.gallery_iou_thresh]
        objects = [masks[i] for i in kept["object"]]
        obj_scores = [scores[i] for i in kept["object"]]
        separated = separate_overlaps(objects, obj_scores, gallery)
        min_px = s.min_entity_area * image.shape[0] * image.shape[1]
        big = [i for i, m in enumerate(separated) if m.sum() >= max(min_px, 1)]
        entities, ent_scores = merge_similar(
            [separated[i] for i in big], [obj_scores[i] for i in big], gallery, s.merge_similarity
        )
        covered = np.zeros(image.shape[:2], bool)
        if entities:
            covered = np.logical_or.reduce(entities)
        parts = [masks[i] for i in kept["part"] + kept["subpart"]]
        points = repair_prompts(image, covered, parts, s)
        candidates, cand_scores = [], []
        if len(points):
            self.predictor.set_image(image)
            for point in points:
                out, iou, _ = self.predictor.predict(
                    point_coords=point[None], point_labels=np.array([1]), multimask_output=True
                )
                best = int(np.argmax(iou))
                candidates.append(out[best].astype(bool))
                cand_scores.append(float(iou[best]))
        entities, ent_scores = add_repair_masks(
            entities, ent_scores, candidates, cand_scores, s.repair_iou_thresh,
            s.repair_new_fraction,
        )  # fmt: skip
        return Prediction([e.astype(np.float32) for e in entities], ent_scores)

    def meta(self) -> Dict[str, Any]:
        return {**super().meta(), "esam_settings": asdict(self.settings)}
