"""Which per-image file premask reads a part's scores from: the part's own file before a
combined one, a ``A+B`` file as well as DIS-TE1-4, files of unreadable names skipped; and every
part of a combined --split is checked (CPU, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.analysis.inputs import SplitImages
from pmgsam.analysis.scored_images import check_split_is_scored_images, combined_file_holding
from pmgsam.evaluation.scoring import EvaluationInputError

HEADER = "name,maxFm,MAE\n"


def _metrics(run: Path, files: dict) -> Path:
    metrics = run / "metrics"
    metrics.mkdir(parents=True)
    for name, rows in files.items():
        (metrics / f"{name}.per_image.csv").write_text(
            HEADER + "".join(f"{r},0.5,0.1\n" for r in rows)
        )
    return metrics


def _images(parts_stems) -> SplitImages:
    parts = [p for p, _ in parts_stems]
    stems = [s for _, s in parts_stems]
    paths = [Path(f"/d/{p}/{s}.jpg") for p, s in parts_stems]
    return SplitImages([f"{p}/{s}" for p, s in parts_stems], parts, stems, paths, paths)


def test_a_joined_split_file_holds_its_parts_and_bad_names_are_skipped(tmp_path) -> None:
    metrics = _metrics(tmp_path, {"DIS-TE1+DIS-TE1": [], "DIS-TE2+DIS-TE3": ["DIS-TE3/x"]})
    # 'DIS-TE1+DIS-TE1' names a part twice (not a split evaluate.py writes): skipped, no error.
    assert combined_file_holding(metrics, "DIS-TE1") is None
    assert combined_file_holding(metrics, "DIS-TE3") == metrics / "DIS-TE2+DIS-TE3.per_image.csv"


def test_the_parts_own_file_comes_before_a_combined_one(tmp_path) -> None:
    # Scored alone (x) and, earlier, within DIS-TE1-4 (y): the part's own scores are checked.
    _metrics(tmp_path, {"DIS-TE1": ["x"], "DIS-TE1-4": ["DIS-TE1/y"]})
    check_split_is_scored_images(tmp_path, _images([("DIS-TE1", "x")]), "DIS-TE1")


def test_every_part_of_a_combined_split_is_checked(tmp_path) -> None:
    # DIS-TE1 has no per-image scores (not checked); DIS-TE2's do not match the config's.
    _metrics(tmp_path, {"DIS-TE2": ["scored"]})
    images = _images([("DIS-TE1", "a"), ("DIS-TE2", "other")])
    with pytest.raises(EvaluationInputError, match=r"DIS-TE2: 1 the run did not score \(other\)"):
        check_split_is_scored_images(tmp_path, images, "DIS-TE1+DIS-TE2")
