"""Audit of :mod:`pmgsam.ablation.gt`: which kept scores of a variant are scored again against
the ground truth found now, and what GT record a variant's scores keep."""

from __future__ import annotations

from pmgsam.ablation.gt import entry_gt, other_ground_truth

GT = {"fingerprint": "a" * 64, "images": 4, "skeletons": "b" * 64}
SCORES = {"MAE": 0.25, "num_images": 4}


def test_an_older_row_with_hce_is_scored_again_by_a_call_with_hce() -> None:
    # Only --no-hce keeps it unrecorded (scoring it again there would drop its HCE).
    older = {**SCORES, "HCE": 12.5}
    assert "do not record the ground truth" in other_ground_truth("v", older, GT, no_hce=False)
    assert other_ground_truth("v", older, GT, no_hce=True) is None


def test_an_older_row_without_hce_is_scored_again_even_with_no_hce() -> None:
    reason = other_ground_truth("v", dict(SCORES), GT, no_hce=True)
    assert "do not record the ground truth" in reason


def test_redrawn_skeletons_matter_only_to_scores_with_hce() -> None:
    then = {**GT, "skeletons": "c" * 64}
    with_hce = {**SCORES, "HCE": 3.0, "ground_truth": then}
    reason = other_ground_truth("v", with_hce, GT, no_hce=False)
    assert reason == "its GT skeletons (HCE) changed since it was scored"
    # Scores without HCE record no skeletons (entry_gt): the masks' match is enough.
    without = {**SCORES, "ground_truth": entry_gt(GT, SCORES)}
    assert other_ground_truth("v", without, GT, no_hce=True) is None
    assert other_ground_truth("v", {**SCORES, "ground_truth": then}, GT, no_hce=True) is None


def test_the_record_keeps_skeletons_only_with_hce() -> None:
    assert entry_gt(GT, SCORES) == {"fingerprint": "a" * 64, "images": 4}
    assert entry_gt(GT, {**SCORES, "HCE": 3.0}) == GT
    assert entry_gt(GT, {**SCORES, "HCE": None}) == {"fingerprint": "a" * 64, "images": 4}
