"""One table column never holds scores of two different ground truths (pmgsam.report).

Two own datasets in the ``folder`` layout, each with a split ``test`` of the same size and
file names but other masks, gave one DIS column ``test`` whose rows were ranked as if
measured on the same images. Every writer now records the GT's content fingerprint with its
entry (:mod:`pmgsam.evaluation.table_gt`); the report refuses such a column, keeps the same
data copied to another path in one column, and tables entries of older pmgsam as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import pmgsam
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.table_gt import GT_KEY, coco_record, dataset_record, pooled_record
from pmgsam.evaluation.tables import build_tables, cos_table, dis_table
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import save_model
from pmgsam.report import main as report_main
from pmgsam.utils.config import to_dict
from tests.cli_cases import cli, evaluate_main, one_error_line
from tests.mask_cases import coco_annotation, coco_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _own_dataset(root: Path, shift: int) -> Path:
    """``root/test/images|masks``: three 40x48 pairs named p0..p2; ``shift`` moves the masks."""
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (root / "test" / folder).mkdir(parents=True)
    for i in range(3):
        image = rng.integers(0, 255, (40, 48, 3), np.uint8)
        cv2.imwrite(str(root / "test" / "images" / f"p{i}.jpg"), image)
        mask = np.zeros((40, 48), np.uint8)
        mask[5 + shift : 20 + i + shift, 8:30] = 255
        cv2.imwrite(str(root / "test" / "masks" / f"p{i}.png"), mask)
    return root


def _benchmark(tmp_path: Path, root: Path, out: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "m.safetensors"
    if not weights.is_file():
        save_model(pmgsam.build_model("pmgsam_tiny", image_size=64), weights)
    model = to_dict(model_config("pmgsam_tiny", image_size=64))
    data = {"dataset": "folder", "root": str(root), "num_workers": 0, "test_splits": ["test"]}
    config = tmp_path / f"{root.name}.yaml"
    config.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--workers", 1, "--no-hce", "--output-dir", out]  # fmt: skip
    assert evaluate_main(argv) == 0


def _score_folder(pred: Path, gt: Path, run: Path, method: str) -> None:
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", run / "metrics" / "test.json",
            "--workers", 1, "--no-hce", "--quiet", "--run", run, "--split", "test",
            "--method", method]  # fmt: skip
    with pytest.warns(UserWarning, match="names no column"):
        assert evaluate_main(argv) == 0


def test_two_same_size_datasets_with_split_test_are_refused_one_copied_is_one_column(
    tmp_path, capsys
):
    own1 = _own_dataset(tmp_path / "own1", shift=0)
    own2 = _own_dataset(tmp_path / "own2", shift=4)  # same names and count, other masks
    ours = tmp_path / "results" / "A"
    _benchmark(tmp_path, own1, ours)
    # Another method's maps (here the same maps) scored against own2's GT: another dataset.
    other = tmp_path / "results" / "B"
    _score_folder(ours / "pred" / "test", own2 / "test" / "masks", other, "B")
    capsys.readouterr()
    code, err = cli(report_main, [str(ours), str(other), "--out", str(tmp_path / "t")], capsys)
    line = one_error_line(err)
    assert code == 2 and "DIS column 'test': rows 'A' and 'B'" in line
    assert str((own1 / "test" / "masks").resolve()) in line
    assert str((own2 / "test" / "masks").resolve()) in line
    assert not (tmp_path / "t" / "dis.md").exists()

    # own1 copied elsewhere (another machine's path): the same GT, one column, ranked.
    copy = tmp_path / "elsewhere" / "own1"
    shutil.copytree(own1, copy)
    same = tmp_path / "results" / "C"
    _score_folder(ours / "pred" / "test", copy / "test" / "masks", same, "C")
    recorded = [
        json.loads((run / "run.json").read_text(encoding="utf-8"))["dis"]["test"][GT_KEY]
        for run in (ours, same)
    ]
    assert recorded[0]["fingerprint"] == recorded[1]["fingerprint"]
    assert recorded[0]["images"] == recorded[1]["images"] == 3
    assert recorded[0]["source"] != recorded[1]["source"]
    assert report_main([str(ours), str(same), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t" / "dis.md").read_text(encoding="utf-8")
    assert md.count("### test") == 1 and "| A |" in md and "| C |" in md
    assert "**" in md  # the same maps on the same GT: best marked (tied)


def _entry(value: float, record: dict | None = None) -> dict:
    entry = {"maxFm": value, "MAE": 0.1, "num_images": 3}
    return {**entry, GT_KEY: record} if record else entry


def test_runs_of_older_pmgsam_table_as_before_and_are_noted_beside_recorded_ones(tmp_path):
    # Older run.json files record no GT: two of other datasets still share the column, as
    # before (nothing can tell them apart), with no note.
    old = [{"method": m, "dis": {"test": _entry(v)}} for m, v in (("A", 0.5), ("B", 0.7))]
    table = dis_table(old)
    assert [t for t, _ in table.groups] == ["test"] and table.unranked == []
    assert not any("not recorded" in n for n in table.notes)
    # Beside a recorded row: tabled, and the old row is named as not checked.
    record = {"fingerprint": "ab" * 32, "images": 3, "source": "/d/test/masks"}
    new = {"method": "C", "dis": {"test": _entry(0.6, record)}}
    table = dis_table([*old, new])
    assert [m for m, _ in table.rows] == ["A", "B", "C"]
    assert any(n.startswith("test: the ground truth of A, B is not recorded") for n in table.notes)


def test_overall_pooled_from_parts_matches_a_set_scored_as_one_and_refuses_another(tmp_path):
    masks = {}
    for part in ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"):
        folder = tmp_path / part
        folder.mkdir()
        for i in range(2):
            cv2.imwrite(str(folder / f"{part}_{i}.png"), np.full((4, 4), 40 * i, np.uint8))
        masks[part] = type("Split", (), {"mask_paths": sorted(folder.glob("*.png"))})()
    parts = {p: _entry(0.5, dataset_record(ds)) for p, ds in masks.items()}
    whole = dataset_record(*masks.values())  # DIS-TE scored as one set (benchmark mode)
    assert pooled_record(list(parts.values()))["fingerprint"] == whole["fingerprint"]
    pooled = {"method": "P", "dis": parts}
    one_set = {"method": "S", "dis": {"DIS-TE1-4": {**_entry(0.6), "num_images": 8, GT_KEY: whole}}}
    assert "Overall (TE1-4)" in [t for t, _ in dis_table([pooled, one_set]).groups]
    # A cleaned DIS-TE3 (one mask redrawn): Overall no longer pools the same images.
    cv2.imwrite(str(tmp_path / "DIS-TE3" / "DIS-TE3_1.png"), np.zeros((4, 4), np.uint8))
    parts["DIS-TE3"] = _entry(0.5, dataset_record(masks["DIS-TE3"]))
    with pytest.raises(ValueError, match=r"DIS column 'Overall \(TE1-4\)': rows 'P' and 'S'"):
        build_tables([{"method": "P", "dis": parts}, one_set])


def test_cos_column_of_two_instance_ground_truths_is_refused(tmp_path):
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 1
    gt = coco_dict((8, 10), [coco_annotation(1, 1, mask)])
    path = tmp_path / "Test.gt.json"
    path.write_text(json.dumps(gt), encoding="utf-8")
    # The file a folder row scored against and the dict benchmark mode built: one GT.
    assert coco_record(path, "f")["fingerprint"] == coco_record(gt, "d")["fingerprint"]
    moved = coco_dict((8, 10), [coco_annotation(1, 1, np.roll(mask, 1, axis=1))])
    rows = [
        {"method": m, "cos": {"COD10K": {"AP": 0.5, "protocol": "all", GT_KEY: coco_record(g, s)}}}
        for m, g, s in (("A", gt, "official"), ("B", moved, "cleaned"))
    ]
    with pytest.raises(ValueError, match="COS column 'COD10K': rows 'A' and 'B'.*'official'"):
        cos_table(rows)
    write_run_json(tmp_path / "a", "A", cos=rows[0]["cos"])
    write_run_json(tmp_path / "b", "B", cos={"COD10K": {**rows[0]["cos"]["COD10K"], "AP": 0.4}})
    assert (
        report_main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "t")]) == 0
    )


def test_a_baseline_row_records_its_whole_split_s_ground_truth_with_limit(sam_file, tmp_path):
    # --limit scores the first image only; the record is of the split (as benchmark mode's and
    # a folder row's on its masks), so the row shares the column, marked as part of the split.
    from pmgsam.evaluation.table_gt import mask_record

    own1 = _own_dataset(tmp_path / "own1", shift=0)
    data = {"dataset": "folder", "root": str(own1), "num_workers": 0, "test_splits": ["test"]}
    config = tmp_path / "box.yaml"
    config.write_text(yaml.safe_dump({"data": data, "train": {"device": "cpu"}}))
    box = tmp_path / "box"
    argv = ["--baseline", "sam-box", "--checkpoint", sam_file[0], "--config", config,
            "--splits", "test", "--output-dir", box, "--device", "cpu", "--quiet", "--limit", 1,
            "--model-image-size", 64, "--speed-iters", 0, "--workers", 1]  # fmt: skip
    assert evaluate_main(argv) == 0
    entry = json.loads((box / "run.json").read_text(encoding="utf-8"))["dis"]["test"]
    # Its HCE used skeletons computed from the masks (a folder dataset has no skeleton files).
    whole = {**mask_record(sorted((own1 / "test" / "masks").glob("*.png"))), "skeletons": "0" * 64}
    assert entry["num_images"] == 1 and entry[GT_KEY] == whole and whole["images"] == 3


def test_nc4k_benchmark_row_and_a_row_scored_against_its_coco_file_share_the_column(
    small_tiny_model, small_branches, nc4k_root: Path, tmp_path: Path
) -> None:
    from tests.cos_cases import evaluate, tiny_config

    # Small frozen Hiera (small_branches for the run's own build): the records and scores
    # checked here do not depend on its size, and Hiera-T took most of the run.
    weights = save_model(small_tiny_model, tmp_path / "model.safetensors")
    data = {"dataset": "nc4k", "root": str(nc4k_root), "train_split": "train",
            "val_split": None, "test_splits": ["test"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    run = tmp_path / "run"
    assert evaluate(tiny_config(tmp_path, data), weights, run) == 0
    gt_json = run / "metrics" / "test.gt.json"
    recorded = json.loads((run / "run.json").read_text(encoding="utf-8"))["cos"]["NC4K"][GT_KEY]
    assert recorded["fingerprint"] == coco_record(gt_json, "f")["fingerprint"]
    other = tmp_path / "other"
    argv = ["--task", "cos", "--pred-dir", run / "pred" / "test", "--gt-json", gt_json,
            "--out", other / "ap.json", "--quiet", "--run", other, "--split", "NC4K",
            "--method", "other"]  # fmt: skip
    assert evaluate_main(argv) == 0
    assert report_main([str(run), str(other), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "cos.md").read_text(encoding="utf-8").count("### NC4K") == 1


def test_one_folder_whose_masks_changed_between_two_scorings_is_said_so():
    def row(method: str, fingerprint: str) -> dict:
        record = {"fingerprint": fingerprint, "images": 3, "source": "/data/own/test/masks"}
        return {"method": method, "dis": {"test": _entry(0.5, record)}}

    with pytest.raises(ValueError, match="one folder: its masks changed between the two"):
        dis_table([row("A", "0" * 64), row("B", "1" * 64)])
