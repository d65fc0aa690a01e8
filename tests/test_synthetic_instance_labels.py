"""The generator's camouflaged instances (:func:`pmgsam.data.synthetic_drawing._instances`):
labels 1..n without a gap, none a sliver.

The COD10K layout writes one annotation for each value 1..max of the label map, so a value left
unused (an instance another covered) would be an empty GT instance that every method misses;
a sliver an occluding blob left would be a GT object no one can see. Small images (down to
the 24x24 the generator allows, which no drawn side goes below) are where blobs cover each
other most.
"""

from __future__ import annotations

import numpy as np

from pmgsam.data.synthetic_drawing import _instances, image_hw

FLOOR = 30  # pixels: smaller instances are dropped unless every one is


def test_instance_labels_are_one_to_n_and_none_is_a_sliver() -> None:
    for size in ((24, 24), (32, 24)):
        for seed in range(100):
            rng = np.random.default_rng(seed)
            label = _instances(rng, *image_hw(rng, size))
            n = int(label.max())
            assert n >= 1, (size, seed)
            assert set(np.unique(label).tolist()) == set(range(n + 1)), (size, seed)
            areas = [int((label == v).sum()) for v in range(1, n + 1)]
            assert n == 1 or min(areas) >= FLOOR, (size, seed, areas)


def test_image_sides_are_never_under_the_smallest_size_allowed() -> None:
    # --size accepts 24x24 at least; the aspect jitter (up to exp(0.45) ~ 1.57) would draw a
    # 30x19 image from it without the floor.
    sides = [image_hw(np.random.default_rng(seed), (24, 24)) for seed in range(50)]
    assert min(min(hw) for hw in sides) == 24
