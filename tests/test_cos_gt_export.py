"""``python -m pmgsam.evaluation.export_cos_gt`` writes a split's COCO ground truth as benchmark
mode builds it from instance-map PNGs (NC4K's ``Instance/``), so that maps not made by
PMG-SAM are scored with ``evaluate.py --task cos --gt-json`` to benchmark mode's AP.

Binary maps score every instance 1.0 and COCOeval ranks those ties by image id: a GT that
numbered the images in another order (file-name order, 1 10 2 ..., or the whole pool for a
carved split) gives other AP on the same maps, which the designed maps below show."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main
from cos_cases import evaluate, export_gt, nc4k_config, tiny_config

from pmgsam.data import build_dataset
from pmgsam.data.io import DataError
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.instances import UnscoredPredictionWarning, evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.modeling.checkpoint import save_model
from pmgsam.utils.config import ConfigError, load_config
from pmgsam.utils.outputs import OutputError, settle_output_dir
from pmgsam.utils.rle import compressed_counts

ROOT = Path(__file__).resolve().parents[1]
AP_KEYS = ("AP", "AP50", "AP75")


def _score(pred: Path, gt_json: Path, out: Path) -> dict:
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt_json, "--out", out, "--quiet"]
    assert evaluate_main(argv) == 0
    return json.loads(out.read_text())


def _designed_maps(gt: dict, folder: Path) -> None:
    """Odd image ids: a map hitting the first GT instance; even ones: a false positive in a
    corner. Binary, so every instance scores 1 and the image order decides the AP."""
    folder.mkdir(exist_ok=True)
    first = {}
    for ann in gt["annotations"]:
        first.setdefault(ann["image_id"], ann)
    for im in gt["images"]:
        pred = np.zeros((im["height"], im["width"]), np.uint8)
        if im["id"] % 2:
            # Column-major runs, background first (pycocotools' decode warns under numpy 2).
            runs = compressed_counts(first[im["id"]]["segmentation"]["counts"])
            inside = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
            pred[inside.reshape(im["width"], im["height"]).T] = 255
        else:
            pred[:4, :4] = 255
        cv2.imwrite(str(folder / f"{Path(im['file_name']).stem}.png"), pred)


def _ap(scores: dict) -> dict:
    return {k: scores[k] for k in AP_KEYS}


@pytest.mark.usefixtures("one_thread")
def test_benchmark_maps_score_alike_against_the_export(
    small_tiny_model, small_branches, nc4k_root: Path, tmp_path: Path
) -> None:
    config = nc4k_config(tmp_path, nc4k_root)
    # Small frozen Hiera (small_branches for the run's own build): the records and scores
    # checked here do not depend on its size, and Hiera-T took most of the run.
    weights = save_model(small_tiny_model, tmp_path / "m.safetensors")
    run, splits = tmp_path / "run", ("test", "all")
    assert evaluate(config, weights, run, "--splits", ",".join(splits)) == 0
    for split in splits:
        gt = export_gt(config, split, tmp_path / f"{split}.gt.json")
        # The very file benchmark mode wrote beside its scores, without predicting anything.
        assert gt == json.loads((run / "metrics" / f"{split}.gt.json").read_text())
        scores = _score(run / "pred" / split, tmp_path / f"{split}.gt.json", tmp_path / "ap.json")
        benchmark = json.loads((run / "metrics" / f"{split}.json").read_text())
        assert _ap(scores) == _ap(benchmark) and scores["stats"] == benchmark["stats"]
        # The untrained model's maps score 0, as any GT would have them: benchmark mode keeps
        # maps put in their place with --skip-existing and scores those, once the manifest
        # records them as written (a map replaced by hand is otherwise predicted again).
        _designed_maps(gt, run / "pred" / split)
        names = [f"{Path(im['file_name']).stem}.png" for im in gt["images"]]
        settle_output_dir(run / "pred" / split, names)
    assert evaluate(config, weights, run, "--splits", ",".join(splits), "--skip-existing") == 0
    for split in splits:
        benchmark = json.loads((run / "metrics" / f"{split}.json").read_text())
        scores = _score(run / "pred" / split, tmp_path / f"{split}.gt.json", tmp_path / "ap.json")
        assert benchmark["AP"] > 0 and benchmark["AP75"] > 0
        assert _ap(scores) == _ap(benchmark) and scores["stats"] == benchmark["stats"]


def test_the_export_numbers_the_split_in_order(nc4k_root: Path, tmp_path: Path) -> None:
    config = nc4k_config(tmp_path, nc4k_root)
    data = load_config(ExperimentConfig, config).data
    whole = export_gt(config, "all", tmp_path / "all.gt.json")
    test = export_gt(config, "test", tmp_path / "test.gt.json")
    names = build_dataset(data, "test", 64, train=False).names
    assert [Path(im["file_name"]).stem for im in test["images"]] == names
    # Natural order, as the split lists them (file-name order would put 10 before 2).
    assert [Path(im["file_name"]).stem for im in whole["images"]] == [str(i) for i in range(1, 11)]
    assert [im["id"] for im in whole["images"]] == list(range(1, 11))

    maps = tmp_path / "maps"
    _designed_maps(whole, maps)
    reference = _score(maps, tmp_path / "all.gt.json", tmp_path / "ap.json")
    # Numbering matters: the same images and instances, numbered in reverse, rank the ties
    # otherwise (what the comparison with benchmark mode above would catch).
    last = len(whole["images"]) + 1
    reversed_ids = dict(
        whole,
        images=[dict(im, id=last - im["id"]) for im in whole["images"]],
        annotations=[dict(a, image_id=last - a["image_id"]) for a in whole["annotations"]],
    )
    assert evaluate_cos_folder(maps, reversed_ids, progress=False)["AP"] != reference["AP"]

    # The pool's maps against the test split: only the split's images are scored.
    with pytest.warns(UnscoredPredictionWarning, match="no image in the COCO GT"):
        on_test = _score(maps, tmp_path / "test.gt.json", tmp_path / "test_ap.json")
    assert on_test["num_images"] == len(names) < len(whole["images"])

    # Maps named otherwise than the images (another method's suffix): both sides are named.
    for path in maps.glob("*.png"):
        path.rename(path.with_name(f"{path.stem}_pred.png"))
    with pytest.raises(EvaluationInputError, match=r"have no prediction.*1_pred\.png"):
        _score(maps, tmp_path / "test.gt.json", tmp_path / "test_ap.json")


@pytest.fixture
def nc4k_copy(nc4k_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(nc4k_root, tmp_path / "NC4K"))


def test_a_missing_instance_folder_or_map_is_named_and_nothing_written(
    nc4k_copy: Path, tmp_path: Path
) -> None:
    config = nc4k_config(tmp_path, nc4k_copy)
    out = tmp_path / "gt.json"
    (nc4k_copy / "Instance" / "3.png").unlink()
    with pytest.raises(DataError, match=r"instance map.*'3\.jpg'"):
        export_gt(config, "all", out)
    shutil.rmtree(nc4k_copy / "Instance")
    with pytest.raises(DataError, match=r"instance folder '.*Instance' does not exist"):
        export_gt(config, "all", out)
    assert not out.exists()


def test_a_dataset_without_instance_labels_is_refused(dis5k_root: Path, tmp_path: Path) -> None:
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 0}
    config = tiny_config(tmp_path, data)
    with pytest.raises(ConfigError, match=r"dis5k config: dis5k has no instance labels"):
        export_gt(config, "DIS-TE1", tmp_path / "gt.json")


def test_out_rules(nc4k_root: Path, tmp_path: Path) -> None:
    config = nc4k_config(tmp_path, nc4k_root)
    mine = tmp_path / "gt.json"
    mine.write_text("my notes")
    with pytest.raises(OutputError, match="pmgsam did not write"):
        export_gt(config, "test", mine)
    assert mine.read_text() == "my notes"
    export_gt(config, "test", mine, "--overwrite")
    export_gt(config, "test", mine)  # its own file is replaced without --overwrite
    with pytest.raises(EvaluationInputError, match="names a folder"):
        export_gt(config, "test", tmp_path)
    with pytest.raises(EvaluationInputError, match="not .csv"):
        export_gt(config, "test", tmp_path / "gt.csv")
    with pytest.raises(OutputError, match="lies inside the input folder"):
        export_gt(config, "test", nc4k_root / "gt.json")


def test_gt_json_given_the_instance_folder_points_to_the_export(
    nc4k_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "maps").mkdir()
    cv2.imwrite(str(tmp_path / "maps" / "1.png"), np.zeros((8, 8), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            EvaluationInputError, match=r"python -m pmgsam\.evaluation\.export_cos_gt"
        ):
            evaluate_main(["--task", "cos", "--pred-dir", tmp_path / "maps", "--gt-json",
                           nc4k_root / "Instance", "--out", tmp_path / "ap.json"])  # fmt: skip
