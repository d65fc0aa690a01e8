"""Table notes in the cases the other tests' inputs cannot tell apart: a subset fine-tuning
whose training and validation image counts differ, and a row whose score records no image
count."""

from __future__ import annotations

from pmgsam.evaluation.table_notes import finetune_subset_notes, unequal_image_counts


def test_a_subset_fine_tuning_note_gives_each_split_its_own_image_count() -> None:
    # --limit 8 over a validation split of only 3 images: 8 trained on, 3 validated on.
    data = {"train_split": "DIS-TR", "val_split": "DIS-VD", "limit": 8}
    meta = {"finetune": {"data": {**data, "train_images": 8, "val_images": 3}}}
    runs = [{"method": "SAM ft", "meta": meta}, {"method": "ours", "meta": {}}]
    assert finetune_subset_notes(runs) == [
        "Fine-tuned on a subset, NOT the fine-tuned baseline: SAM ft (--limit 8: 8 training, "
        "3 validation images)."
    ]


def test_a_row_without_an_image_count_leaves_the_group_ranked() -> None:
    # A count nobody recorded is not a different count: only known counts are compared.
    rows = [
        {"DIS-VD": {"MAE": 0.1, "num_images": 470}},
        {"DIS-VD": {"MAE": 0.2}},
        {"DIS-VD": {"MAE": 0.3, "num_images": 470}, "DIS-TE1": {"MAE": 0.4, "num_images": 2}},
        {"DIS-TE1": {"MAE": 0.5, "num_images": 500}},
    ]
    assert unequal_image_counts(rows, ["DIS-VD", "DIS-TE1"]) == {"DIS-TE1": [2, 500]}
