"""Scoring the datasets as they are downloaded: COD10K-v3's NonCAM images (whose GT_Object masks
are empty) kept out of the COS protocol, empty GT masks named in DIS scoring, and an image
folder given as the GT folder refused."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import evaluate
from pmgsam.evaluation.scoring import EmptyGTWarning, EvaluationInputError, evaluate_dis_folder
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import save_model
from pmgsam.utils.config import ConfigError, to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _evaluate(args: list) -> int:
    return evaluate.main([str(a) for a in args])


def _with_noncam_masks(cod10k_root: Path, tmp_path: Path) -> Path:
    """A copy of the generated COD10K-v3 tree whose NonCAM images have an all-black GT_Object
    mask beside them, as in the download."""
    root = Path(shutil.copytree(cod10k_root, tmp_path / "COD10K-v3"))
    for split in ("Train", "Test"):
        for image in (root / split / "Image").glob("COD10K-NonCAM-*.jpg"):
            w, h = Image.open(image).size
            mask = root / split / "GT_Object" / f"{image.stem}.png"
            Image.fromarray(np.zeros((h, w), np.uint8)).save(mask)
    return root


def test_cod10k_benchmark_refuses_noncam_images_in_the_cos_protocol(
    seed0_tiny, cod10k_root, tmp_path
):
    root = _with_noncam_masks(cod10k_root, tmp_path)
    weights = save_model(seed0_tiny(), tmp_path / "model.safetensors")
    model = to_dict(model_config("pmgsam_tiny", image_size=64))
    data = {"dataset": "cod10k", "root": str(root), "train_split": "Train", "val_split": None,
            "test_splits": ["Test"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    run = tmp_path / "run"
    args = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet"]
    args += ["--output-dir", run, "data.cam_only=false"]
    with pytest.raises(ConfigError, match=r"data.cam_only is false .* data.cam_only=true"):
        _evaluate(args)
    assert not (run / "pred").exists()  # refused before anything was predicted


def _write(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_dis_scoring_names_empty_gt_masks(tmp_path):
    # COD10K-v3/Test/GT_Object as downloaded: NonCAM masks are all black. PySODMetrics gives
    # maxFβ = wFβ = 0 on an empty GT even for a perfect (black) map.
    gt = np.zeros((24, 32), np.uint8)
    gt[6:18, 8:24] = 255
    for name, mask in (("COD10K-CAM-1-Aquatic-1-BatFish-1", gt),
                       ("COD10K-NonCAM-1-Aquatic-6-Fish-2", np.zeros_like(gt))):  # fmt: skip
        _write(tmp_path / "gt" / f"{name}.png", mask)
        _write(tmp_path / "pred" / f"{name}.png", mask)
    with pytest.warns(EmptyGTWarning) as caught:
        summary, per_image = evaluate_dis_folder(
            tmp_path / "pred", tmp_path / "gt", with_hce=False, progress=False
        )
    (message,) = [str(w.message) for w in caught if w.category is EmptyGTWarning]
    assert message.startswith("1 of 2 GT mask(s) have no foreground")
    assert "COD10K-NonCAM-1-Aquatic-6-Fish-2.png" in message
    assert "BatFish" not in message
    assert summary["maxFm"] == pytest.approx(0.5)  # the empty GT's 0 averaged in


def test_dis_scoring_of_non_empty_gts_says_nothing_of_them(tmp_path):
    gt = np.zeros((24, 32), np.uint8)
    gt[6:18, 8:24] = 255
    _write(tmp_path / "gt" / "a#b#1.png", gt)
    _write(tmp_path / "pred" / "a#b#1.png", gt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyGTWarning)
        evaluate_dis_folder(tmp_path / "pred", tmp_path / "gt", with_hce=False, progress=False)


def test_the_image_folder_given_as_the_gt_folder_is_refused(tmp_path):
    # `--gt-dir DIS5K/DIS-TE1/im` for `.../gt`: each photo was read by its brightest channel
    # and scored as a mask.
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    _write(tmp_path / "im" / "1#Accessories#1#Bag#2339506821_83cf9f1d22_o.jpg", photo)
    _write(tmp_path / "pred" / "1#Accessories#1#Bag#2339506821_83cf9f1d22_o.png", photo[..., 0])
    with pytest.raises(EvaluationInputError, match=r"GT folder '.*im' holds colour photos"):
        evaluate_dis_folder(tmp_path / "pred", tmp_path / "im", with_hce=False, progress=False)


def test_a_gt_mask_saved_in_one_colour_is_still_scored(tmp_path):
    # A red object on black, antialiased: few colours, read by its brightest channel.
    red = np.zeros((48, 64, 3), np.uint8)
    red[10:38, 12:50, 0] = 255
    red[9, 12:50, 0] = 128
    _write(tmp_path / "gt" / "a.png", red)
    _write(tmp_path / "pred" / "a.png", red[..., 0])
    summary, _ = evaluate_dis_folder(tmp_path / "pred", tmp_path / "gt", with_hce=False,
                                     progress=False)  # fmt: skip
    assert summary["MAE"] < 0.01


def test_an_instance_folder_given_as_the_coco_file_says_what_to_give(nc4k_root):
    from pmgsam.evaluation.coco_gt import load_coco

    # `--gt-json NC4K/Instance`: was "cannot read ...: [Errno 21] Is a directory".
    with pytest.raises(EvaluationInputError, match=r"is a folder: give a COCO JSON file") as err:
        load_coco(nc4k_root / "Instance")
    assert "metrics/<split>.gt.json" in str(err.value)


def test_cod10k_edge_folder_given_as_the_gt_folder_is_named(tmp_path):
    edge = np.zeros((24, 32), np.uint8)
    edge[6, 8:24] = 255
    _write(tmp_path / "Test" / "GT_Edge" / "COD10K-CAM-1-Aquatic-1-BatFish-1.png", edge)
    _write(tmp_path / "pred" / "COD10K-CAM-1-Aquatic-1-BatFish-1.png", edge)
    with pytest.warns(
        UserWarning, match=r"GT_Edge' holds COD10K's object edges, not its object masks \(GT_Object"
    ):
        evaluate_dis_folder(tmp_path / "pred", tmp_path / "Test" / "GT_Edge", with_hce=False,
                            progress=False)  # fmt: skip
