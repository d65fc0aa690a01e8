"""E-SAM-style stages on hand-made masks: area levels on a non-square image, the gallery that
``gallery_points_per_side=0`` reuses (the generation's confident masks BEFORE the level NMS),
shared pixels given by gallery IoU (not coverage) and the subsampled grid of mask statistics.
The rest of the E-SAM tests are in tests/test_esam.py."""

from __future__ import annotations

import types

import numpy as np

from pmgsam.baselines.esam import (
    STATS_MAX_SIDE,
    EsamBaseline,
    _intersections,
    separate_overlaps,
    split_levels,
)
from pmgsam.baselines.settings import EsamSettings


def cols(h: int, w: int, x0: int, x1: int) -> np.ndarray:
    """(h, w) bool, True on columns x0..x1-1 of every row."""
    m = np.zeros((h, w), bool)
    m[:, x0:x1] = True
    return m


def test_levels_are_fractions_of_the_whole_image_on_a_non_square_one() -> None:
    # 10 x 40 = 400 px: 10 px is 2.5 % (object at 2 %), 7 px 1.75 % (part), 1 px 0.25 % (part
    # at 0.2 %, subpart at 0.5 %). Per 10 x 10 px they would be 10 %, 7 % and 1 %.
    masks = [np.zeros((10, 40), bool) for _ in range(3)]
    masks[0][0, :10] = True
    masks[1][1, :7] = True
    masks[2][2, 0] = True
    assert split_levels(masks, 0.02, 0.002) == {"object": [0], "part": [1, 2], "subpart": []}
    assert split_levels(masks, 0.02, 0.005) == {"object": [0], "part": [1], "subpart": [2]}


def _predict_on_stub(monkeypatch, records, h: int, w: int):
    from pmgsam.baselines import base

    family = types.SimpleNamespace(
        generator=lambda model, settings: types.SimpleNamespace(generate=lambda image: records),
        predictor=lambda model: None,  # everything is covered: no repair prompt
    )
    monkeypatch.setattr(base, "family", lambda name: family)
    settings = EsamSettings(gallery_points_per_side=0, object_min_area=0.1)
    return EsamBaseline("sam", "vit_b", None, settings).predict(np.zeros((h, w, 3), np.uint8))


def _records(scored):
    return [{"segmentation": m, "predicted_iou": s} for m, s in scored]


def test_a_reused_gallery_holds_the_masks_the_object_nms_removed(monkeypatch) -> None:
    h, w = 40, 60
    a, b, whole = cols(h, w, 0, 36), cols(h, w, 36, 60), cols(h, w, 0, 60)
    # The whole mask's box IoU with A is 36/60 > 0.5: the object NMS keeps only A and B. As a
    # gallery mask it covers both entirely and nothing else, so they are one entity.
    out = _predict_on_stub(monkeypatch, _records([(a, 0.95), (b, 0.9), (whole, 0.89)]), h, w)
    assert out.scores == [0.95]  # the merged entity keeps its members' highest score
    np.testing.assert_array_equal(out.masks[0], whole)


def test_a_reused_gallery_leaves_out_masks_below_the_gallery_threshold(monkeypatch) -> None:
    h, w = 40, 60
    a, b, whole = cols(h, w, 0, 36), cols(h, w, 36, 60), cols(h, w, 0, 60)
    # As above, but the whole mask's 0.85 is below gallery_iou_thresh (0.88): it joins nothing.
    out = _predict_on_stub(monkeypatch, _records([(a, 0.95), (b, 0.9), (whole, 0.85)]), h, w)
    assert out.scores == [0.95, 0.9]
    np.testing.assert_array_equal(out.masks[0], a)
    np.testing.assert_array_equal(out.masks[1], b)


def test_shared_pixels_go_by_gallery_iou_not_by_how_much_of_the_object_it_covers() -> None:
    a, b = cols(4, 16, 0, 10), cols(4, 16, 8, 12)  # columns 8-9 shared
    g = cols(4, 16, 1, 12)  # IoU with A 9/12, with B 4/11; it covers 9/10 of A, all of B
    # B is scored higher, so coverage (or no gallery) would give it the shared columns.
    got_a, got_b = separate_overlaps([a, b], [0.5, 0.9], [g])
    np.testing.assert_array_equal(got_a, a)
    np.testing.assert_array_equal(got_b, cols(4, 16, 10, 12))


def test_mask_statistics_are_counted_on_a_grid_of_at_most_stats_max_side() -> None:
    m = np.ones((STATS_MAX_SIDE + 44, 8), bool)  # 300 rows: every 2nd pixel, a 150 x 4 grid
    inter, areas, g_areas = _intersections([m], [m])
    assert inter[0, 0] == areas[0] == g_areas[0] == 150 * 4
