"""Mutation audit 6: evaluate.py --run DIR --split NAME (pmgsam.evaluation.folder_row).

A folder's scores join a run.json row of their own: never a model's (given as its folder or
its run.json, or holding only the model's efficiency figures), refused before anything is
scored; a split scored again replaces its entry and the record of its maps, keeping the
others'; a relative --pred-dir is recorded as the folder it named.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pmgsam.evaluation.run_json import write_run_json
from tests.cli_cases import cli, evaluate_main, one_error_line
from tests.mask_cases import square_pair


def _argv(pred: Path, gt: Path, out: Path, *extra: object) -> list:
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", out, "--quiet", "--no-hce"]
    return [*argv, "--workers", 1, *extra]


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text(encoding="utf-8"))


def test_a_model_s_run_json_given_as_run_is_refused_before_scoring(tmp_path, capsys):
    # Looked for as '<run.json>/run.json', the model's row passed the check; the scores were
    # written and the row then failed with a FileExistsError traceback.
    pred, gt = square_pair(tmp_path)
    model = tmp_path / "pmgsam"
    write_run_json(model, "PMG-SAM", dis={"DIS-TE1": {"maxFm": 0.5}}, meta={"checkpoint": "w.pt"})
    before = (model / "run.json").read_text(encoding="utf-8")
    argv = _argv(pred, gt, tmp_path / "m.json", "--run", model / "run.json", "--split", "DIS-TE1")
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and "is the run of a model (checkpoint 'w.pt'" in one_error_line(err)
    assert (model / "run.json").read_text(encoding="utf-8") == before
    assert not (tmp_path / "m.json").exists()


def test_a_file_given_as_run_is_refused_naming_the_folder(tmp_path, capsys):
    pred, gt = square_pair(tmp_path)
    row = tmp_path / "isnet"
    row.mkdir()
    (row / "run.json").write_text("{}", encoding="utf-8")  # a row not yet written to
    argv = _argv(pred, gt, tmp_path / "m.json", "--run", row / "run.json", "--split", "DIS-TE1")
    code, err = cli(evaluate_main, argv, capsys)
    line = one_error_line(err)
    assert code == 2 and "is a file: --run names the row's folder" in line
    assert f"(e.g. '{row}')" in line and not (tmp_path / "m.json").exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    argv = _argv(pred, gt, tmp_path / "m.json", "--run", notes, "--split", "DIS-TE1")
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and "is a file" in one_error_line(err) and "e.g." not in err
    assert notes.read_text(encoding="utf-8") == "mine"


def test_a_model_s_efficiency_row_takes_no_folder_scores(tmp_path, capsys):
    # pmgsam.efficiency --run-dir writes its figures with no meta: the folder's scores were
    # merged into that row, beside the model's FPS.
    pred, gt = square_pair(tmp_path)
    row = tmp_path / "pmgsam"
    write_run_json(row, "PMG-SAM", efficiency={"fps": 3.0})
    before = (row / "run.json").read_text(encoding="utf-8")
    argv = _argv(pred, gt, tmp_path / "m.json", "--run", row, "--split", "DIS-TE1")
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and "is the run of a model (efficiency" in one_error_line(err)
    assert (row / "run.json").read_text(encoding="utf-8") == before


def test_each_model_meta_key_is_refused(tmp_path):
    import pytest

    from pmgsam.evaluation.folder_row import refuse_model_run
    from pmgsam.evaluation.scoring import EvaluationInputError

    for key in ("checkpoint", "checkpoint_resolved", "baseline", "weights_sha256"):
        run = tmp_path / key
        write_run_json(run, "X", dis={"DIS-TE1": {"MAE": 0.1}}, meta={key: "v"})
        with pytest.raises(EvaluationInputError, match=f"{key} 'v', row 'X'"):
            refuse_model_run(str(run))
    run = tmp_path / "listed"  # a meta that is not an object: no model named, not a crash
    write_run_json(run, "X", dis={"DIS-TE1": {"MAE": 0.1}})
    data = _record(run)
    data["meta"] = ["checkpoint"]
    (run / "run.json").write_text(json.dumps(data), encoding="utf-8")
    refuse_model_run(str(run))


def test_scoring_a_split_again_replaces_its_entry_and_keeps_the_others(tmp_path, capsys):
    perfect, gt = square_pair(tmp_path)
    faint, _ = square_pair(tmp_path, "wrong", wrong=True)
    run = tmp_path / "isnet"
    out = tmp_path / "m.json"
    for split, pred in (("DIS-TE1", perfect), ("DIS-TE2", perfect), ("DIS-TE1", faint)):
        argv = _argv(pred, gt, out, "--run", run, "--split", split, "--overwrite")
        assert evaluate_main(argv) == 0
    record = _record(run)
    assert record["dis"]["DIS-TE2"]["MAE"] == 0.0
    assert record["dis"]["DIS-TE1"]["MAE"] > 0.0  # the second maps', not the first scoring's
    maps = record["meta"]["scored_maps"]
    assert set(maps) == {"dis/DIS-TE1", "dis/DIS-TE2"}
    assert maps["dis/DIS-TE1"]["pred_dir"] == str(faint.resolve())
    assert maps["dis/DIS-TE2"]["pred_dir"] == str(perfect.resolve())
    assert maps["dis/DIS-TE1"]["gt"] == str(gt.resolve())
    assert "added dis 'DIS-TE1'" in capsys.readouterr().out


def test_relative_paths_are_recorded_as_the_folders_they_named(tmp_path, monkeypatch):
    pred, gt = square_pair(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rel_pred, rel_gt = os.path.relpath(pred), os.path.relpath(gt)
    argv = _argv(rel_pred, rel_gt, "m.json", "--run", "rows/isnet", "--split", "DIS-TE1")
    assert evaluate_main(argv) == 0
    record = _record(work / "rows" / "isnet")  # --run relative to where it was given
    assert record["method"] == "isnet"
    assert record["meta"]["scored_maps"]["dis/DIS-TE1"] == {
        "pred_dir": str(pred.resolve()),
        "gt": str(gt.resolve()),
    }


def test_method_renames_the_row_and_its_absence_keeps_the_name(tmp_path):
    pred, gt = square_pair(tmp_path)
    run = tmp_path / "isnet"
    out = tmp_path / "m.json"
    argv = _argv(pred, gt, out, "--run", run, "--split", "DIS-TE1", "--method", "IS-Net")
    assert evaluate_main(argv) == 0
    argv = _argv(pred, gt, out, "--run", run, "--split", "DIS-TE2", "--overwrite")
    assert evaluate_main(argv) == 0
    assert _record(run)["method"] == "IS-Net"


def test_a_run_among_the_inputs_is_refused_before_scoring(tmp_path, capsys):
    pred, gt = square_pair(tmp_path)
    for run in (pred, gt / "row"):
        argv = _argv(pred, gt, tmp_path / "m.json", "--run", run, "--split", "DIS-TE1")
        code, err = cli(evaluate_main, argv, capsys)
        assert code == 2 and f"--run '{run}'" in one_error_line(err)
        assert not (run / "run.json").exists() and not (tmp_path / "m.json").exists()


def test_cos_scoring_refuses_a_model_s_run_before_scoring(tmp_path, capsys):
    from tests.mask_cases import coco_annotation, coco_dict

    pred, _ = square_pair(tmp_path)
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco_dict((20, 20), [coco_annotation(1, 1, mask)])), "utf-8")
    model = tmp_path / "pmgsam"
    write_run_json(model, "PMG-SAM", cos={"COD10K": {"AP": 0.5}}, meta={"baseline": "sam"})
    before = (model / "run.json").read_text(encoding="utf-8")
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt_json, "--quiet"]
    argv += ["--out", tmp_path / "ap.json", "--run", model, "--split", "COD10K"]
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and "is the run of a model (baseline 'sam'" in one_error_line(err)
    assert (model / "run.json").read_text(encoding="utf-8") == before
    assert not (tmp_path / "ap.json").exists()


def test_out_as_the_row_s_run_json_is_refused_and_the_row_keeps_its_splits(tmp_path, capsys):
    # The scores replaced run.json (DIS-TE1's entry lost, their keys left at its top level)
    # before DIS-TE2 was added to what remained.
    pred, gt = square_pair(tmp_path)
    run = tmp_path / "isnet"
    argv = _argv(pred, gt, tmp_path / "m.json", "--run", run, "--split", "DIS-TE1")
    assert evaluate_main(argv) == 0
    before = (run / "run.json").read_text(encoding="utf-8")
    argv = _argv(pred, gt, run / "run.json", "--run", run, "--split", "DIS-TE2", "--overwrite")
    code, err = cli(evaluate_main, argv, capsys)
    line = one_error_line(err)
    assert code == 2 and "is --run's run.json" in line
    assert f"e.g. {run / 'metrics' / 'DIS-TE2'}.json" in line
    assert (run / "run.json").read_text(encoding="utf-8") == before
