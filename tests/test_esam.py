"""E-SAM-style post-processing on hand-made mask sets, and the mode end to end on a random SAM."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
import torch
import yaml
from pycocotools import mask as mask_utils

import evaluate
from pmgsam.baselines import sam
from pmgsam.baselines.esam import (
    EsamSettings,
    add_repair_masks,
    level_nms,
    merge_similar,
    repair_prompts,
    separate_overlaps,
    similarity_matrix,
    split_levels,
    uncovered_prompts,
)
from pmgsam.utils.config import to_dict

H, W = 40, 60


def rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Rows y0..y1-1, columns x0..x1-1."""
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_levels_by_area_and_per_level_nms() -> None:
    big, big_shifted = rect(0, 20, 0, 30), rect(0, 20, 6, 36)  # box IoU 24/36 = 0.667
    part_a, part_b = rect(30, 34, 0, 10), rect(30, 34, 3, 13)  # box IoU 28/52 = 0.538
    tiny = rect(38, 40, 58, 60)
    masks = [big, big_shifted, part_a, part_b, tiny]
    levels = split_levels(masks, object_min_area=0.1, part_min_area=0.01)
    assert levels == {"object": [0, 1], "part": [2, 3], "subpart": [4]}
    # The same overlap is a duplicate among objects (strict 0.5) but kept among parts (0.7).
    assert level_nms([big, big_shifted], [0.9, 0.95], 0.5) == [1]
    assert sorted(level_nms([part_a, part_b], [0.9, 0.95], 0.7)) == [0, 1]
    # Non-overlapping small masks are all kept; an exact duplicate goes at any threshold.
    assert sorted(level_nms([part_a, tiny, tiny.copy()], [0.5, 0.9, 0.8], 0.85)) == [0, 1]


def test_two_overlapping_objects_separated_by_the_gallery() -> None:
    a, b = rect(0, 20, 0, 30), rect(0, 20, 20, 50)  # share columns 20..29
    shared = a & b
    # The gallery holds A exactly: the shared strip belongs to A, though B scores higher.
    out = separate_overlaps([a, b], [0.8, 0.9], gallery=[a.copy()])
    assert not (out[0] & out[1]).any()
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b & ~shared)
    # A gallery mask that is B instead gives the strip to B.
    out = separate_overlaps([a, b], [0.8, 0.9], gallery=[b.copy()])
    np.testing.assert_array_equal(out[1], b)
    np.testing.assert_array_equal(out[0], a & ~shared)
    # Without a gallery the higher-scored object keeps the shared pixels.
    out = separate_overlaps([a, b], [0.95, 0.9], gallery=[])
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[0] | out[1], a | b)


def test_over_split_object_merged_and_distinct_ones_kept() -> None:
    left, right = rect(5, 25, 5, 20), rect(5, 25, 20, 35)  # one object cut in two halves
    other = rect(30, 38, 40, 55)
    whole = left | right
    # A background mask around `other`: it covers other's surroundings, not other itself.
    background = ~rect(28, 40, 38, 58) & ~whole
    gallery = [whole, other.copy(), background]
    sim = similarity_matrix([left, right, other], gallery)
    assert sim[0, 1] == pytest.approx(1.0) and sim[1, 0] == pytest.approx(1.0)
    assert sim[0, 2] < 0.8 and sim[1, 2] < 0.8
    merged, scores = merge_similar([left, right, other], [0.7, 0.9, 0.8], gallery, 0.8)
    assert len(merged) == 2
    np.testing.assert_array_equal(merged[0], whole)
    np.testing.assert_array_equal(merged[1], other)
    assert scores == [0.9, 0.8]
    # Without a gallery mask spanning both halves they stay apart.
    kept, _ = merge_similar([left, right], [0.7, 0.9], [left.copy(), right.copy()], 0.8)
    assert len(kept) == 2


def test_uncovered_region_gets_a_prompt_at_its_centroid() -> None:
    covered = rect(0, 40, 0, 30)  # left half covered by entities
    # Superpixels: the left half, a 20x20 block in the middle of the right half, and the ring
    # around that block (the rest of the right half).
    block = rect(10, 30, 35, 55)
    ring = rect(0, 40, 30, 60) & ~block
    regions = [rect(0, 40, 0, 30), block, ring]
    points = uncovered_prompts(covered, regions, uncovered_fraction=0.5, max_prompts=10)
    assert len(points) == 2  # the covered superpixel gives no prompt
    # Largest uncovered region first: the ring, whose centroid (44.5, 19.5) lies in the hole;
    # the prompt moves to a nearest ring pixel, e.g. (34, 19): 10.5 px off in x, 0.5 in y.
    x, y = points[0]
    assert ring[int(y), int(x)] and x == int(x) and y == int(y)
    assert np.hypot(x - 44.5, y - 19.5) == pytest.approx(np.hypot(10.5, 0.5))
    np.testing.assert_allclose(points[1], [44.5, 19.5])  # the block's own centroid (x, y)
    half = rect(0, 40, 25, 35)  # 50 % outside `covered`: counts at 0.5, not at 0.6
    assert len(uncovered_prompts(covered, [half], 0.5, 10)) == 1
    assert len(uncovered_prompts(covered, [half], 0.6, 10)) == 0
    assert len(uncovered_prompts(covered, regions, 0.5, 1)) == 1


def test_repair_prompts_from_downscaled_superpixels_land_in_the_uncovered_region() -> None:
    image = np.zeros((H, W, 3), np.uint8)
    image[:, 30:] = (200, 30, 30)  # the uncovered right half has its own colour
    image[10:30, 40:55] = (30, 200, 30)
    covered = rect(0, 40, 0, 30)
    # SLIC at a 30-px side (half the image): prompts are mapped back to image pixels.
    settings = EsamSettings(slic_segments=12, slic_max_side=30, max_repair_prompts=50)
    points = repair_prompts(image, covered, [], settings)
    assert len(points) > 0
    assert (points[:, 0] >= 29.5).all() and (points[:, 0] <= W - 1).all()
    assert (points[:, 1] >= 0).all() and (points[:, 1] <= H - 1).all()
    # Everything covered: only a mostly-uncovered part mask still gives a prompt (its centroid).
    part = rect(0, 4, 0, 4)
    points = repair_prompts(image, np.ones((H, W), bool) & ~part, [part], settings)
    np.testing.assert_allclose(points, [[1.5, 1.5]])


def test_repair_masks_fill_only_new_confident_regions() -> None:
    entity = rect(0, 40, 0, 30)
    new = rect(10, 20, 40, 50)
    overlapping = rect(0, 10, 25, 35)  # half inside the entity: added as its new half
    mostly_old = rect(0, 40, 20, 32)  # 2/12 new
    low = rect(30, 40, 50, 60)
    out, scores = add_repair_masks(
        [entity], [0.9], [new, overlapping, mostly_old, low], [0.95, 0.9, 0.99, 0.5], 0.88, 0.5
    )
    assert len(out) == 3 and scores == [0.9, 0.95, 0.9]
    np.testing.assert_array_equal(out[1], new)
    np.testing.assert_array_equal(out[2], overlapping & ~entity)
    assert not np.logical_and(out[1], out[2]).any()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_esam_mode_on_sam_writes_disjoint_instances(cod10k_root, data_config, tmp_path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "sam_vit_b_random.pth"
    torch.save(sam.build("vit_b", 256).state_dict(), ckpt)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("cod10k", cod10k_root))}))
    out = tmp_path / "run"
    argv = ["--baseline", "esam", "--model-type", "vit_b", "--checkpoint", str(ckpt)]
    argv += ["--config", str(cfg), "--dataset", "cod10k", "--splits", "Test", "--limit", "1"]
    argv += ["--output-dir", str(out), "--device", "cpu", "--quiet", "--model-image-size", "256"]
    argv += ["--speed-iters", "1", "--speed-warmup", "0"]
    # Random weights are unconfident: open the filters so every stage has masks to work on.
    for name, value in [("points-per-side", 4), ("pred-iou-thresh", 0), ("gallery-iou-thresh", 0),
                        ("stability-score-thresh", 0), ("gallery-points-per-side", 0),
                        ("repair-iou-thresh", 0), ("max-repair-prompts", 4)]:  # fmt: skip
        argv += [f"--esam-{name}", str(value)]
    assert evaluate.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    results = json.loads((out / "metrics" / "Test.results.json").read_text())
    assert results and run["method"] == "E-SAM-style SAM ViT-B"
    masks = [
        mask_utils.decode(dict(r["segmentation"], counts=r["segmentation"]["counts"].encode()))
        for r in results
    ]
    for a, b in combinations(masks, 2):
        assert not np.logical_and(a, b).any()
    assert run["meta"]["esam_settings"]["object_nms"] == 0.5
    assert run["efficiency"]["fps"] > 0
