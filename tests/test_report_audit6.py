"""Mutation audit 6: pmgsam.report given a scores file instead of a run (report's
_refuse_score_files): a run's own metrics/<split>.json names the run folder to give; a COS
scores file (ap.json) is refused too, its hint scoring with --task cos; a run's run.json
given as a file is still a run."""

from __future__ import annotations

import json

from pmgsam import report
from pmgsam.evaluation.run_json import write_run_json
from tests.cli_cases import cli, one_error_line


def test_a_run_s_split_scores_name_the_run_to_give(tmp_path, capsys):
    run = tmp_path / "results" / "pmgsam"
    write_run_json(run, "PMG-SAM", dis={"DIS-TE1": {"maxFm": 0.5}}, meta={"checkpoint": "w"})
    scores = run / "metrics" / "DIS-TE1.json"
    scores.parent.mkdir()
    scores.write_text(json.dumps({"maxFm": 0.5, "MAE": 0.1}), encoding="utf-8")
    code, err = cli(report.main, [str(scores), "--out", str(tmp_path / "t")], capsys)
    line = one_error_line(err)
    assert code == 2 and f"is one split's scores of the run '{run}': give that folder" in line


def test_a_cos_scores_file_is_refused_with_the_cos_command(tmp_path, capsys):
    scores = tmp_path / "ap.json"
    scores.write_text(json.dumps({"AP": 0.4, "AP50": 0.6}), encoding="utf-8")
    code, err = cli(report.main, [str(scores), "--out", str(tmp_path / "t")], capsys)
    line = one_error_line(err)
    assert code == 2 and "evaluate.py --task cos ... --run DIR --split NAME" in line


def test_a_dis_scores_file_s_hint_has_no_cos_task(tmp_path, capsys):
    scores = tmp_path / "metrics.json"
    scores.write_text(json.dumps({"maxFm": 0.5}), encoding="utf-8")
    code, err = cli(report.main, [str(scores), "--out", str(tmp_path / "t")], capsys)
    line = one_error_line(err)
    assert code == 2 and "evaluate.py ... --run DIR" in line and "--task cos" not in line


def test_a_run_json_given_as_a_file_is_tabled(tmp_path):
    run = tmp_path / "isnet"
    write_run_json(run, "IS-Net", dis={"DIS-TE1": {"maxFm": 0.5, "MAE": 0.25}})
    assert report.main([str(run / "run.json"), "--out", str(tmp_path / "t")]) == 0
    assert "IS-Net" in (tmp_path / "t" / "dis.csv").read_text(encoding="utf-8")
