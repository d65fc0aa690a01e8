"""How many images each split of a generated dataset holds, as the generator's docstring and
``--num`` help say, at a ``num`` where ``num // 4`` is more than the floor of 2 (with the
small ``num`` of the other tests every count is its floor); and the limits on ``size``."""

from __future__ import annotations

import pytest

from pmgsam.data import generate
from pmgsam.data.synthetic import parse_size

SIZE = (24, 24)


def test_dis5k_holds_num_training_images_and_num_over_4_in_each_other_split(tmp_path):
    root = generate("dis5k", tmp_path, num=12, seed=0, size=SIZE)
    counts = {p.name: len(list((p / "im").glob("*.jpg"))) for p in root.iterdir() if p.is_dir()}
    masks = {p.name: len(list((p / "gt").glob("*.png"))) for p in root.iterdir() if p.is_dir()}
    expected = {"DIS-TR": 12, "DIS-VD": 3, "DIS-TE1": 3, "DIS-TE2": 3, "DIS-TE3": 3}
    assert counts == masks == {**expected, "DIS-TE4": 3}


def test_cod10k_test_split_holds_num_over_2_camouflaged_images(tmp_path):
    root = generate("cod10k", tmp_path, num=16, seed=0, size=SIZE)
    for split, cam, noncam in (("Train", 16, 4), ("Test", 8, 2)):
        names = [p.name for p in (root / split / "Image").iterdir()]
        assert sum("-CAM-" in n for n in names) == cam, split
        assert sum("-NonCAM-" in n for n in names) == noncam, split
        # Only the camouflaged images have GT.
        assert len(list((root / split / "GT_Object").iterdir())) == cam


@pytest.mark.parametrize("text", ["320x23", "23x240", "4097x240", "320x4097"])
def test_each_side_of_size_is_checked_on_its_own(text):
    # A 320x23 image (one side under the floor) is refused as a 23x23 one is.
    with pytest.raises(ValueError, match=r"^size must be at (least 24x24|most 4096x4096), got"):
        parse_size(text)
    assert parse_size("24x4096") == (24, 4096)
