"""The benchmark path of evaluate.py end to end: real ``predict_split`` on the tiny model, then
DIS scoring and COS AP, each checked against a reference computed outside the package
(the model called directly, pysodmetrics, pycocotools' COCOeval)."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
import torch
import yaml
from cli_cases import evaluate_main

import pmgsam
from pmgsam.data import build_dataset, unpad_and_resize
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.run_json import check_same_model, checkpoint_meta, write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.config import from_dict, to_dict

S = 64


# The frozen Hiera is conftest's small one (small_branches for each run's build): predictions and
# scores are compared with the model's own, whatever its size, and each run built Hiera-T.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture(scope="module")
def tiny(small_model_file) -> Dict[str, Any]:
    # Without checkpoint files the frozen branches get a fixed-seed init, so the model that
    # predict_split rebuilds from this file is this one (at S).
    path, model = small_model_file
    return {"path": path, "model": model.eval(), "root": path.parent}


def _config(tiny: Dict[str, Any], dataset: str, data_root: Path, tmp_path: Path) -> Path:
    splits = {"dis5k": ("DIS-TR", "DIS-VD", "DIS-TE1"), "cod10k": ("Train", None, "Test")}[dataset]
    cfg = {
        "model": to_dict(tiny["model"].config),
        "data": {
            "dataset": dataset,
            "root": str(data_root),
            "train_split": splits[0],
            "val_split": splits[1],
            "test_splits": [splits[2]],
            "num_workers": 0,
            "split_dir": str(tmp_path / "splits"),
        },
        "train": {"device": "cpu"},
        "output_dir": str(tmp_path / "unused"),
    }
    from_dict(ExperimentConfig, cfg)  # the file below must be a valid experiment config
    path = tmp_path / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _benchmark(tiny: Dict[str, Any], dataset: str, root: Path, split: str, tmp_path: Path):
    """Run ``evaluate.py`` benchmark mode on one split; returns the run folder and the split."""
    config = _config(tiny, dataset, root, tmp_path)
    run = tmp_path / "run"
    base = ["--config", str(config), "--checkpoint", str(tiny["path"]), "--device", "cpu"]
    args = base + ["--dataset", dataset, "--splits", split, "--output-dir", str(run)]
    assert evaluate_main(args + ["--workers", "1", "--quiet"]) == 0
    cfg = from_dict(ExperimentConfig, yaml.safe_load(config.read_text()))
    return run, build_dataset(cfg.data, split, S, train=False)


def test_dis_predict_split_and_scores(tiny, dis5k_root, tmp_path, capsys) -> None:
    run, ds = _benchmark(tiny, "dis5k", dis5k_root, "DIS-VD", tmp_path)
    assert "predict" not in capsys.readouterr().err  # --quiet: no progress bar
    assert len(ds) == 2
    model = tiny["model"]
    pairs = []
    for i, name in enumerate(ds.names):
        written = cv2.imread(str(run / "pred" / "DIS-VD" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        gt = cv2.imread(str(ds.mask_paths[i]), cv2.IMREAD_GRAYSCALE)
        assert written.dtype == np.uint8 and written.shape == gt.shape
        sample = ds[i]
        with torch.no_grad():
            prob = torch.sigmoid(model(sample["image"][None])["mask"])[0, 0]
        expected = np.rint(unpad_and_resize(prob, sample["orig_size"], S).numpy() * 255)
        assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1
        pairs.append((written, gt))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice
        refs = psm.Fmeasure(), psm.WeightedFmeasure(), psm.MAE(), psm.Smeasure(), psm.Emeasure()
    for pred, gt in pairs:
        for metric in refs:
            metric.step(pred, gt)
    fm, wfm, mae, sm, em = (m.get_results() for m in refs)
    reference = {
        "maxFm": fm["fm"]["curve"].max(),
        "wFmeasure": wfm["wfm"],
        "MAE": mae["mae"],
        "Smeasure": sm["sm"],
        "meanEm": em["em"]["curve"].mean(),
    }
    scores = json.loads((run / "metrics" / "DIS-VD.json").read_text())
    assert scores["num_images"] == 2
    for key, value in reference.items():
        assert abs(scores[key] - value) <= 1e-9, key
    record = json.loads((run / "run.json").read_text())
    assert record["dis"]["DIS-VD"]["MAE"] == scores["MAE"]
    # Which weights the maps came from, for analyses that would predict into the run later.
    expected = hashlib.sha256(Path(tiny["path"]).read_bytes()).hexdigest()
    assert record["meta"]["weights_sha256"] == expected


def test_cos_predict_split_and_ap(tiny, cod10k_root, tmp_path, cocoeval_stats) -> None:
    from pycocotools.coco import COCO

    run, ds = _benchmark(tiny, "cod10k", cod10k_root, "Test", tmp_path)
    pngs = sorted(p.stem for p in (run / "pred" / "Test").glob("*.png"))
    assert pngs == sorted(ds.names)
    scores = json.loads((run / "metrics" / "Test.json").read_text())
    results = run / "metrics" / "Test.results.json"
    coco_gt = COCO()
    coco_gt.dataset = ds.coco_gt()
    coco_gt.createIndex()
    assert scores["num_images"] == len(coco_gt.getImgIds()) == 3
    assert scores["num_results"] > 0  # the random model's map does cross 0.5 somewhere
    assert scores["stats"] == pytest.approx(cocoeval_stats(coco_gt, results), abs=1e-12)


def test_benchmark_refuses_a_run_folder_of_another_checkpoint(tiny, dis5k_root, tmp_path) -> None:
    # A second checkpoint scored into the same folder used to be merged into the first one's
    # run.json: its DIS-TE1 next to the other model's DIS-VD, in one table row.
    run, _ = _benchmark(tiny, "dis5k", dis5k_root, "DIS-VD", tmp_path)
    record = (run / "run.json").read_bytes()
    other = shutil.copy(tiny["path"], tmp_path / "other.safetensors")
    config = tmp_path / "dis5k.yaml"
    args = ["--config", config, "--checkpoint", other, "--dataset", "dis5k", "--splits",
            "DIS-TE1", "--output-dir", run, "--device", "cpu", "--quiet"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        evaluate_main([str(a) for a in args])
    assert (run / "run.json").read_bytes() == record and not (run / "pred" / "DIS-TE1").exists()
    (run / "run.json").write_text("[1]")
    with pytest.raises(EvaluationInputError, match=r"run\.json' holds a JSON list"):
        evaluate_main([str(a) for a in args])


def test_benchmark_loads_the_model_once_for_all_splits(
    tiny, dis5k_root, tmp_path, monkeypatch
) -> None:
    # Each split used to load (and, with performance.compile, compile) the model again.
    from pmgsam.engine import inference

    loads = []

    def counted(*args, **kwargs):
        loads.append(args[0])
        return pmgsam.load_pretrained(*args, **kwargs)

    monkeypatch.setattr(inference, "load_pretrained", counted)
    run = tmp_path / "run"
    args = ["--config", _config(tiny, "dis5k", dis5k_root, tmp_path), "--checkpoint", tiny["path"],
            "--device", "cpu", "--dataset", "dis5k", "--splits", "DIS-VD,DIS-TE1",
            "--output-dir", run, "--quiet"]  # fmt: skip
    assert evaluate_main([str(a) for a in args]) == 0
    assert loads == [str(tiny["path"])]
    assert set(json.loads((run / "run.json").read_text())["dis"]) == {"DIS-VD", "DIS-TE1"}


def test_same_checkpoint_scored_from_another_directory_is_the_same_model(
    tmp_path, monkeypatch
) -> None:
    # The run records where its checkpoint resolved to, so a later run naming the same file by
    # another relative path (from another working directory) adds to it; another file does not.
    (tmp_path / "a" / "runs").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    write_run_json(tmp_path / "res", "m", dis={"DIS-VD": {"MAE": 0.1}},
                   meta=checkpoint_meta("runs/x"))  # fmt: skip
    monkeypatch.chdir(tmp_path / "b")
    check_same_model(tmp_path / "res", "../a/runs/x")
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint 'runs/x'"):
        check_same_model(tmp_path / "res", "runs/x")  # b/runs/x: another file
