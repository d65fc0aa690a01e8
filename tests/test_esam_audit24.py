"""E-SAM's repair prompts on an image smaller than ``slic_max_side``: SLIC sees the image at its
own size (a larger copy would only cost memory and time, and put more superpixels on it than
the image has detail for); prompts are the image's own pixel centres.

Expectations: the shape of the array SLIC is given, and the right half's centroid by hand.
"""

from __future__ import annotations

import numpy as np

from pmgsam.baselines.esam import EsamSettings, repair_prompts


def test_an_image_smaller_than_the_slic_side_is_not_enlarged(monkeypatch) -> None:
    import skimage.segmentation

    seen = []

    def slic(image, **kwargs):
        seen.append(image.shape)
        labels = np.zeros(image.shape[:2], np.int64)
        labels[:, image.shape[1] // 2 :] = 1  # the left and the right half
        return labels

    monkeypatch.setattr(skimage.segmentation, "slic", slic)
    image = np.zeros((20, 30, 3), np.uint8)
    covered = np.zeros((20, 30), bool)
    covered[:, :15] = True
    settings = EsamSettings(slic_max_side=64, max_repair_prompts=4)
    points = repair_prompts(image, covered, [], settings)
    assert seen == [(20, 30, 3)]
    # The right half, columns 15..29 and rows 0..19: centroid (22, 9.5).
    np.testing.assert_allclose(points, [[22.0, 9.5]])
    assert points.dtype == np.float32
