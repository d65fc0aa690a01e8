"""A COS box-prompt baseline run resumed with ``skip_existing`` predicts an image again when its
instance-map PNG was edited in place. The prompts come from that PNG, but the manifest used to
record the instance folder's own identity (a folder's size and mtime change only when a file is
added, removed or renamed), so the stale map and its COCO instances were kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.baselines.base import Prediction
from pmgsam.baselines.resume import RECORDS, baseline_producer
from pmgsam.baselines.runner import run_baseline
from pmgsam.data import build_dataset, generate
from pmgsam.data.config import DataConfig
from pmgsam.utils.config import from_dict
from pmgsam.utils.map_producers import file_identity
from pmgsam.utils.outputs import read_manifest, write_manifest

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


class BoxStandIn:
    """Box prompts: one mask per box, 1 inside it; records the boxes of every call."""

    prompt, mode, label = "box", "box", "stand-in"

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 2)
        self.calls: List[List[List[int]]] = []

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        self.calls.append(np.asarray(boxes, int).tolist())
        masks = []
        for x0, y0, x1, y1 in np.asarray(boxes, int):
            m = np.zeros(image.shape[:2], np.float32)
            m[y0 : y1 + 1, x0 : x1 + 1] = 1.0
            masks.append(m)
        return Prediction(masks, [0.9] * len(masks))


@pytest.fixture
def box_run(tmp_path: Path) -> Tuple[Path, Any, Callable[[BoxStandIn, bool], dict]]:
    """(NC4K root, its 3-image test split, predict(baseline, resume) into one run folder)."""
    root = generate("nc4k", tmp_path / "data", num=6, seed=0, size=(32, 24), progress=False)
    values = {"dataset": "nc4k", "root": str(root), "train_split": "train", "val_split": None,
              "test_splits": ["test"], "test_fraction": 0.5, "num_workers": 0,
              "split_dir": str(tmp_path / "splits")}  # fmt: skip
    dataset = build_dataset(from_dict(DataConfig, values), "test", 64, train=False)
    weights = tmp_path / "sam.pth"
    weights.write_bytes(b"stand-in")
    producer = baseline_producer(weights, "0" * 64, 64, {"baseline": "sam-box"})

    def predict(baseline: BoxStandIn, resume: bool) -> dict:
        return run_baseline(baseline, dataset, tmp_path / "run", "test", cos=True,
                            progress=False, producer=producer, skip_existing=resume,
                            timing=False)  # fmt: skip

    return root, dataset, predict


def test_an_instance_png_edited_in_place_makes_its_map_be_predicted_again(
    box_run, tmp_path: Path
) -> None:
    root, dataset, predict = box_run
    run = tmp_path / "run"
    predict(BoxStandIn(), False)
    # One object, rows 2..5 and columns 3..9, in place of the image's own.
    folder = root / "Instance"
    edited = folder / f"{dataset.names[1]}.png"
    label = np.zeros(np.asarray(Image.open(edited)).shape[:2], np.uint8)
    label[2:6, 3:10] = 1
    before = (os.stat(folder).st_mtime_ns, os.stat(folder).st_size)
    Image.fromarray(label).save(edited)  # in place: the folder's size and mtime stay
    assert (os.stat(folder).st_mtime_ns, os.stat(folder).st_size) == before
    resumed = BoxStandIn()
    summary = predict(resumed, True)
    assert resumed.calls == [[[3, 2, 9, 5]]]  # only the edited image, with its new box
    pred = run / "pred" / "test"
    assert np.array_equal(np.asarray(Image.open(pred / edited.name)) > 127, label > 0)
    # Its source is now that PNG's identity (the path, size and mtime of the file read).
    source = read_manifest(pred)["sources"][edited.name]
    assert source[-1] == [str(edited.resolve()), edited.stat().st_size, edited.stat().st_mtime_ns]
    assert summary["cos"]["num_images"] == 3


def test_maps_whose_sources_hold_the_instance_folder_identity_are_predicted_again(
    box_run, tmp_path: Path
) -> None:
    """Sources an older pmgsam wrote (with the folder's identity) match no image now."""
    root, dataset, predict = box_run
    predict(BoxStandIn(), False)
    pred = tmp_path / "run" / "pred" / "test"
    record = read_manifest(pred)
    folder = file_identity(root / "Instance")
    old = {name: [*source[:-1], folder] for name, source in record["sources"].items()}
    write_manifest(pred, {**record, "sources": old})
    lines = [json.loads(line) for line in (pred / RECORDS).read_text().splitlines()]
    text = "".join(json.dumps({**r, "source": old[r["name"]]}) + "\n" for r in lines)
    (pred / RECORDS).write_text(text)
    resumed = BoxStandIn()
    predict(resumed, True)
    assert len(resumed.calls) == len(dataset) == 3


def test_each_image_names_its_own_instance_map_whatever_its_extension_case(
    tmp_path: Path,
) -> None:
    """Instance maps are paired by stem as the GT build pairs them (any mask extension, any
    case): ``A.PNG`` and ``b.bmp`` are the maps of images A and b, and an image without one
    records its missing ``<name>.png``, so adding it later makes the map be predicted again."""
    from types import SimpleNamespace

    from pmgsam.baselines.resume import baseline_sources

    folder = tmp_path / "Instance"
    folder.mkdir()
    for name, size in (("A.PNG", 3), ("b.bmp", 5)):
        (folder / name).write_bytes(b"x" * size)
    files = {}
    for kind in ("im", "gt"):
        (tmp_path / kind).mkdir()
        files[kind] = [tmp_path / kind / f"{stem}.png" for stem in ("A", "b", "c")]
        for path in files[kind]:
            path.write_bytes(b"y")
    instances = SimpleNamespace(path=folder)
    dataset = SimpleNamespace(
        names=["A", "b", "c"], image_paths=files["im"], mask_paths=files["gt"], instances=instances
    )
    sources = baseline_sources(dataset, 3, reads_gt=True)
    instance_maps = {name: source[-1][:2] for name, source in sources.items()}
    assert instance_maps == {
        "A.png": [str((folder / "A.PNG").resolve()), 3],
        "b.png": [str((folder / "b.bmp").resolve()), 5],
        "c.png": [str((folder / "c.png").resolve()), None],
    }


def test_each_map_is_sourced_from_its_own_image_and_gt_files(tmp_path: Path) -> None:
    """A map's sources are its own image's (and with GT prompts its own GT mask's) path and
    size, so editing image ``b`` in place makes only ``b``'s map be predicted again (keying
    every map on the first image kept b's stale map and its COCO instances)."""
    from types import SimpleNamespace

    from pmgsam.baselines.resume import baseline_sources

    files = {}
    for kind in ("im", "gt"):
        (tmp_path / kind).mkdir()
        files[kind] = [tmp_path / kind / f"{stem}.png" for stem in ("a", "b", "c")]
        for size, path in enumerate(files[kind], start=1):
            path.write_bytes(b"y" * size)
    dataset = SimpleNamespace(names=["a", "b", "c"], image_paths=files["im"],
                              mask_paths=files["gt"])  # fmt: skip
    for reads_gt in (False, True):
        sources = baseline_sources(dataset, 3, reads_gt)
        for i, stem in enumerate("abc"):
            expected = [[str(files[kind][i].resolve()), i + 1] for kind in ("im", "gt")]
            got = sources[f"{stem}.png"] if reads_gt else [sources[f"{stem}.png"]]
            assert [identity[:2] for identity in got] == expected[: len(got)]
    before = baseline_sources(dataset, 3, reads_gt=False)
    files["im"][1].write_bytes(b"edited in place")
    after = baseline_sources(dataset, 3, reads_gt=False)
    assert [name for name in before if before[name] != after[name]] == ["b.png"]


def test_box_prompted_maps_from_a_coco_file_record_that_file(tmp_path: Path) -> None:
    """Instance labels in one COCO JSON: every map's last source is that file (path, size),
    so editing the JSON makes the box-prompted maps be predicted again."""
    from types import SimpleNamespace

    from pmgsam.baselines.resume import baseline_sources

    coco = tmp_path / "instances.json"
    coco.write_text("{}")
    files = {kind: [tmp_path / f"{kind}_{stem}.png" for stem in "ab"] for kind in ("im", "gt")}
    for path in files["im"] + files["gt"]:
        path.write_bytes(b"y")
    dataset = SimpleNamespace(names=["a", "b"], image_paths=files["im"], mask_paths=files["gt"],
                              instances=SimpleNamespace(path=coco))  # fmt: skip
    sources = baseline_sources(dataset, 2, reads_gt=True)
    assert {name: source[-1][:2] for name, source in sources.items()} == {
        "a.png": [str(coco.resolve()), 2],
        "b.png": [str(coco.resolve()), 2],
    }
    assert all(len(source) == 3 for source in sources.values())  # image, GT mask, instances
