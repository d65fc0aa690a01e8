"""evaluate.py's benchmark and baseline modes on COS data with a test image whose header cannot
be read (a zero-byte file) or whose instance-map PNG cannot be (truncated, not an image, another
size). The COCO ground truth reads every image's size and instance map first, so such a file
used to end the run even with ``--keep-going``; now, as on DIS data, ``--keep-going`` skips its
image (no map, listed under ``failed`` in the manifest), leaves its split unscored and exits with
the error listing it, and without it the run is refused before anything is predicted, naming
every such file. A corrupt COCO instance file holds the whole split's labels: it is one error
naming it, with or without ``--keep-going``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch
import yaml
from cos_cases import evaluate, small_nc4k
from mask_cases import BoxPredictor
from PIL import Image

from pmgsam.baselines import sam as sam_family
from pmgsam.data import DataError, build_dataset, generate
from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.unreadable import UnreadableInputs
from pmgsam.utils.config import load_config, to_dict
from pmgsam.utils.outputs import read_manifest

BASELINE = ["--baseline", "sam-box", "--model-type", "vit_b", "--speed-iters", "0"]

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture
def nc4k(tmp_path: Path, small_model_file) -> Tuple[Path, List[Path]]:
    """(config, the test split's image files): NC4K with three 32x24 test images."""
    return small_nc4k(tmp_path, small_model_file[1].config)


@pytest.fixture
def stand_in_models(monkeypatch, small_model_file) -> None:
    """Benchmark mode loads the small PMG-SAM; baseline mode a SAM whose predictor answers every
    box with logits +10 inside it and -10 outside (no SAM weights to build)."""
    model = small_model_file[1]
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(model))

    monkeypatch.setattr(sam_family, "load", lambda *a, **kw: torch.nn.Linear(2, 2))
    monkeypatch.setattr(sam_family, "predictor", lambda model: BoxPredictor())


def instance_map(image: Path) -> Path:
    """The NC4K instance-map PNG of ``image`` (``NC4K/Imgs/<stem>.jpg``)."""
    return image.parents[1] / "Instance" / f"{image.stem}.png"


def truncate(path: Path) -> None:
    """Cut ``path`` to half its bytes, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
def test_without_keep_going_every_unreadable_image_is_named_before_predicting(
    nc4k, tmp_path: Path, mode: list
) -> None:
    config, images = nc4k
    for image in images[:2]:
        image.write_bytes(b"")
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"never read")  # refused before any model loads
    run = tmp_path / "run"
    with pytest.raises(DataError, match=r"^2 image file\(s\) of nc4k test cannot be read") as err:
        evaluate(config, weights, run, *mode)
    assert all(str(image) in str(err.value) for image in images[:2])
    assert "--keep-going" in str(err.value) and not run.exists()


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
def test_keep_going_skips_an_unreadable_image_and_leaves_its_split_unscored(
    nc4k, small_model_file, stand_in_models, tmp_path: Path, mode: list
) -> None:
    config, images = nc4k
    images[1].write_bytes(b"")
    run = tmp_path / "run"
    with pytest.raises(UnreadableInputs, match="run.json was not written") as err:
        evaluate(config, small_model_file[0], run, "--keep-going", *mode)
    assert list(err.value.failed) == [f"test/{images[1].stem}"]
    pred = run / "pred" / "test"
    assert sorted(p.name for p in pred.glob("*.png")) == sorted(
        f"{p.stem}.png" for p in (images[0], images[2])
    )
    assert read_manifest(pred)["failed"].keys() == {images[1].stem}
    # Scored without that image, AP would silently be over two images of three: not scored.
    assert not (run / "metrics" / "test.json").exists() and not (run / "run.json").exists()


def _images_and_instance_maps(tmp_path: Path, names: str) -> Tuple[List[Path], Path]:
    """One black 10x8 image per name and its instance map (one 4x4 instance, shifted by k)."""
    folder, labels = tmp_path / "im", tmp_path / "inst"
    folder.mkdir()
    labels.mkdir()
    paths = []
    for k, name in enumerate(names):
        label = np.zeros((8, 10), np.uint8)
        label[2:6, k : k + 4] = 1
        Image.fromarray(label).save(labels / f"{name}.png")
        Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(folder / f"{name}.png")
        paths.append(folder / f"{name}.png")
    return paths, labels


def test_an_image_left_out_of_the_ground_truth_is_recorded_and_the_others_keep_their_ids(
    tmp_path: Path,
) -> None:
    paths, labels = _images_and_instance_maps(tmp_path, "abc")
    paths[1].write_bytes(b"")
    unreadable: Dict[str, str] = {}
    gt = coco_ground_truth(paths, ["a", "b", "c"], InstanceSource("png", labels), "t", unreadable)
    assert list(unreadable) == ["b"] and str(paths[1]) in unreadable["b"]
    # Ids are split positions from 1, as in the GT of the whole split: a and c are 1 and 3.
    assert [(im["id"], im["file_name"]) for im in gt["images"]] == [(1, "a.png"), (3, "c.png")]
    assert [a["image_id"] for a in gt["annotations"]] == [1, 3]


def test_a_split_of_unreadable_images_alone_is_all_failed_images(nc4k, tmp_path: Path) -> None:
    """run_baseline building the GT itself (no ``gt`` given) with ``keep_going``: every image's
    header unreadable leaves an empty GT (which pycocotools refuses), and each image is one of
    the split's failures, none prompted."""
    from pmgsam.baselines.runner import run_baseline

    config, images = nc4k
    for image in images:
        image.write_bytes(b"")

    class NeverCalled:
        prompt, mode, label = "box", "box", "stand-in"
        model = torch.nn.Linear(2, 2)

        def predict(self, image: np.ndarray, boxes: Any = None) -> Any:
            pytest.fail("an unreadable image was prompted")

    dataset = build_dataset(load_config(ExperimentConfig, config).data, "test", 64, train=False)
    summary = run_baseline(NeverCalled(), dataset, tmp_path / "run", "test", cos=True,
                           progress=False, keep_going=True, timing=False)  # fmt: skip
    assert summary["failed"] == {
        p.stem: f"cannot read image file '{p}': corrupt or unsupported (cannot identify image "
        f"file '{p}')"
        for p in images
    }
    assert not list((tmp_path / "run" / "pred" / "test").glob("*.png"))


def test_instance_maps_that_cannot_be_used_are_left_out_with_their_file_named(
    tmp_path: Path,
) -> None:
    paths, labels = _images_and_instance_maps(tmp_path, "abcd")
    (labels / "b.png").write_text("not a png")
    Image.fromarray(np.ones((4, 4), np.uint8)).save(labels / "c.png")  # 4x4, its image 10x8
    paths[3].write_bytes(b"")
    with pytest.raises(DataError, match=r"^1 image file\(s\) and 2 instance map\(s\) of t ") as err:
        coco_ground_truth(paths, list("abcd"), InstanceSource("png", labels), "t")
    assert all(str(f) in str(err.value) for f in (paths[3], labels / "b.png", labels / "c.png"))
    unreadable: Dict[str, str] = {}
    gt = coco_ground_truth(paths, list("abcd"), InstanceSource("png", labels), "t", unreadable)
    assert sorted(unreadable) == ["b", "c", "d"]
    assert f"instance map file '{labels / 'b.png'}'" in unreadable["b"]
    assert (
        f"instance map '{labels / 'c.png'}' is 4x4 (WxH) but its image 'c.png' is 10x8"
        in (unreadable["c"])
    )
    assert [(im["id"], im["file_name"]) for im in gt["images"]] == [(1, "a.png")]
    assert [a["image_id"] for a in gt["annotations"]] == [1]


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
def test_without_keep_going_every_bad_instance_map_is_named_and_an_earlier_run_is_kept(
    nc4k, small_model_file, stand_in_models, tmp_path: Path, mode: list
) -> None:
    config, images = nc4k
    run = tmp_path / "run"
    assert evaluate(config, small_model_file[0], run, *mode) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert run / "pred" / "test" / f"{images[0].stem}.png" in before
    truncate(instance_map(images[0]))
    instance_map(images[2]).write_text("not a png")
    with pytest.raises(DataError, match=r"^2 instance map\(s\) of nc4k test cannot be read") as err:
        evaluate(config, small_model_file[0], run, *mode)
    assert all(str(instance_map(im)) in str(err.value) for im in (images[0], images[2]))
    assert "image file is truncated" in str(err.value) and "--keep-going" in str(err.value)
    # Refused before anything is predicted: the earlier run's files are all there, unchanged.
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
def test_keep_going_leaves_out_an_image_whose_instance_map_is_corrupt(
    nc4k, small_model_file, stand_in_models, tmp_path: Path, mode: list
) -> None:
    config, images = nc4k
    truncate(instance_map(images[1]))
    run = tmp_path / "run"
    with pytest.raises(UnreadableInputs, match="run.json was not written") as err:
        evaluate(config, small_model_file[0], run, "--keep-going", *mode)
    assert list(err.value.failed) == [f"test/{images[1].stem}"]
    why = f"cannot read instance map file '{instance_map(images[1])}'"
    assert why in err.value.failed[f"test/{images[1].stem}"]
    pred = run / "pred" / "test"
    assert sorted(p.name for p in pred.glob("*.png")) == sorted(
        f"{p.stem}.png" for p in (images[0], images[2])
    )
    assert why in read_manifest(pred)["failed"][images[1].stem]
    assert not (run / "metrics" / "test.json").exists() and not (run / "run.json").exists()


@pytest.fixture
def cod10k(tmp_path: Path, small_model_file) -> Tuple[Path, Path]:
    """(config, the Test split's COCO instance file): COD10K with 32x24 images."""
    root = generate("cod10k", tmp_path / "data", num=2, seed=0, size=(32, 24), progress=False)
    data = {"dataset": "cod10k", "root": str(root), "train_split": "Train", "val_split": None}
    data.update(test_splits=["Test"], split_dir=str(tmp_path / "splits"), num_workers=0)
    cfg = {"model": to_dict(small_model_file[1].config), "data": data, "train": {"device": "cpu"}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, root / "Test" / "CAM_Instance_Test.json"


@pytest.mark.parametrize("keep_going", [[], ["--keep-going"]], ids=["stop", "keep-going"])
@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
@pytest.mark.parametrize(
    "damage, says",
    [(truncate, r"is not valid JSON: .* line 1 column \d+"),
     (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), r"^cannot read COCO instance file")],
    ids=["truncated", "binary"],
)  # fmt: skip
def test_a_corrupt_coco_instance_file_is_named_before_anything_is_predicted(
    cod10k, small_model_file, stand_in_models, tmp_path: Path, mode, keep_going, damage, says
) -> None:
    """One file holds the labels of the whole split: it cannot be skipped image by image."""
    config, coco_file = cod10k
    damage(coco_file)
    run = tmp_path / "run"
    with pytest.raises(DataError, match=says) as err:
        evaluate(config, small_model_file[0], run, *keep_going, *mode)
    assert f"COCO instance file '{coco_file}'" in str(err.value)
    assert not isinstance(err.value, UnreadableInputs) and not run.exists()
