"""E-SAM-style stages on hand-made masks: area levels on a non-square image, and the gallery
that ``gallery_points_per_side=0`` reuses (the generation's masks BEFORE the level NMS).
The rest of the E-SAM tests are in tests/test_esam.py."""

from __future__ import annotations

import types

import numpy as np

from pmgsam.baselines.esam import EsamBaseline, split_levels
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


def test_a_reused_gallery_holds_the_masks_the_object_nms_removed(monkeypatch) -> None:
    from pmgsam.baselines import base

    h, w = 40, 60
    a, b, whole = cols(h, w, 0, 36), cols(h, w, 36, 60), cols(h, w, 0, 60)
    # The whole mask's box IoU with A is 36/60 > 0.5: the object NMS keeps only A and B. As a
    # gallery mask it covers both entirely and nothing else, so they are one entity.
    records = [{"segmentation": m, "predicted_iou": s} for m, s in [(a, 0.95), (b, 0.9),
                                                                    (whole, 0.89)]]  # fmt: skip
    family = types.SimpleNamespace(
        generator=lambda model, settings: types.SimpleNamespace(generate=lambda image: records),
        predictor=lambda model: None,  # everything is covered: no repair prompt
    )
    monkeypatch.setattr(base, "family", lambda name: family)
    settings = EsamSettings(gallery_points_per_side=0, object_min_area=0.1)
    out = EsamBaseline("sam", "vit_b", None, settings).predict(np.zeros((h, w, 3), np.uint8))
    assert out.scores == [0.95]  # the merged entity keeps its members' highest score
    np.testing.assert_array_equal(out.masks[0], whole)
