"""E-SAM-style post-processing on hand-made mask sets, and the mode end to end on a random SAM."""

from __future__ import annotations

import json
import types
from itertools import combinations

import numpy as np
import pytest
import yaml
from pycocotools import mask as mask_utils

import evaluate
from pmgsam.baselines.esam import (
    EsamSettings,
    add_repair_masks,
    level_nms,
    merge_similar,
    repair_prompts,
    separate_overlaps,
    similarity_matrix,
    split_levels,
)
from pmgsam.utils.config import to_dict

H, W = 40, 60

# The end-to-end test runs SAM ViT-B: on shared cores two OpenMP threads are many times slower.
pytestmark = pytest.mark.usefixtures("one_thread")


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


def test_disjoint_objects_are_kept_whole_in_their_order() -> None:
    # Nothing shared: each object keeps all its pixels, in the input order (not by score).
    a, b = rect(0, 20, 0, 10), rect(30, 40, 0, 10)
    out = separate_overlaps([a.astype(np.uint8), b], [0.1, 0.9], gallery=[b.copy()])
    assert [o.dtype for o in out] == [bool, bool]
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)


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


def test_uncovered_region_gets_a_prompt_at_its_centroid(monkeypatch) -> None:
    import skimage.segmentation

    covered = rect(0, 40, 0, 30)  # left half covered by entities
    # Superpixels: the left half, a 20x20 block in the middle of the right half, and the ring
    # around that block (the rest of the right half).
    block = rect(10, 30, 35, 55)
    ring = rect(0, 40, 30, 60) & ~block
    labels = {"now": block.astype(np.int64) + 2 * ring}  # 0: the left half, 1 the block
    monkeypatch.setattr(skimage.segmentation, "slic", lambda image, **kwargs: labels["now"])
    image = np.zeros((H, W, 3), np.uint8)

    def prompts(fraction: float, most: int) -> np.ndarray:
        # SLIC at the image's own size: superpixel prompts are not rescaled.
        settings = EsamSettings(
            slic_max_side=W, uncovered_fraction=fraction, max_repair_prompts=most
        )
        return repair_prompts(image, covered, [], settings)

    points = prompts(0.5, 10)
    assert len(points) == 2  # the covered superpixel gives no prompt
    # Largest uncovered region first: the ring, whose centroid (44.5, 19.5) lies in the hole;
    # the prompt moves to a nearest ring pixel, e.g. (34, 19): 10.5 px off in x, 0.5 in y.
    x, y = points[0]
    assert ring[int(y), int(x)] and x == int(x) and y == int(y)
    assert np.hypot(x - 44.5, y - 19.5) == pytest.approx(np.hypot(10.5, 0.5))
    np.testing.assert_allclose(points[1], [44.5, 19.5])  # the block's own centroid (x, y)
    assert len(prompts(0.5, 1)) == 1
    # Two superpixels each 50 % outside `covered` (columns 25..34 and the rest): they count at
    # 0.5, not at 0.6.
    labels["now"] = rect(0, 40, 25, 35).astype(np.int64)
    assert len(prompts(0.5, 10)) == 2
    assert len(prompts(0.6, 10)) == 0


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
def test_esam_mode_on_sam_writes_disjoint_instances(
    cod10k_root, data_config, tmp_path, sam_file, memoised_sam_encoder
) -> None:
    ckpt = sam_file[0]  # conftest's seeded random ViT-B at a 64-px input
    # The image's embedding is computed once (memoised_sam_encoder): the mode sets the image
    # twice per prediction, and the run predicts, counts FLOPs and times; nothing here reads
    # the encoder's FLOPs, and the same weights and image give the same embedding.
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("cod10k", cod10k_root))}))
    out = tmp_path / "run"
    argv = ["--baseline", "esam", "--model-type", "vit_b", "--checkpoint", str(ckpt)]
    argv += ["--config", str(cfg), "--dataset", "cod10k", "--splits", "Test", "--limit", "1"]
    argv += ["--output-dir", str(out), "--device", "cpu", "--quiet", "--model-image-size", "64"]
    argv += ["--speed-iters", "1", "--speed-warmup", "0"]
    # Random weights are unconfident: open the filters so every stage has masks to work on.
    for name, value in [("points-per-side", 4), ("pred-iou-thresh", 0), ("gallery-iou-thresh", 0),
                        ("stability-score-thresh", 0), ("gallery-points-per-side", 0),
                        ("repair-iou-thresh", 0), ("max-repair-prompts", 4)]:  # fmt: skip
        argv += [f"--esam-{name}", str(value)]
    assert evaluate.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    results = json.loads((out / "metrics" / "Test.results.json").read_text())
    settings = (
        "points-per-side 4, pred-iou-thresh 0, stability-score-thresh 0, "
        "gallery-points-per-side 0, gallery-iou-thresh 0, repair-iou-thresh 0, "
        "max-repair-prompts 4"
    )  # the --esam-* values other than the defaults
    assert results and run["method"] == f"E-SAM-style SAM ViT-B [{settings}]"
    masks = [
        mask_utils.decode(dict(r["segmentation"], counts=r["segmentation"]["counts"].encode()))
        for r in results
    ]
    # At S=64 the mode writes an object and a repair mask here (at S=256 it wrote one mask and
    # this check compared nothing; a repair mask keeping the pixels it shares failed no test).
    assert len(masks) >= 2
    for a, b in combinations(masks, 2):
        assert not np.logical_and(a, b).any()
    assert run["meta"]["esam_settings"]["object_nms"] == 0.5
    assert run["efficiency"]["fps"] > 0


# ---------------------------------------------------------------- boundaries and the whole mode


def test_thin_duplicates_are_suppressed_and_bounds_are_inclusive() -> None:
    line = rect(5, 6, 0, 30)  # a 1-px wire: its box must still have an area
    assert level_nms([line, line.copy()], [0.9, 0.8], 0.85) == [0]
    at_object, at_part = rect(0, 12, 0, 20), rect(20, 24, 0, 6)  # 240 and 24 of 2400 pixels
    levels = split_levels([at_object, at_part], object_min_area=0.1, part_min_area=0.01)
    assert levels == {"object": [0], "part": [1], "subpart": []}
    # A repair mask needs *at least* the IoU threshold.
    assert add_repair_masks([], [], [line], [0.88], 0.88, 0.5)[1] == [0.88]


def test_shared_pixels_go_only_to_objects_that_contain_them() -> None:
    top, b, c = rect(30, 40, 0, 10), rect(0, 20, 0, 30), rect(0, 20, 20, 50)
    out = separate_overlaps([top, b, c], [0.99, 0.9, 0.8], gallery=[])
    np.testing.assert_array_equal(out[0], top)  # the best-scored object gains nothing
    np.testing.assert_array_equal(out[1], b)
    np.testing.assert_array_equal(out[2], c & ~b)


def test_merging_needs_a_tight_gallery_mask_and_is_transitive() -> None:
    left, right = rect(5, 15, 5, 15), rect(5, 15, 40, 50)
    # The whole image covers both entities but is mostly neither: precision 200 / 2400.
    everything = np.ones((H, W), bool)
    assert similarity_matrix([left, right], [everything])[0, 1] == pytest.approx(200 / 2400)
    assert len(merge_similar([left, right], [0.9, 0.8], [everything], 0.8)[0]) == 2
    # e0 ~ e2 and e1 ~ e2 through two gallery masks (similarity exactly 1, the threshold):
    # all three are one entity although e0 and e1 share no gallery mask.
    e0, e1, e2 = rect(0, 10, 0, 10), rect(0, 10, 20, 30), rect(0, 10, 40, 50)
    merged, scores = merge_similar([e0, e1, e2], [0.7, 0.9, 0.8], [e0 | e2, e1 | e2], 1.0)
    assert len(merged) == 1 and scores == [0.9]
    np.testing.assert_array_equal(merged[0], e0 | e1 | e2)


@pytest.fixture
def halves_slic(monkeypatch):
    """SLIC replaced by two superpixels: the left and the right half of the image it is given."""
    import skimage.segmentation

    def slic(image, **kwargs):
        labels = np.zeros(image.shape[:2], np.int64)
        labels[:, image.shape[1] // 2 :] = 1
        return labels

    monkeypatch.setattr(skimage.segmentation, "slic", slic)


def test_repair_prompts_map_superpixel_centres_back_to_image_pixels(halves_slic) -> None:
    # 45x60 at SLIC side 30 is 22x30 (x scale 2, y scale 45/22): the right superpixel's centroid
    # maps back to the right half's own centroid, (44.5, 22.0), in image pixels.
    h, w = 45, 60
    image = np.zeros((h, w, 3), np.uint8)
    covered = np.zeros((h, w), bool)
    covered[:, :30] = True
    settings = EsamSettings(slic_max_side=30, max_repair_prompts=1)
    np.testing.assert_allclose(repair_prompts(image, covered, [], settings), [[44.5, 22.0]])
    # Areas are compared at image scale: the superpixel's 1350 px outrank a 600-px part.
    part = np.zeros((h, w), bool)
    part[:20, 30:] = True
    np.testing.assert_allclose(repair_prompts(image, covered, [part], settings), [[44.5, 22.0]])
    # A dot lattice covers a quarter of the right half: 3/4 of it is still missed, which the
    # coverage at SLIC scale must see (sampling every second pixel would see it all covered).
    covered[::2, 30::2] = True
    assert len(repair_prompts(image, covered, [], settings)) == 1


class _Stub:
    """A family whose generator returns fixed records and whose predictor fixed masks, or with
    ``candidates=None`` a 3x3 square around each point prompt. ``gallery_records``, if given,
    are what the second generator made (the gallery's) returns."""

    def __init__(self, records, candidates=None, ious=(0.95, 0.9, 0.9), gallery_records=None):
        self.records, self.candidates, self.ious = records, candidates, list(ious)
        self.gallery_records = gallery_records
        self.generator_settings = []

    def generator(self, model, settings):
        self.generator_settings.append(dict(settings))
        records = self.records
        if self.gallery_records is not None and len(self.generator_settings) == 2:
            records = self.gallery_records
        return types.SimpleNamespace(generate=lambda image: records)

    def predictor(self, model):
        def predict(point_coords, point_labels, multimask_output):
            n = 3 if multimask_output else 1
            candidates = self.candidates
            if candidates is None:
                x, y = (int(v) for v in point_coords[0])
                candidates = [rect(y - 1, y + 2, x - 1, x + 2)] * 3
            return np.stack(candidates[:n]), np.array(self.ious[:n]), None

        return types.SimpleNamespace(set_image=lambda image: None, predict=predict)


def test_esam_mode_end_to_end_on_a_stub_model(monkeypatch, halves_slic) -> None:
    from pmgsam.baselines import base
    from pmgsam.baselines.esam import EsamBaseline

    a = rect(0, 40, 0, 30)
    # B's own pixels after the separation are a 20-px line, below min_entity_area (24 px).
    b = rect(0, 40, 20, 30) | rect(0, 1, 30, 50)
    a_shifted = rect(0, 40, 2, 32)  # box IoU 0.875 with A: a duplicate
    part = rect(10, 20, 40, 50)  # part level: a repair prompt, never an entity itself
    records = [{"segmentation": m, "predicted_iou": s}
               for m, s in [(a, 0.95), (b, 0.8), (a_shifted, 0.85), (part, 0.9)]]  # fmt: skip
    right = rect(0, 40, 30, 60)
    stub = _Stub(records, [rect(0, 5, 55, 60), right, rect(30, 40, 0, 5)], [0.6, 0.97, 0.7])
    monkeypatch.setattr(base, "family", lambda name: stub)
    settings = EsamSettings(gallery_points_per_side=0, object_min_area=0.1, part_min_area=0.01,
                            min_entity_area=0.01)  # fmt: skip
    out = EsamBaseline("sam", "vit_b", None, settings).predict(np.zeros((H, W, 3), np.uint8))
    # A, then the best of the model's three masks for the first repair prompt; the later
    # prompts return the same mask, which adds nothing new.
    assert out.scores == [0.95, 0.97]
    np.testing.assert_array_equal(out.masks[0], a)
    np.testing.assert_array_equal(out.masks[1], right)


def test_esam_generators_get_the_documented_settings(monkeypatch) -> None:
    from pmgsam.baselines import base
    from pmgsam.baselines.esam import EsamBaseline

    stub = _Stub([])
    monkeypatch.setattr(base, "family", lambda name: stub)
    EsamBaseline("sam", "vit_b", None)
    # Both generators run NMS at the most lenient level threshold (subpart, 0.85); the gallery
    # is denser (64 per side) and keeps only confident masks (0.88).
    common = {"box_nms_thresh": 0.85, "stability_score_thresh": 0.9}
    assert stub.generator_settings == [
        {"points_per_side": 32, "pred_iou_thresh": 0.8, **common},
        {"points_per_side": 64, "pred_iou_thresh": 0.88, **common},
    ]


def test_esam_repairs_from_parts_and_subparts_after_their_own_nms(monkeypatch, halves_slic):
    from pmgsam.baselines import base
    from pmgsam.baselines.esam import EsamBaseline

    # Two overlapping parts (box IoU 35/65 = 0.54: kept by the part NMS at 0.7, which the
    # object threshold 0.5 would not) and a subpart, all outside the one object.
    p, q, sub = rect(5, 10, 40, 50), rect(5, 10, 43, 53), rect(30, 34, 10, 14)
    obj = ~(p | q | sub)
    records = [{"segmentation": m, "predicted_iou": 0.9} for m in (obj, p, q, sub)]
    stub = _Stub(records)
    monkeypatch.setattr(base, "family", lambda name: stub)
    settings = EsamSettings(gallery_points_per_side=0, object_min_area=0.1, part_min_area=0.01)
    out = EsamBaseline("sam", "vit_b", None, settings).predict(np.zeros((H, W, 3), np.uint8))
    # One repair square per prompt, at the centroids (44.5, 7), (47.5, 7) and (11.5, 31.5).
    assert len(out.masks) == 4
    expected = [rect(6, 9, 43, 46), rect(6, 9, 46, 49), rect(30, 33, 10, 13)]
    for got, want in zip(out.masks[1:], expected):
        np.testing.assert_array_equal(got, want)


def test_esam_mode_gives_shared_pixels_by_gallery_support_then_score(monkeypatch, halves_slic):
    from pmgsam.baselines import base
    from pmgsam.baselines.esam import EsamBaseline

    # Two objects sharing columns 20..29 (box IoU 0.2: both survive the object NMS); B scores
    # higher. The one gallery mask G (rows 0..19 of A) contains the top half of the strip.
    a, b = rect(0, 40, 0, 30), rect(0, 40, 20, 50)
    g = rect(0, 20, 0, 30)
    records = [
        {"segmentation": a, "predicted_iou": 0.85},
        {"segmentation": b, "predicted_iou": 0.95},
    ]
    stub = _Stub(records, gallery_records=[{"segmentation": g, "predicted_iou": 0.9}])
    monkeypatch.setattr(base, "family", lambda name: stub)
    out = EsamBaseline("sam", "vit_b", None).predict(np.zeros((H, W, 3), np.uint8))
    # By the rule, by hand: on the top half, IoU(A, G) = 600/1200 = 0.5 beats IoU(B, G) =
    # 200/1600, so A keeps it although B scores higher; no gallery mask holds the bottom half,
    # which goes to the higher-scored B. (Similarity 0: no merge; the right superpixel is only
    # 1/3 uncovered: no repair. The object NMS lists B, the higher-scored, first.)
    assert out.scores == [0.95, 0.85]
    np.testing.assert_array_equal(out.masks[0], rect(0, 40, 30, 50) | rect(20, 40, 20, 30))
    np.testing.assert_array_equal(out.masks[1], rect(0, 40, 0, 20) | rect(0, 20, 20, 30))
    assert not np.logical_and(out.masks[0], out.masks[1]).any()
