"""The colour checks of scoring's folders (map_checks.refuse_colour_images / refuse_photo_gt)
at the edges of their rules.

Expectations are hand-counted: pixels, channel differences and distinct colours of arrays
built here, against the limits the module documents (a channel difference above 64 on at least
0.2% of pixels, up to 64 colours for instance colours, a mean spread above 8, more than
min(4096, pixels / 8) colours for a photo).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.map_checks import refuse_colour_images, refuse_photo_gt
from pmgsam.evaluation.map_pairs import EvaluationInputError


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _dots(value, count: int) -> np.ndarray:
    # ``count`` pixels of colour ``value`` on a 100 x 100 black map (10,000 pixels).
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb.reshape(-1, 3)[:count] = value
    return rgb


def test_small_coloured_instances_on_black_are_refused_though_the_mean_spread_is_low(tmp_path):
    # 20 red pixels of 10,000: mean spread 0.51 (grey by it), but 0.2% strongly coloured.
    path = _save(tmp_path / "pred" / "a.png", _dots((255, 0, 0), 20))
    with pytest.raises(EvaluationInputError, match=r"holds colour maps.*a\.png has 2 colours"):
        refuse_colour_images([path], tmp_path / "pred")


def test_a_channel_difference_of_64_is_not_strong_colour(tmp_path):
    path = _save(tmp_path / "pred" / "a.png", _dots((64, 0, 0), 20))
    refuse_colour_images([path], tmp_path / "pred")
    # 19 pixels (0.19%) of a strong colour are below the share too.
    path = _save(tmp_path / "pred2" / "a.png", _dots((255, 0, 0), 19))
    refuse_colour_images([path], tmp_path / "pred2")


def _colour_ramp(colours: int, shape) -> np.ndarray:
    # ``colours`` distinct colours differing in blue first (then green), red 0: each pixel's
    # spread is its largest channel, on average far above 8.
    i = np.arange(shape[0] * shape[1]) % colours
    rgb = np.stack([np.zeros_like(i), (i >> 8) * 15, i & 255], -1).astype(np.uint8)
    return rgb.reshape(*shape, 3)


@pytest.mark.parametrize("colours, kind", [(64, "colour maps"), (65, "colour images")])
def test_sixty_four_colours_with_black_are_instance_colours_and_more_are_a_picture(
    tmp_path, colours, kind
):
    rgb = _colour_ramp(colours, (16, 16))  # colour 0 is black
    path = _save(tmp_path / "pred" / "a.png", rgb)
    with pytest.raises(EvaluationInputError, match=f"holds {kind}"):
        refuse_colour_images([path], tmp_path / "pred")


def test_the_maps_looked_at_are_the_first_three_by_name(tmp_path):
    grey = np.zeros((10, 10, 3), np.uint8)
    paths = [_save(tmp_path / "pred" / f"{s}.png", grey) for s in "abc"]
    late = _save(tmp_path / "pred" / "d.png", _colour_ramp(300, (20, 20)))
    refuse_colour_images([late, *reversed(paths)], tmp_path / "pred")  # d is the fourth
    refuse_photo_gt([late, *reversed(paths)], tmp_path / "pred")


@pytest.mark.parametrize("colours, refused", [(4096, False), (4097, True)])
def test_a_large_gt_photo_is_refused_above_4096_colours(tmp_path, colours, refused):
    # 256 x 128 = 32,768 pixels: pixels / 8 = 4096, so the 4096 limit decides either way.
    path = _save(tmp_path / "gt" / "a.png", _colour_ramp(colours, (128, 256)))
    if refused:
        with pytest.raises(EvaluationInputError, match=f"a.png has {colours} colours"):
            refuse_photo_gt([path], tmp_path / "gt")
    else:
        refuse_photo_gt([path], tmp_path / "gt")


def test_a_gt_photo_above_4096_colours_is_refused_though_pixels_over_8_is_more(tmp_path):
    # 256 x 256 pixels / 8 = 8192 > 5000 colours: a photo all the same by its 4096 limit.
    path = _save(tmp_path / "gt" / "a.png", _colour_ramp(5000, (256, 256)))
    with pytest.raises(EvaluationInputError, match="a.png has 5000 colours"):
        refuse_photo_gt([path], tmp_path / "gt")


def test_a_gt_tinted_by_a_mean_spread_of_exactly_8_is_a_mask(tmp_path):
    # 248 grey levels each with red 8 above: spread 8 everywhere, 248 colours > 256 / 8.
    v = (np.arange(256) % 248).astype(np.uint8).reshape(16, 16)
    rgb = np.stack([v + 8, v, v], -1)
    refuse_photo_gt([_save(tmp_path / "gt" / "a.png", rgb)], tmp_path / "gt")
    rgb[0, 0, 0] += 1  # a mean spread just above 8: counted, and a photo by its colours
    with pytest.raises(EvaluationInputError, match="holds colour photos"):
        refuse_photo_gt([_save(tmp_path / "gt2" / "a.png", rgb)], tmp_path / "gt2")
