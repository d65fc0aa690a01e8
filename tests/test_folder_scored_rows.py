"""Another method's maps, scored as a folder, as a row of pmgsam.report's tables.

``evaluate.py --pred-dir ... --run DIR --split NAME --method ROW`` adds the scores to
DIR/run.json; the report tables the row beside a model's run. Expectations: PySODMetrics' own
scores of the same arrays, pycocotools' AP of hand-made instances.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam import report
from pmgsam.evaluation.run_json import write_run_json
from tests.cli_cases import cli, evaluate_main, one_error_line
from tests.mask_cases import coco_annotation, coco_dict, make_pair, pysod_scores


def _dis_split(root: Path, split: str, seed: int) -> tuple:
    gt_dir, pred_dir = root / split / "gt", root / "maps" / split
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    pairs = []
    for i in range(2):
        pred, gt = make_pair(48, 64, seed + i)
        Image.fromarray(gt).save(gt_dir / f"{split}_{i}.png")
        Image.fromarray(pred).save(pred_dir / f"{split}_{i}.png")
        pairs.append((pred, gt))
    return pred_dir, gt_dir, pairs


def _score(pred: Path, gt: Path, out: Path, *extra: object) -> None:
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", out, "--workers", 1, "--quiet"]
    assert evaluate_main([*argv, "--no-hce", *extra]) == 0


def test_scored_folders_make_a_row_beside_a_model_run(tmp_path, capsys):
    run = tmp_path / "results" / "isnet"
    expected = {}
    for seed, split in enumerate(("DIS-TE1", "DIS-TE2")):
        pred, gt, pairs = _dis_split(tmp_path, split, 10 * seed)
        out = run / "metrics" / f"{split}.json"
        _score(pred, gt, out, "--run", run, "--split", split, "--method", "IS-Net")
        expected[split] = pysod_scores(pairs)
    model = tmp_path / "results" / "pmgsam"
    write_run_json(model, "PMG-SAM", dis={"DIS-TE1": {"maxFm": 0.5}}, meta={"checkpoint": "w.pt"})
    capsys.readouterr()
    assert report.main([str(model), str(run), "--out", str(tmp_path / "tables")]) == 0
    rows = list(csv.reader((tmp_path / "tables" / "dis.csv").open(encoding="utf-8")))
    isnet = dict(zip(rows[0], next(r for r in rows if r[0] == "IS-Net")))
    for split, scores in expected.items():  # the table rounds to 3 places
        assert float(isnet[f"{split} maxFβ↑"]) == pytest.approx(scores["maxFm"], abs=5e-4)
        assert float(isnet[f"{split} MAE↓"]) == pytest.approx(scores["MAE"], abs=5e-4)
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["method"] == "IS-Net" and set(record["dis"]) == {"DIS-TE1", "DIS-TE2"}
    assert record["dis"]["DIS-TE2"]["wFmeasure"] == pytest.approx(expected["DIS-TE2"]["wFmeasure"])
    assert record["meta"]["scored_maps"]["dis/DIS-TE1"]["pred_dir"].endswith("DIS-TE1")


def test_cos_scores_go_under_the_table_column(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    mask = np.zeros((30, 40), bool)
    mask[5:20, 5:25] = True
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(coco_dict((30, 40), [coco_annotation(1, 1, mask)])))
    pred = np.zeros((30, 40), bool)
    pred[7:20, 5:25] = True  # IoU 13/15: a hit at 0.5-0.85, a miss above
    (tmp_path / "maps").mkdir()
    Image.fromarray(pred.astype(np.uint8) * 255).save(tmp_path / "maps" / "a.png")
    run = tmp_path / "theirs"
    argv = ["--task", "cos", "--pred-dir", tmp_path / "maps", "--gt-json", gt_file, "--quiet"]
    assert (
        evaluate_main([*argv, "--out", tmp_path / "ap.json", "--run", run, "--split", "COD10K"])
        == 0
    )
    gt = COCO(str(gt_file))
    dt = gt.loadRes([dict(coco_annotation(1, 1, pred), score=1.0)])
    ev = COCOeval(gt, dt, "segm")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["method"] == "theirs"  # no --method: the folder's name
    assert record["cos"]["COD10K"]["AP"] == pytest.approx(ev.stats[0])


def test_a_model_run_is_refused_as_the_run_of_scored_maps(tmp_path, capsys):
    pred, gt, _ = _dis_split(tmp_path, "DIS-TE1", 0)
    model = tmp_path / "pmgsam"
    write_run_json(model, "PMG-SAM", dis={"DIS-TE1": {"maxFm": 0.5}}, meta={"checkpoint": "w.pt"})
    before = (model / "run.json").read_text(encoding="utf-8")
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", tmp_path / "m.json", "--quiet"]
    code, err = cli(evaluate_main, [*argv, "--run", model, "--split", "DIS-TE1"], capsys)
    assert code == 2 and "is the run of a model (checkpoint 'w.pt'" in one_error_line(err)
    assert (model / "run.json").read_text(encoding="utf-8") == before
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--split", "DIS-TE1"], "--split names a table row's entry: it needs --run"),
        (["--method", "X"], "--method names a table row's entry: it needs --run"),
        (["--run", "r"], "--run needs --split"),
    ],
)
def test_row_options_need_each_other(tmp_path, capsys, extra, says):
    argv = ["--pred-dir", tmp_path, "--gt-dir", tmp_path, "--out", tmp_path / "m.json"]
    code, err = cli(evaluate_main, [*argv, *extra], capsys)
    assert code == 2 and says in one_error_line(err)


def test_report_given_a_scores_file_says_how_to_make_a_row(tmp_path, capsys):
    pred, gt, _ = _dis_split(tmp_path, "DIS-TE1", 0)
    _score(pred, gt, tmp_path / "metrics.json")
    argv = [str(tmp_path / "metrics.json"), "--out", str(tmp_path / "tables")]
    code, err = cli(report.main, argv, capsys)
    assert code == 2 and "--run DIR --split NAME" in one_error_line(err)


def test_a_folder_scored_row_takes_no_model_s_scores_or_figures(tmp_path: Path) -> None:
    # Benchmark or baseline mode (check_same_model) and the efficiency report
    # (check_measured_model) found no checkpoint in such a run.json and merged into the row.
    from pmgsam.evaluation.run_json import check_measured_model, check_same_model
    from pmgsam.evaluation.scoring import EvaluationInputError
    from pmgsam.modeling.config import ModelConfig

    row = tmp_path / "results" / "isnet"
    write_run_json(row, "IS-Net", dis={"DIS-TE1": {"MAE": 0.1}},
                   meta={"scored_maps": {"dis/DIS-TE1": {"pred_dir": "p", "gt": "g"}}})  # fmt: skip
    with pytest.raises(EvaluationInputError, match="maps scored as folders"):
        check_same_model(row, tmp_path / "model.safetensors")
    with pytest.raises(EvaluationInputError, match="maps scored as folders"):
        check_measured_model(row, ModelConfig())
    check_same_model(tmp_path / "results" / "new", tmp_path / "model.safetensors")  # no run.json
