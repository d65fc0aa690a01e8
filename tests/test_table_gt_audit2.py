"""Audit of :func:`pmgsam.evaluation.table_gt.unrecorded_notes`: the note saying how an
older row gains its ground-truth record comes once, after every column's note."""

from __future__ import annotations

from pmgsam.evaluation.table_gt import unrecorded_notes

RECORD = {"fingerprint": "0" * 64, "images": 3}


def test_the_how_to_note_comes_once_after_the_columns_notes() -> None:
    rows = [
        {"test": {"MAE": 0.1, "ground_truth": RECORD}, "val": {"MAE": 0.1, "ground_truth": RECORD}},
        {"test": {"MAE": 0.2}, "val": {"MAE": 0.2}},
    ]
    notes = unrecorded_notes(["A", "B"], rows, ["test", "val"])
    assert [n.split(":")[0] for n in notes[:2]] == ["test", "val"]
    assert len(notes) == 3
    assert notes[2].startswith("Scoring such a row again with this pmgsam records")
