"""Training, scoring, analysis and ablation commands never write over or among their inputs.

Each case is a command line a user could plausibly type (re-running a tool on its own output,
pointing ``--out`` at the GT folder): it must end with one error line and exit 2, with every
input byte unchanged. Before these checks each of them exited 0 after replacing or adding
files (the scores JSON over a GT mask, the subset GT over the input GT, ...).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main, train_main
from mask_cases import coco_dict

from pmgsam import report
from pmgsam.ablate import main as ablate_main
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.data.synthetic import generate
from pmgsam.engine.inference import main as inference_main
from pmgsam.utils.cli import exit_status
from pmgsam.utils.outputs import OutputError

ROOT = Path(__file__).resolve().parents[1]


def digest(*roots: Path) -> Dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*") if root.is_dir() else [root])
        if p.is_file()
    }


@pytest.fixture
def pairs(tmp_path: Path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        mask = np.zeros((30, 40), np.uint8)
        mask[5:20, 8:30] = 255
        cv2.imwrite(str(gt / f"{name}.png"), mask)
        cv2.imwrite(str(pred / f"{name}.png"), rng.integers(0, 255, (30, 40), np.uint8))
    return pred, gt


def refused(main, argv, capsys, *inputs: Path, expect: str = "") -> str:
    before = digest(*inputs)
    code = exit_status(main, argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert expect in err
    assert digest(*inputs) == before
    return err


@pytest.mark.parametrize("target", ["gt_file", "in_gt", "in_pred"])
def test_scoring_refuses_out_among_its_inputs(pairs, capsys, target) -> None:
    pred, gt = pairs
    out = {"gt_file": gt / "a.png", "in_gt": gt / "m.json", "in_pred": pred / "m.json"}[target]
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", out]
    err = refused(evaluate_main, argv, capsys, pred, gt, expect="--out")
    # A GT mask's name is refused as an input first: its .png suffix is not the mistake.
    assert "input folder" in err and "written as JSON" not in err
    assert sorted(p.name for p in gt.iterdir()) == ["a.png", "b.png"]


def test_cos_scoring_refuses_out_equal_to_its_gt_json(pairs, tmp_path, capsys) -> None:
    pred, _ = pairs
    gt_json = tmp_path / "instances.json"
    gt_json.write_text('{"images": [], "annotations": [], "categories": []}')
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt_json, "--out", gt_json]
    refused(evaluate_main, argv, capsys, gt_json, expect="is the input file")


def test_inference_refuses_premask_out_equal_to_out(tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((20, 20, 3), np.uint8))
    out = tmp_path / "maps"
    argv = ["--checkpoint", tmp_path / "none.safetensors", "--input", images, "--out", out]
    refused(inference_main, [*argv, "--premask-out", out], capsys, images, expect="--premask-out")
    # A Pre-Mask folder inside the final maps' folder mixes them too.
    refused(inference_main, [*argv, "--premask-out", out / "pre"], capsys, images)


def test_overlap_rerun_on_its_own_output_keeps_the_input_gt(tmp_path, capsys) -> None:
    folder = tmp_path / "subset"
    folder.mkdir()
    gt_json = folder / "overlap_gt.json"
    square = [[2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": square}
    gt_json.write_text(json.dumps(coco_dict((10, 10), [ann])))
    argv = ["overlap", "--gt-json", gt_json, "--name", "x", "--out", folder]
    refused(analysis_main, argv, capsys, gt_json, expect="overlap_gt.json")


def test_ablate_refuses_the_grid_folder_as_output(tmp_path, capsys) -> None:
    grid = tmp_path / "ablations"
    shutil.copytree(ROOT / "configs" / "ablations", grid)
    argv = ["--grid", grid, "--output-dir", grid]
    refused(ablate_main, argv, capsys, grid, expect="--output-dir")


@pytest.fixture
def dis_run(tmp_path: Path):
    data = generate("dis5k", tmp_path / "data", num=2, seed=0, size=(48, 40))
    run = tmp_path / "run"
    for kind in ("pred", "premask"):
        (run / kind / "DIS-TE1").mkdir(parents=True)
    common = ["--config", "configs/demo.yaml", "--split", "DIS-TE1", "--data-root", data]
    return data, run, common


@pytest.mark.parametrize("command", ["figures", "premask"])
def test_analyses_refuse_out_in_prediction_or_dataset_folders(
    dis_run, capsys, monkeypatch, command
) -> None:
    data, run, common = dis_run
    monkeypatch.chdir(ROOT)
    runs = ["--runs", run] if command == "figures" else ["--run", run]
    for out in (run / "pred" / "DIS-TE1", data / "DIS-TE1" / "gt"):
        argv = [command, *runs, *common, "--out", out]
        refused(analysis_main, argv, capsys, run, data, expect="input folder")


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_output_files_that_cannot_be_written_are_named_before_any_work(
    pairs, tmp_path, capsys, where
) -> None:
    from pmgsam.efficiency.cli import main as efficiency_main

    pred, gt = pairs
    target = tmp_path / "a_folder" if where == "folder" else gt / "a.png" / "m.json"
    if where == "folder":
        target.mkdir()
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", target]
    refused(evaluate_main, argv, capsys, pred, gt, expect=f"--out '{target}'")
    # The efficiency report refuses its --json before timing anything (no model is built).
    argv = ["--model", "pmgsam_tiny", "--device", "cpu", "--json", target]
    refused(efficiency_main, argv, capsys, gt, expect=f"--json '{target}'")


def demo_run(out: Path, data_root: Path, *extra: str) -> list:
    return ["--config", ROOT / "configs/demo.yaml", "--output-dir", out, "train.device=cpu",
            f"data.root={data_root}", *extra]  # fmt: skip


@pytest.mark.parametrize(
    "files",
    [
        {"config.yaml": "model: {hiera: large}\n"},  # the user's own config, alone
        {"metrics.jsonl": '{"note": "another tool"}\n', "train.log": "x\n", "a.png": "x"},
        {".notes.tmp": "draft"},  # a run deletes hidden .tmp files it thinks it left
    ],
)
def test_train_refuses_a_non_empty_folder_that_holds_no_run(tmp_path, capsys, files) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = digest(out)
    assert exit_status(train_main, demo_run(out, tmp_path / "absent")) == 2
    printed = capsys.readouterr()
    err = printed.err
    assert "holds no PMG-SAM run" in err and str(out) in err
    assert "outputs go to" not in printed.out  # a refused folder is not announced
    assert digest(out) == before and sorted(p.name for p in out.iterdir()) == sorted(files)


def test_train_restarts_an_attempt_that_failed_before_its_first_checkpoint(
    tmp_path, capsys
) -> None:
    # A wrong dataset path fails after the run folder got its config.yaml and train.log; the
    # corrected command must start there, and the folder must not count as foreign.
    out = tmp_path / "run"
    assert exit_status(train_main, demo_run(out, tmp_path / "absent")) == 2
    assert "absent" in capsys.readouterr().err
    # (and the lock file of the one training process a run folder may have at a time)
    assert sorted(p.name for p in out.iterdir()) == [".pmgsam-run.lock", "config.yaml", "train.log"]
    assert exit_status(train_main, demo_run(out, tmp_path / "still_absent")) == 2
    err = capsys.readouterr().err
    assert "still_absent" in err and "holds no PMG-SAM run" not in err
    assert "still_absent" in (out / "config.yaml").read_text()  # the new attempt's config


def test_train_refuses_a_run_caught_between_its_checkpoint_renames(tmp_path, capsys) -> None:
    # Only checkpoints/.last.old holds the state: still a run, to be resumed, not restarted.
    old = tmp_path / "run" / "checkpoints" / ".last.old"
    old.mkdir(parents=True)
    (old / "state.pt").write_bytes(b"state")
    assert exit_status(train_main, demo_run(tmp_path / "run", tmp_path / "absent")) == 2
    assert "--resume" in capsys.readouterr().err
    assert (old / "state.pt").read_bytes() == b"state"


def _run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps({"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.5, "num_images": 1}}})
    )
    return folder


@pytest.mark.parametrize("kind", ["pred", "premask", "priors"])
def test_report_refuses_to_write_tables_into_a_runs_map_folder(tmp_path: Path, kind: str):
    run = _run(tmp_path / "run")
    maps = run / kind
    maps.mkdir()
    (maps / "img1.png").write_bytes(b"")
    # OutputError itself (any exception naming --out, argparse's usage error included, would
    # have passed before), for the map folder and for a folder inside it.
    for out in (maps, maps / "tables"):
        where = "is" if out == maps else "lies inside"
        words = f"--out '{out}' {where} the input folder '{maps}': the tables would be written"
        with pytest.raises(OutputError, match=re.escape(words)):
            report.main([str(run), "--out", str(out)])
    assert sorted(p.name for p in maps.iterdir()) == ["img1.png"]
