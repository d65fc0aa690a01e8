"""A SAM fine-tuned with ``finetune_sam --limit`` (a quick look on the first images of each
split) must not pass for the fine-tuned baseline: its row name says so, the DIS and COS tables
name it in a note (also when ``--method`` renamed it), and it never merges into one row with a
full fine-tuning's run. Runs are hand-built; expected texts are written by hand. (The whole
command, fine-tuning then scoring, runs in tests/test_sam_finetune.py.)"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pmgsam.baselines.base import Baseline
from pmgsam.baselines.row import row_name
from pmgsam.baselines.settings import finetune_limit
from pmgsam.evaluation.run_merge import merge_same_method
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import cos_table, dis_table

DIS_VD = {"maxFm": 0.86, "wFmeasure": 0.81, "MAE": 0.04, "Smeasure": 0.88, "meanEm": 0.9}
COD = {"AP": 0.41, "AP50": 0.70, "AP75": 0.40, "protocol": "all", "num_images": 2026}


def _finetune(limit, train: int = 3040, val: int = 470) -> dict:
    """run.json's ``meta.finetune``: what it keeps of the fine-tuning record."""
    data = {"train_split": "DIS-TR", "val_split": "DIS-VD", "limit": limit}
    return {"best_epoch": 1, "data": {**data, "train_images": train, "val_images": val}}


def _label(limit) -> str:
    """The row-name prefix of a fine-tuned SAM ViT-B with that ``--limit`` (no model built)."""
    baseline = SimpleNamespace(
        family=SimpleNamespace(label=lambda model_type: "SAM ViT-B"),
        model_type="vit_b",
        fine_tuned=True,
        finetune_limit=finetune_limit(_finetune(limit)),
    )
    return Baseline.label.fget(baseline)


def test_row_name_of_a_subset_fine_tuning_says_so() -> None:
    full = SimpleNamespace(label=_label(None), mode="auto", prompt="auto")
    quick = SimpleNamespace(label=_label(8), mode="auto", prompt="auto")
    assert row_name(full, "union", cos=False) == "SAM ViT-B fine-tuned auto (union)"
    assert (
        row_name(quick, "union", cos=False)
        == "SAM ViT-B fine-tuned on a subset (--limit 8) auto (union)"
    )
    assert row_name(quick, "union", cos=True) == "SAM ViT-B fine-tuned on a subset (--limit 8) auto"
    # Records without the data section (or without a record) are no subset.
    assert finetune_limit({"best_epoch": 1}) is None and finetune_limit(None) is None


def test_tables_name_a_subset_fine_tuning_in_a_note() -> None:
    # Renamed with --method: the name no longer says it, the note still does.
    quick = {"method": "SAM-H ft", "meta": {"finetune": _finetune(8, 8, 8)}}
    full = {"method": "SAM-H ft (full)", "meta": {"finetune": _finetune(None)}}
    untuned = {"method": "SAM-H", "meta": {}}
    expected = (
        "Fine-tuned on a subset, NOT the fine-tuned baseline: SAM-H ft (--limit 8: 8 training, "
        "8 validation images)."
    )
    for run in (quick, full, untuned):
        run["dis"], run["cos"] = {"DIS-VD": DIS_VD}, {"COD10K": COD}
    for table in (dis_table([quick, full, untuned]), cos_table([quick, full, untuned])):
        assert expected in table.notes
        assert f"_{expected}_" in to_markdown(table)
    assert not any("subset" in n for n in dis_table([full, untuned]).notes)


def test_a_subset_fine_tuning_never_merges_with_a_full_one() -> None:
    # One --method name for a quick COD10K fine-tuning and a full NC4K one would make one row
    # whose name and meta (the first run's) hide that half of it is a quick look.
    full = {"method": "SAM ft", "cos": {"NC4K": COD}, "meta": {"finetune": _finetune(None)}}
    quick = {"method": "SAM ft", "cos": {"COD10K": COD}, "meta": {"finetune": _finetune(8)}}
    with pytest.raises(EvaluationInputError, match=r"fine-tuning --limit: None vs 8"):
        merge_same_method(["full", "quick"], [full, quick])
    other = {**quick, "cos": {"NC4K": COD}, "meta": {"finetune": _finetune(8)}}
    assert len(merge_same_method(["a", "b"], [quick, other])) == 1
