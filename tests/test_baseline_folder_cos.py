"""Baseline mode on a folder dataset (the user's own data) with ``data.instance_dir``: an
automatic row scores every generated mask as a COCO instance, as on COD10K / NC4K, into
``metrics/<split>.cos.json`` and run.json's ``cos[<split>]`` beside its DIS metrics, against
the ground truth benchmark mode scores PMG-SAM against (same fingerprint), so pmgsam.report
puts both rows in one COS column. Before, such a row had the DIS metrics only.

SAM is never loaded: the generator returns each image's GT instances but the last, read from
its instance map, so the expected AP comes from pycocotools on the exported ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch
from cos_cases import evaluate, export_gt
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from test_benchmark_folder_cos import folder_config, folder_data, run_json

import evaluate as evaluate_script
from pmgsam.baselines import sam as sam_family
from pmgsam.data import build_dataset
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.table_gt import GT_KEY
from pmgsam.evaluation.tables import build_tables
from pmgsam.utils.config import load_config
from pmgsam.utils.outputs import OutputError
from pmgsam.utils.rle import encode_rle

pytestmark = pytest.mark.usefixtures("one_thread")


def instance_masks(path: Path) -> List[np.ndarray]:
    """The instances of an RGB instance map (one colour each), in colour order."""
    rgb = np.array(Image.open(path).convert("RGB"), np.int64)
    labels = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return [labels == v for v in np.unique(labels) if v]


def drawn_masks(root: Path, names: List[str]) -> Dict[str, List[Dict[str, Any]]]:
    """By image name: the masks the stub generates, every instance but the last (so AP < 1),
    each scored on its own so ranks are not tied."""
    out = {}
    for name in names:
        masks = instance_masks(root / "instances" / f"{name}.png")
        kept = masks[:-1] if len(masks) > 1 else masks
        out[name] = [
            {"segmentation": m, "predicted_iou": 0.5 + 0.4 * (k + 1) / len(masks)}
            for k, m in enumerate(kept)
        ]
    return out


@pytest.fixture
def stub_generator(monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """SAM's generator replaced: ``generate`` looks the image up by its pixels in the returned
    dict's ``by_pixels`` (set by the test) and returns its records."""
    state: Dict[str, Any] = {"by_pixels": {}}

    class Generator:
        def generate(self, image: np.ndarray) -> List[Dict[str, Any]]:
            return state["by_pixels"][hashlib.sha256(image.tobytes()).hexdigest()]

    monkeypatch.setattr(sam_family, "load", lambda *args: torch.nn.Linear(1, 1))
    monkeypatch.setattr(sam_family, "generator", lambda model, settings: Generator())
    return state


def prepare(tmp_path: Path, small_model_file: Any, stub: Dict[str, Any], **data: Any):
    """(config, data root, {name: records}) of the generated folder dataset."""
    root = folder_data(tmp_path)
    config = folder_config(tmp_path, small_model_file[1], root, **data)
    dataset = build_dataset(load_config(ExperimentConfig, config).data, "test", 64, train=False)
    records = drawn_masks(root, list(dataset.names))
    for i, name in enumerate(dataset.names):
        image, _ = dataset.load(i)
        stub["by_pixels"][hashlib.sha256(image.tobytes()).hexdigest()] = records[name]
    return config, root, records


def baseline(config: Path, out: Path, kind: str = "sam-auto", *extra: str) -> int:
    checkpoint = out.parent / "sam.pth"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"weights")  # hashed for the manifests, never read (load is faked)
    argv = ["--baseline", kind, "--checkpoint", str(checkpoint), "--config", str(config),
            "--dataset", "folder", "--splits", "test", "--output-dir", str(out), "--device",
            "cpu", "--quiet", "--speed-iters", "0", "--workers", "1", *extra]  # fmt: skip
    return evaluate_script.main(argv)


def reference_ap(gt: Dict[str, Any], records: Dict[str, List[Dict[str, Any]]]) -> float:
    """pycocotools' segm AP of ``records`` against the exported ground truth ``gt``."""
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    ids = {Path(im["file_name"]).stem: im["id"] for im in gt["images"]}
    results = [
        {"image_id": ids[name], "category_id": 1, "segmentation": encode_rle(r["segmentation"]),
         "score": r["predicted_iou"]}
        for name, recs in records.items() for r in recs
    ]  # fmt: skip
    ev = COCOeval(coco, coco.loadRes(results), "segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])


def test_auto_row_gets_instance_ap_in_pmgsams_cos_column(
    tmp_path: Path, small_model_file, stub_generator, stubbed_prediction
) -> None:
    config, root, records = prepare(tmp_path, small_model_file, stub_generator)
    out = tmp_path / "results" / "sam-auto"
    assert baseline(config, out) == 0
    row = run_json(out)
    assert set(row["dis"]) == {"test"} and set(row["cos"]) == {"test"}
    metrics = out / "metrics"
    assert "maxFm" in json.loads((metrics / "test.json").read_text())
    for name in ("test.cos.json", "test.cos.gt.json", "test.cos.results.json"):
        assert (metrics / name).is_file(), name
    ap = row["cos"]["test"]
    expected = reference_ap(export_gt(config, "test", tmp_path / "gt.json"), records)
    assert 0 < expected < 1
    assert ap["AP"] == pytest.approx(expected)
    assert ap["instance_labels"] == {"kind": "png", "path": str(root / "instances")}
    assert row["meta"]["instances"].startswith("every generated mask")
    assert row["method"] == "SAM ViT-B auto (union)"  # its DIS maps still depend on --reduce
    # PMG-SAM's benchmark row on the same data: one COS column, one ground truth.
    bench = tmp_path / "results" / "mine"
    assert evaluate(config, small_model_file[0], bench, "--workers", 1) == 0
    pmgsam = run_json(bench)
    assert pmgsam["cos"]["test"][GT_KEY]["fingerprint"] == ap[GT_KEY]["fingerprint"]
    table = build_tables([pmgsam, row])["cos"]
    assert [g for g, _ in table.groups] == ["test"]
    assert {name: cells[("test", "AP")] for name, cells in table.rows} == {
        "mine": pmgsam["cos"]["test"]["AP"],
        "SAM ViT-B auto (union)": ap["AP"],
    }


def test_box_row_of_a_folder_dataset_warns_it_has_the_dis_metrics_only(
    tmp_path: Path, small_model_file, monkeypatch
) -> None:
    from pmgsam.baselines import base

    def predict(self: Any, image: np.ndarray, boxes: Any = None) -> Any:
        maps = [np.full(image.shape[:2], 0.9, np.float32) for _ in boxes]
        return base.Prediction(maps, [0.9] * len(maps))

    monkeypatch.setattr(sam_family, "load", lambda *args: torch.nn.Linear(1, 1))
    monkeypatch.setattr(sam_family, "predictor", lambda model: None)
    monkeypatch.setattr(base.BoxBaseline, "predict", predict)
    root = folder_data(tmp_path)
    config = folder_config(tmp_path, small_model_file[1], root)
    out = tmp_path / "box"
    with pytest.warns(UserWarning, match="sam-box prompts one box around each image's whole GT"):
        assert baseline(config, out, "sam-box") == 0
    row = run_json(out)
    assert set(row["dis"]) == {"test"} and not row.get("cos")


def test_maps_predicted_without_instances_are_not_resumed_as_instanceless(
    tmp_path: Path, small_model_file, stub_generator
) -> None:
    config, _, _ = prepare(tmp_path, small_model_file, stub_generator, instance_dir=None)
    out = tmp_path / "row"
    assert baseline(config, out) == 0  # DIS only: its records hold no instances
    with_instances = folder_config(tmp_path, small_model_file[1], tmp_path / "mine")
    # Kept, its maps would give every image no instance: AP 0, silently.
    with pytest.raises(OutputError, match="holds maps made by"):
        baseline(with_instances, out, "sam-auto", "--skip-existing")
    assert baseline(with_instances, out) == 0  # predicted again
    assert run_json(out)["cos"]["test"]["AP"] > 0
