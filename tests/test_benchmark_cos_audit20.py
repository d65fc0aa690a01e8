"""Folder-dataset COS file names and the overlap check of a --run's maps, unit by unit: a split
whose DIS scores would be another split's COS GT or results file is refused too, and only maps
under RUN/pred (or the folder recorded for the entry) are the run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.analysis.overlap_instances import maps_of_run
from pmgsam.evaluation.benchmark_cos import _refuse_file_clashes, cos_scores_file
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import cos_entry


@pytest.mark.parametrize("other", ["a.cos", "a.cos.gt", "a.cos.results"])
def test_a_split_named_as_another_splits_cos_file_is_refused(other: str) -> None:
    # metrics/a.cos.gt.json (the COCO GT 'a' is scored against) would be the DIS scores of a
    # split 'a.cos.gt', and the two would replace each other.
    with pytest.raises(EvaluationInputError, match=rf"metrics/{other}\.json"):
        _refuse_file_clashes(["a", other], ["a"])
    # Without instance labels 'a' writes no COS files: nothing clashes.
    _refuse_file_clashes(["a", other], [])


def test_cos_file_names_and_entries() -> None:
    run = Path("run")
    assert cos_scores_file(run, "folder", "a") == run / "metrics" / "a.cos.json"
    assert cos_scores_file(run, "nc4k", "test") == run / "metrics" / "test.json"
    assert cos_entry("folder", "a") == "a"
    assert cos_entry("nc4k", "test") == "NC4K"


def test_only_maps_under_run_pred_are_the_runs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "pred" / "TOY").mkdir(parents=True)
    (run / "metrics").mkdir()
    (run / "run.json").write_text(json.dumps({"method": "M", "cos": {}}))
    assert maps_of_run(run, run / "pred" / "TOY", "TOY")
    # Inside the run folder but not its maps (scores, a copy put there): not the run's.
    assert not maps_of_run(run, run / "metrics", "TOY")
    assert not maps_of_run(run, run, "TOY")
