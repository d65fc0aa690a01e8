"""Computed-skeleton records, beyond test_table_gt_computed_skeletons: kept ablation scores
without HCE gain no skeletons record, and a refused column says which row's skeletons were
computed and which were files."""

from __future__ import annotations

import pytest

from pmgsam.ablation.gt import kept_record, other_ground_truth
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_gt import COMPUTED_SKELETONS, GT_KEY, refuse_mixed_ground_truth

MASKS = "a" * 64


def test_kept_scores_without_hce_gain_no_skeletons_record() -> None:
    # Scored with --no-hce: no HCE was measured against any skeletons, so the record must not
    # claim computed ones (a column would then refuse it beside an official-ske row).
    now = {"fingerprint": MASKS, "images": 2, "skeletons": COMPUTED_SKELETONS}
    no_hce = {"MAE": 0.2, "HCE": None, GT_KEY: {"fingerprint": MASKS, "images": 2}}
    assert other_ground_truth("v", no_hce, now, no_hce=False) is None
    assert kept_record(no_hce, now) == {"fingerprint": MASKS, "images": 2}
    # The record kept is a copy: the scores read from run.json are not changed under it.
    with_hce = {"MAE": 0.2, "HCE": 3.0, GT_KEY: {"fingerprint": MASKS, "images": 2}}
    assert kept_record(with_hce, now)["skeletons"] == COMPUTED_SKELETONS
    assert "skeletons" not in with_hce[GT_KEY]


@pytest.mark.parametrize("computed_first", [True, False])
def test_refused_column_says_whose_skeletons_were_computed(computed_first: bool) -> None:
    base = {"fingerprint": MASKS, "images": 2, "source": "data/DIS-TE1/gt"}
    computed = {"HCE": 3.0, GT_KEY: {**base, "skeletons": COMPUTED_SKELETONS}}
    files = {"HCE": 4.0, GT_KEY: {**base, "skeletons": "b" * 64}}
    rows = [("computed", computed), ("files", files)]
    if not computed_first:
        rows.reverse()
    methods = [m for m, _ in rows]
    entries = [{"DIS-TE1": e} for _, e in rows]
    with pytest.raises(EvaluationInputError) as err:
        refuse_mixed_ground_truth("dis", methods, entries, ["DIS-TE1"])
    message = str(err.value)
    assert "computed: 2 images from 'data/DIS-TE1/gt', skeletons computed from the masks" in message
    assert "files: 2 images from 'data/DIS-TE1/gt', GT skeleton files" in message
