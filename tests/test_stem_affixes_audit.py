"""stem_affixes audit: the rename rule read off unpaired names when stems are substrings of
each other (``1`` and ``11``), when both sides hold unpaired files, on a large folder, and
the sentence naming a prefix and a suffix at once. The rule is what a user renames by: a
wrong one (``'1_mask' after it``) would make them rename ``1_mask.png`` to ``.png``."""

from __future__ import annotations

import time

import pytest

from pmgsam.data.stem_affixes import added_to_stems, renaming_hint
from pmgsam.evaluation.map_pairs import pairing_hint


@pytest.mark.parametrize(
    "short, long, added",
    [
        # '11_mask' also reads as '1' with '1_mask' after it; the least added is the rule.
        (["1"], ["11_mask", "1_mask"], ("", "_mask")),
        (["1"], ["01_mask", "1_mask"], ("", "_mask")),
        (["1", "11"], ["11_mask", "1_mask"], ("", "_mask")),
        # '1' has no '1_mask': '11_mask' alone is no rule for both.
        (["11", "1"], ["11_mask"], None),
        # The prefix holds the stem too: only its second place in 'a_a' gives the rule.
        (["a", "b"], ["a_a", "a_b"], ("a_", "")),
        # A rule must fit every short stem, wherever the first one is found.
        (["a", "b"], ["xa_a", "b_a"], None),
        (["a", "b"], ["a_a", "b_a"], ("", "_a")),
        # A stem of ``long`` equal to the first short stem adds nothing: no rule from it.
        (["a"], ["a"], None),
        (["a"], [], None),
    ],
)
def test_the_rule_is_the_least_added_that_fits_every_stem(short, long, added) -> None:
    assert added_to_stems(short, long) == added


def test_a_large_folder_with_nothing_in_common_is_answered_at_once() -> None:
    # 10 000 unpaired names each side: a search pairing every stem with every name (10^8
    # checks) would hold the error back for minutes.
    numbers = [str(i) for i in range(10_000)]
    others = [str(i) for i in range(10_000, 20_000)]
    suffixed = [f"{i}_mask" for i in range(10_000) if i != 5_000]  # one mask missing
    start = time.perf_counter()
    assert added_to_stems(sorted(numbers), sorted(others)) is None
    assert added_to_stems(sorted(numbers), sorted(suffixed)) is None
    assert added_to_stems(sorted(suffixed), sorted(numbers)) is None
    assert time.perf_counter() - start < 2.0


def test_a_prefix_and_a_suffix_are_both_named_with_an_example() -> None:
    unpaired = {
        "images": {"a": "a.jpg", "b": "b.jpg"},
        "masks": {"gt_a_m": "gt_a_m.png", "gt_b_m": "gt_b_m.png"},
    }
    hint = renaming_hint(unpaired, ("images", "masks"))
    assert hint == (
        "images and masks pair by the file name without its extension (which may differ), "
        "and the masks are named with 'gt_' before and '_m' after it (e.g. 'gt_a_m.png' for "
        "'a.jpg'): rename the masks to drop it"
    )


def test_the_example_is_a_real_pair_when_stems_are_substrings() -> None:
    unpaired = {
        "images": {"1": "1.jpg", "11": "11.jpg"},
        "masks": {"1_mask": "1_mask.png", "11_mask": "11_mask.png"},
    }
    hint = renaming_hint(unpaired, ("images", "masks"))
    assert "with '_mask' after it (e.g. '1_mask.png' for '1.jpg')" in hint, hint


def test_no_rule_when_each_side_holds_names_the_other_does_not_explain() -> None:
    # Masks named <stem>_mask, but an image and a mask of other names too: no one rename
    # pairs the images, nor the masks, so none is suggested.
    unpaired = {
        "images": {"a": "a.jpg", "b": "b.jpg", "photo": "photo.jpg"},
        "masks": {"a_mask": "a_mask.png", "b_mask": "b_mask.png", "notes": "notes.png"},
    }
    assert renaming_hint(unpaired, ("images", "masks")) is None


def test_the_masks_rule_is_given_even_with_an_extra_mask_beside_it() -> None:
    # Every image has its <stem>_mask; one more mask of another name stays listed in the
    # error: the rule is still the way to pair the images.
    unpaired = {
        "images": {"a": "a.jpg", "b": "b.jpg"},
        "masks": {"a_mask": "a_mask.png", "b_mask": "b_mask.png", "notes": "notes.png"},
    }
    hint = renaming_hint(unpaired, ("images", "masks"))
    assert hint is not None and "the masks are named with '_mask' after it" in hint


def test_the_images_rule_when_the_masks_are_the_short_names() -> None:
    # The other way round from the usual: images named img_<stem>; the sentence names the
    # images (the side to rename) and gives an image for a mask as the example.
    unpaired = {"images": {"img_a": "img_a.jpg"}, "masks": {"a": "a.png"}}
    hint = renaming_hint(unpaired, ("images", "masks"))
    assert "the images are named with 'img_' before it (e.g. 'img_a.jpg' for 'a.png')" in hint
    assert hint.endswith("rename the images to drop it")


def test_no_rule_when_one_side_has_nothing_unpaired() -> None:
    unpaired = {"images": {"a": "a.jpg"}, "masks": {}}
    assert renaming_hint(unpaired, ("images", "masks")) is None


def test_map_pairs_take_the_least_added_rule_in_both_directions(tmp_path) -> None:
    preds = {s: tmp_path / f"{s}.png" for s in ("1", "11_pred", "1_pred")}
    # Maps named <stem>_pred: GT '1' pairs with '1_pred', not '11_pred'.
    hint = pairing_hint(["1"], ["11_pred", "1_pred"], preds, tmp_path, tmp_path / "gt")
    assert "with '_pred' after its name (e.g. '1_pred.png' for '1')" in hint, hint
    # GT masks named <stem>_mask, maps named <stem>: the GT's rule, with the map's file.
    hint = pairing_hint(["11_mask", "1_mask"], ["1"], preds, tmp_path, tmp_path / "gt")
    assert "with '_mask' after its name (e.g. GT '1_mask' for '1.png')" in hint, hint
    # Either side may be renamed here (the GT is the user's own), unlike maps named _pred.
    assert hint.endswith("rename the maps (or the GT masks) to match"), hint
