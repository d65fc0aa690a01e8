"""A folder-scored DIS row given --ske-dir but scored with --no-hce records no skeletons: its
scores do not depend on them, so a row of the same masks whose HCE used other skeletons shares
its column."""

from __future__ import annotations

from pmgsam.evaluation.run_json import load_runs
from pmgsam.evaluation.tables import build_tables
from tests.cli_cases import evaluate_main
from tests.test_folder_row_skeletons import _folder, _score


def test_a_row_without_hce_records_no_skeletons(tmp_path):
    _folder(tmp_path / "pred", 200)
    _folder(tmp_path / "gt", 255)
    _score(tmp_path, tmp_path / "A", _folder(tmp_path / "ske_a", 255))
    other = _folder(tmp_path / "ske_b", 255, top=5)  # other skeletons, same masks
    argv = ["--pred-dir", tmp_path / "pred", "--gt-dir", tmp_path / "gt", "--ske-dir", other,
            "--no-hce", "--out", tmp_path / "B" / "metrics" / "DIS-TE1.json", "--workers", 1,
            "--quiet", "--run", tmp_path / "B", "--split", "DIS-TE1", "--method", "B"]  # fmt: skip
    assert evaluate_main(argv) == 0
    runs = load_runs([tmp_path / "A", tmp_path / "B"])
    scores = runs[1]["dis"]["DIS-TE1"]
    assert scores.get("HCE") is None and "skeletons" not in scores["ground_truth"]
    assert "skeletons" in runs[0]["dis"]["DIS-TE1"]["ground_truth"]
    build_tables(runs)  # one column: only A's HCE depends on skeletons
