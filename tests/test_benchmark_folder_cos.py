"""Benchmark mode on a folder dataset (the user's own data) with ``data.instance_dir``: its
splits are scored by instance AP too, as COD10K's and NC4K's are, into ``metrics/<split>.cos.json``
and run.json's ``cos[<split>]``. Before, only the DIS metrics were written, and the AP took an
export of the COCO ground truth and a ``--task cos`` scoring by hand; both routes must give the
same AP and ground-truth record on the same maps. Without ``instance_dir`` nothing changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch
import yaml
from cli_cases import evaluate_main
from cos_cases import evaluate, export_gt
from PIL import Image

from pmgsam.data import DataError, build_dataset, generate
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.map_writer import MapWriter
from pmgsam.engine.unreadable import UnreadableInputs
from pmgsam.evaluation.table_gt import GT_KEY
from pmgsam.evaluation.tables import build_tables
from pmgsam.utils.config import load_config, to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def folder_data(tmp_path: Path, instances: bool = True) -> Path:
    """A folder dataset of six generated 32x24 camouflage images (NC4K's generator), with
    their instance maps in ``instances/`` when ``instances``."""
    nc4k = generate("nc4k", tmp_path / "gen", num=6, seed=0, size=(32, 24), progress=False)
    root = tmp_path / "mine"
    pairs = [("Imgs", "images"), ("GT", "masks")] + [("Instance", "instances")] * instances
    for source, target in pairs:
        shutil.copytree(nc4k / source, root / target)
    return root


def folder_config(tmp_path: Path, model: Any, root: Path, **data: Any) -> Path:
    """The small model on ``root``'s carved ``test`` split (as README's own-data commands)."""
    section = {"dataset": "folder", "root": str(root), "train_split": "train", "val_split": None,
               "test_splits": ["test"], "test_fraction": 0.5, "num_workers": 0,
               "split_dir": str(tmp_path / "splits"), "instance_dir": "instances"}  # fmt: skip
    section.update(data)
    cfg = {"model": to_dict(model.config), "data": section, "train": {"device": "cpu"}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config


@pytest.fixture
def maps_from_instances(stubbed_prediction, monkeypatch) -> list:
    """Each map drawn from its image's instance map, not by the model: every instance but the
    last, each at a probability of its own, so AP is neither 0 nor 1 and scores are not all
    tied. Returns the list whose one item the test sets: the folder of the instance maps."""
    real = MapWriter.write
    drawn_from: list = []

    def drawn(writer: MapWriter, prob: torch.Tensor, path: Path) -> None:
        rgb = np.array(Image.open(drawn_from[0] / f"{path.stem}.png").convert("RGB"), np.int64)
        labels = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # one colour each
        ids = [v for v in np.unique(labels) if v]
        out = np.zeros(labels.shape, np.float32)
        for k, v in enumerate(ids[:-1] if len(ids) > 1 else ids):
            out[labels == v] = 0.55 + 0.4 * (k + 1) / len(ids)
        real(writer, torch.from_numpy(out), path)

    monkeypatch.setattr(MapWriter, "write", drawn)
    return drawn_from


def run_json(run: Path) -> Dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def test_instance_ap_is_scored_as_the_manual_route_scores_it(
    tmp_path: Path, small_model_file, maps_from_instances
) -> None:
    root = folder_data(tmp_path)
    maps_from_instances[:] = [root / "instances"]
    config = folder_config(tmp_path, small_model_file[1], root)
    run = tmp_path / "results" / "mine"
    assert evaluate(config, small_model_file[0], run, "--workers", 1) == 0
    bench = run_json(run)
    assert set(bench["dis"]) == {"test"} and set(bench["cos"]) == {"test"}
    metrics = run / "metrics"
    assert (metrics / "test.json").is_file() and "maxFm" in json.loads(
        (metrics / "test.json").read_text()
    )
    for name in ("test.cos.json", "test.cos.gt.json", "test.cos.results.json"):
        assert (metrics / name).is_file(), name
    ap = bench["cos"]["test"]
    assert 0 < ap["AP"] < 1  # the drawn maps miss an instance of each image
    assert ap["instance_labels"] == {"kind": "png", "path": str(root / "instances")}
    assert ap["data_root"]["dataset"] == "folder"
    # The manual route (README before): export the GT, score the same maps with --task cos.
    gt_file = tmp_path / "mine_test.gt.json"
    exported = export_gt(config, "test", gt_file)
    assert len(exported["images"]) == 3
    manual = tmp_path / "results" / "mine_cos"
    argv = ["--task", "cos", "--pred-dir", run / "pred" / "test", "--gt-json", gt_file, "--out",
            manual / "metrics" / "test.json", "--run", manual, "--split", "test", "--method",
            "mine"]  # fmt: skip
    with pytest.warns(UserWarning, match="names no column"):
        assert evaluate_main(argv) == 0
    by_hand = run_json(manual)["cos"]["test"]
    for key in ("AP", "AP50", "AP75", "stats", "num_images", "protocol"):
        assert ap[key] == by_hand[key], key
    assert ap[GT_KEY]["fingerprint"] == by_hand[GT_KEY]["fingerprint"]
    assert ap[GT_KEY]["images"] == 3
    # The COS table's column is the split's name, as the manual route's.
    table = build_tables([bench])["cos"]
    assert [g for g, _ in table.groups] == ["test"]
    assert table.rows[0][1][("test", "AP")] == ap["AP"]


def test_skip_existing_resumes_with_the_same_instance_ap(
    tmp_path: Path, small_model_file, maps_from_instances
) -> None:
    root = folder_data(tmp_path)
    maps_from_instances[:] = [root / "instances"]
    config = folder_config(tmp_path, small_model_file[1], root)
    run = tmp_path / "run"
    assert evaluate(config, small_model_file[0], run, "--workers", 1) == 0
    first = run_json(run)["cos"]["test"]
    (run / "metrics" / "test.cos.json").unlink()
    maps_from_instances[:] = [tmp_path / "nowhere"]  # a map drawn again would fail: all are kept
    assert evaluate(config, small_model_file[0], run, "--workers", 1, "--skip-existing") == 0
    again = run_json(run)["cos"]["test"]
    assert again["AP"] == first["AP"] and again[GT_KEY] == first[GT_KEY]
    assert json.loads((run / "metrics" / "test.cos.json").read_text())["AP"] == first["AP"]


def test_without_instance_dir_only_the_dis_metrics_are_scored(
    tmp_path: Path, small_model_file, stubbed_prediction
) -> None:
    root = folder_data(tmp_path)  # instances/ there, but not named by the config
    config = folder_config(tmp_path, small_model_file[1], root, instance_dir=None)
    run = tmp_path / "run"
    assert evaluate(config, small_model_file[0], run, "--workers", 1) == 0
    data = run_json(run)
    assert set(data["dis"]) == {"test"} and not data.get("cos")
    assert sorted(p.name for p in (run / "metrics").iterdir() if not p.name.startswith(".")) == [
        "test.json",
        "test.per_image.csv",
    ]


def test_a_split_without_the_instance_folder_is_scored_by_dis_with_a_warning(
    tmp_path: Path, small_model_file, stubbed_prediction
) -> None:
    root = folder_data(tmp_path, instances=False)
    config = folder_config(tmp_path, small_model_file[1], root)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"1 split\(s\) have no instance labels.*test: instance "
                      r"folder .*instances' does not exist \(data\.instance_dir\)"):  # fmt: skip
        assert evaluate(config, small_model_file[0], run, "--workers", 1) == 0
    data = run_json(run)
    assert set(data["dis"]) == {"test"} and not data.get("cos")


def test_instance_maps_pairing_with_no_image_are_refused_before_predicting(
    tmp_path: Path, small_model_file
) -> None:
    root = folder_data(tmp_path)
    for path in (root / "instances").iterdir():  # named otherwise than their images
        path.rename(path.with_name(f"inst_{path.name}"))
    config = folder_config(tmp_path, small_model_file[1], root)
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"never read")  # refused before any model loads
    run = tmp_path / "run"
    with pytest.raises(DataError, match=r"3 of the 3 image\(s\) of folder test have no instance "
                       r"map in '.*instances'"):  # fmt: skip
        evaluate(config, weights, run)
    assert not (run / "pred").exists()


def test_a_split_whose_dis_file_is_another_splits_cos_file_is_refused(
    tmp_path: Path, small_model_file
) -> None:
    nc4k = generate("nc4k", tmp_path / "gen", num=4, seed=0, size=(32, 24), progress=False)
    root = tmp_path / "mine"
    for split in ("a", "a.cos"):
        for source, target in (("Imgs", "images"), ("GT", "masks"), ("Instance", "instances")):
            shutil.copytree(nc4k / source, root / split / target)
    config = folder_config(tmp_path, small_model_file[1], root, test_splits=["a", "a.cos"])
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"never read")
    with pytest.raises(Exception, match=r"splits 'a' and 'a.cos' would both write "
                       r"metrics/a\.cos\.json"):  # fmt: skip
        evaluate(config, weights, tmp_path / "run")


def test_an_unreadable_instance_map_stops_the_run_or_with_keep_going_its_split(
    tmp_path: Path, small_model_file, stubbed_prediction
) -> None:
    root = folder_data(tmp_path)
    config = folder_config(tmp_path, small_model_file[1], root)
    data = load_config(ExperimentConfig, config).data
    names = build_dataset(data, "test", 64, train=False).names
    broken = root / "instances" / f"{names[1]}.png"
    broken.write_bytes(broken.read_bytes()[:40])  # an interrupted copy
    run = tmp_path / "run"
    with pytest.raises(DataError, match=r"1 instance map\(s\) of folder test cannot be read"):
        evaluate(config, small_model_file[0], run)
    assert not (run / "pred").exists()
    # Its image is not predicted, and the split (DIS metrics too) not scored over the others.
    with pytest.raises(UnreadableInputs, match="run.json was not written"):
        evaluate(config, small_model_file[0], run, "--keep-going", "--workers", 1)
    pred = sorted(p.stem for p in (run / "pred" / "test").glob("*.png"))
    assert pred == sorted(n for n in names if n != names[1])
    assert not (run / "metrics" / "test.json").exists() and not (run / "run.json").exists()
