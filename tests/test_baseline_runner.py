"""``pmgsam.baselines.runner`` with stand-in baselines on hand-made images (no SAM weights).

The stand-ins record what the runner passes them and return masks chosen by hand, so the boxes,
maps, COCO instances, counts and the efficiency block can be checked against values written out
here (and the AP against pycocotools' own evaluation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import pytest
import torch
from mask_cases import coco_annotation, coco_dict
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.baselines.base import Prediction
from pmgsam.baselines.runner import measure_efficiency, model_side, run_baseline, score_dis_maps
from pmgsam.data.io import DataError
from pmgsam.utils.outputs import OutputError, read_manifest

H, W = 12, 16
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A (H, W) uint8 mask, 1 on rows y0..y1 and columns x0..x1 (inclusive)."""
    m = np.zeros((H, W), np.uint8)
    m[y0 : y1 + 1, x0 : x1 + 1] = 1
    return m


class Stand:
    """A dataset of hand-made GT masks (images are flat, one grey level per image)."""

    def __init__(self, root: Path, gts: Dict[str, np.ndarray], coco: Optional[Dict] = None):
        (root / "im").mkdir(parents=True)
        (root / "gt").mkdir()
        self.names = list(gts)
        self.image_paths = [root / "im" / f"{n}.jpg" for n in self.names]
        self.mask_paths = [root / "gt" / f"{n}.png" for n in self.names]
        self.skeleton_paths = None
        self.gts, self.coco = list(gts.values()), coco
        for path, gt in zip(self.mask_paths, self.gts):
            cv2.imwrite(str(path), gt * 255)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, i: int):
        return np.full((H, W, 3), 10 * (i + 1), np.uint8), self.gts[i] * 255

    def coco_gt(self) -> Dict:
        return self.coco


class BoxStandIn:
    """Box prompts: one map per box, ``levels[k]`` inside box k and ``outside[k]`` outside it; a
    linear layer runs once per box so that FLOPs can be counted by hand (2 * 4 * 3 per call)."""

    prompt, mode, label = "box", "box", "stand-in"

    def __init__(self, levels=(0.8,), scores=(0.9,), outside=(0.0,)):
        self.model = torch.nn.Linear(4, 3)
        self.levels, self.scores, self.outside, self.calls = levels, scores, outside, []

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        self.calls.append((image, None if boxes is None else boxes.copy()))
        masks = []
        for k, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, int)):
            self.model(torch.ones(1, 4))
            m = np.full((H, W), self.outside[k], np.float32)
            m[y0 : y1 + 1, x0 : x1 + 1] = self.levels[k]
            masks.append(m)
        return Prediction(masks, list(self.scores[: len(masks)]))


class AutoStandIn:
    prompt, mode, label = "auto", "auto", "stand-in"

    def __init__(self, per_image: List[List[np.ndarray]]):
        self.model = torch.nn.Linear(4, 3)
        self.per_image, self.i = per_image, 0

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        masks = [m.astype(np.float32) for m in self.per_image[self.i]]
        self.i += 1
        return Prediction(masks, [0.5] * len(masks))


def png(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None, path
    return arr


def test_dis_box_prompts_empty_gt_limit_and_first_timed_image(tmp_path: Path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": np.zeros((H, W), np.uint8), "c": rect(6, 10, 1, 4)}
    data = Stand(tmp_path / "data", gts)
    baseline = BoxStandIn()
    summary = run_baseline(baseline, data, tmp_path / "run", "S", progress=False)
    # One tight inclusive XYXY box per prompted image; the empty GT is not prompted.
    assert [c[1].tolist() for c in baseline.calls] == [[[3, 2, 9, 5]], [[1, 6, 4, 10]]]
    assert summary["empty_gt"] == 1 and summary["masks"] == 2 and summary["no_masks"] == 0
    assert summary["timing_input"][0][0, 0, 0] == 10  # the first prompted image: a
    pred = tmp_path / "run" / "pred" / "S"
    np.testing.assert_array_equal(png(pred / "b.png"), np.zeros((H, W), np.uint8))
    np.testing.assert_array_equal(png(pred / "a.png"), gts["a"] * 204)  # rint(0.8 * 255)

    limited = run_baseline(BoxStandIn(), data, tmp_path / "lim", "S", limit=2, progress=False)
    assert limited["num_images"] == 2 and limited["num_dataset_images"] == 3
    assert sorted(p.name for p in (tmp_path / "lim" / "pred" / "S").glob("*.png")) == [
        "a.png",
        "b.png",
    ]
    scores = score_dis_maps(data, limited, tmp_path / "lim")
    assert scores["num_images"] == 2
    # ... marked as part of the split (the table notes it); the whole split is not marked.
    assert scores["subset"] == "first 2 of 3 images (--limit)"
    assert "subset" not in score_dis_maps(data, summary, tmp_path / "run")


def test_auto_mode_uses_the_chosen_reduction_and_counts_images_without_masks(
    tmp_path, caplog
) -> None:
    small, large = rect(0, 0, 0, 1), rect(4, 8, 4, 8)
    empty = np.zeros((H, W), np.uint8)
    data = Stand(tmp_path / "data", {"a": rect(4, 8, 4, 8), "b": rect(0, 1, 0, 1), "c": empty})
    baseline = AutoStandIn([[small, large], [], [small]])
    with caplog.at_level("WARNING", logger="pmgsam"):
        summary = run_baseline(baseline, data, tmp_path / "run", "S", "largest", progress=False)
    assert summary["no_masks"] == 1 and summary["masks"] == 3
    assert summary["empty_gt"] == 1  # c: scored all the same, but counted as in box mode
    assert any("1 of 3 images of S got no mask" in r.getMessage() for r in caplog.records)
    pred = tmp_path / "run" / "pred" / "S"
    np.testing.assert_array_equal(png(pred / "a.png"), large * 255)
    np.testing.assert_array_equal(png(pred / "b.png"), np.zeros((H, W), np.uint8))


def test_cos_instances_ids_threshold_and_max_map(tmp_path: Path, cocoeval_stats) -> None:
    a1, a2, c1 = rect(1, 3, 1, 4), rect(6, 9, 8, 12), rect(2, 4, 2, 5)
    empty = np.zeros((H, W), np.uint8)
    anns = [
        coco_annotation(1, 3, a1),
        coco_annotation(2, 3, a2),
        coco_annotation(3, 7, c1),
        coco_annotation(4, 7, empty),
    ]
    coco = coco_dict((H, W), anns, {"c.jpg": 7, "a.jpg": 3})
    data = Stand(tmp_path / "data", {"a": a1 | a2, "c": c1}, coco)
    # Box 0 of each image is exactly 0.5 (not above the threshold: no instance); box 1 is 0.9
    # inside and exactly 0.5 outside (its instance is the box only).
    baseline = BoxStandIn(levels=(0.5, 0.9), scores=(0.6, 0.7), outside=(0.0, 0.5))
    summary = run_baseline(baseline, data, tmp_path / "run", "T", cos=True, progress=False)
    assert summary["empty_gt_instances"] == 1 and summary["empty_gt"] == 0
    assert [c[1].tolist() for c in baseline.calls] == [
        [[1, 1, 4, 3], [8, 6, 12, 9]],
        [[2, 2, 5, 4]],
    ]
    results = json.loads((tmp_path / "run" / "metrics" / "T.results.json").read_text())
    assert [(r["image_id"], r["score"]) for r in results] == [(3, 0.7)]
    decoded = mask_utils.decode(dict(results[0]["segmentation"]))
    np.testing.assert_array_equal(decoded, a2)
    a_map = png(tmp_path / "run" / "pred" / "T" / "a.png")
    assert (a_map[a1 > 0] == 128).all() and (a_map[a2 > 0] == 230).all()  # max of both maps
    assert (a_map[(a1 | a2) == 0] == 128).all()
    cos = summary["cos"]
    assert cos["num_gt_instances"] == 4 and cos["num_results"] == 1 and cos["num_images"] == 2
    gt = COCO()
    gt.dataset = coco
    gt.createIndex()
    stats = cocoeval_stats(gt, tmp_path / "run" / "metrics" / "T.results.json")
    assert cos["stats"] == pytest.approx(stats, abs=1e-12)


def test_cos_image_missing_from_the_ground_truth_is_refused(tmp_path: Path) -> None:
    coco = coco_dict((H, W), [coco_annotation(1, 1, rect(1, 3, 1, 4))])
    data = Stand(tmp_path / "data", {"a": rect(1, 3, 1, 4), "b": rect(1, 3, 1, 4)}, coco)
    with pytest.raises(ValueError, match="image 'b' is not in the COCO ground truth of T"):
        run_baseline(BoxStandIn(), data, tmp_path / "run", "T", cos=True, progress=False)


def test_prediction_folder_in_the_dataset_is_refused_even_with_overwrite(tmp_path) -> None:
    # --output-dir DATA makes the maps of split 'gt' go to DATA/pred/gt; here that is the GT.
    data = Stand(tmp_path / "pred", {"a": rect(1, 3, 1, 4)})
    before = png(data.mask_paths[0])
    with pytest.raises(OutputError, match="input folder"):
        run_baseline(BoxStandIn(), data, tmp_path, "gt", progress=False, overwrite=True)
    np.testing.assert_array_equal(png(data.mask_paths[0]), before)


def test_efficiency_block_counts_every_prompt(tmp_path: Path, caplog) -> None:
    baseline = BoxStandIn(levels=(0.8,) * 3, scores=(0.9,) * 3, outside=(0.0,) * 3)
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], np.float32)
    with caplog.at_level("INFO", logger="pmgsam.baselines.runner"):
        report = measure_efficiency(baseline, np.zeros((H, W, 3), np.uint8), boxes, 2, 1)
    # The pause is announced (a CPU automatic mode takes minutes), with how to skip it.
    assert "2 passes after 1 warm-up" in caplog.text and "--speed-iters 0 skips" in caplog.text
    assert report["timed_prompts"] == 3 and report["timed_image_size"] == [H, W]
    assert report["image_size"] is None  # the stand-in records no input side
    assert report["flops_per_image"]["total"] == 3 * 2 * 4 * 3
    assert report["params"]["total"] == 4 * 3 + 3


def test_model_side_is_sams_input_side(vit_b: torch.nn.Module) -> None:
    assert model_side(vit_b) == 64  # what the efficiency note calls S, not the image's size


class Damaged(Stand):
    """A :class:`Stand` whose images named in ``bad`` cannot be read; ``reads`` counts loads."""

    def __init__(self, root: Path, gts: Dict[str, np.ndarray], bad: set):
        super().__init__(root, gts)
        self.bad, self.reads = bad, []

    def load(self, i: int):
        self.reads.append(self.names[i])
        if self.names[i] in self.bad:
            raise DataError(f"cannot read image file '{self.image_paths[i]}': truncated")
        return super().load(i)


def test_an_unreadable_image_stops_the_split_or_is_skipped_and_resumed(tmp_path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4), "c": rect(6, 10, 1, 4)}
    producer = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None,
                "image_size": 64, "amp": "none", "maps": "final", "settings": {"x": 1}}  # fmt: skip
    straight = run_baseline(BoxStandIn(), Stand(tmp_path / "s", gts), tmp_path / "s", "S",
                            progress=False, producer=producer)  # fmt: skip
    data = Damaged(tmp_path / "data", gts, {"b"})
    pred = tmp_path / "run" / "pred" / "S"
    # Without keep_going the split stops at b, naming it; a's map stays, no map for b.
    with pytest.raises(DataError, match=r"b\.jpg': truncated: the run stopped there"):
        run_baseline(BoxStandIn(), data, tmp_path / "run", "S", progress=False,
                     producer=producer)  # fmt: skip
    assert sorted(p.name for p in pred.glob("*.png")) == ["a.png"]
    summary = run_baseline(BoxStandIn(), data, tmp_path / "run", "S", progress=False,
                           producer=producer, keep_going=True)  # fmt: skip
    assert summary["failed"].keys() == {"b"} and "truncated" in summary["failed"]["b"]
    assert sorted(p.name for p in pred.glob("*.png")) == ["a.png", "c.png"]
    assert read_manifest(pred)["failed"].keys() == {"b"}
    assert "b.png" not in read_manifest(pred)["files"]
    # Fixed, then resumed: only b is read, and the summary is the straight run's.
    data.bad, data.reads = set(), []
    resumed = run_baseline(BoxStandIn(), data, tmp_path / "run", "S", progress=False,
                           producer=producer, skip_existing=True, timing=False)  # fmt: skip
    assert data.reads == ["b"] and "failed" not in read_manifest(pred)
    drop = ("pred_dir", "timing_input")
    assert {k: v for k, v in resumed.items() if k not in drop} == {
        k: v for k, v in straight.items() if k not in drop
    }
    for name in ("a.png", "b.png", "c.png"):
        np.testing.assert_array_equal(png(pred / name), png(tmp_path / "s" / "pred" / "S" / name))


def test_a_read_only_image_reaches_the_model_writable(tmp_path: Path) -> None:
    """PIL-backed arrays are read-only, and SAM2's ``to_tensor`` warns of each one (torch
    cannot share a read-only buffer): the runner hands the model a writable copy."""

    class ReadOnlyStand(Stand):
        def load(self, i: int):
            image, gt = super().load(i)
            image.flags.writeable = False
            return image, gt

    data = ReadOnlyStand(tmp_path / "data", {"a": rect(2, 5, 3, 9)})
    baseline = BoxStandIn()
    run_baseline(baseline, data, tmp_path / "run", "S", progress=False)
    ((image, _),) = baseline.calls
    assert image.flags.writeable and image[0, 0, 0] == 10


def test_skip_existing_without_the_producer_is_a_programming_error(tmp_path: Path) -> None:
    """Which maps to keep is decided by their producer: a caller that gives none is refused
    before the output folder is touched."""
    dataset = Stand(tmp_path / "data", {"a": rect(2, 5, 3, 9)})
    with pytest.raises(ValueError, match="skip_existing needs the producer of the maps"):
        run_baseline(BoxStandIn(), dataset, tmp_path / "out", "S", skip_existing=True)
    assert not (tmp_path / "out").exists()


class ReadOnlyStand(Stand):
    """Images as PIL gives them: read-only arrays."""

    def load(self, i: int):
        image, gt = super().load(i)
        image.flags.writeable = False
        return image, gt


def test_predicted_and_timed_images_are_writable(tmp_path: Path) -> None:
    # SAM2's to_tensor warns of a read-only array ("not writable ... undefined behavior"): the
    # timed image kept the read-only array the prediction had copied, so every sam2 run warned.
    data = ReadOnlyStand(tmp_path / "data", {"a": rect(2, 5, 3, 9), "b": rect(1, 4, 1, 4)})
    seen = []

    class Recording(BoxStandIn):
        def predict(self, image, boxes=None):
            seen.append(image.flags.writeable)
            return super().predict(image, boxes)

    producer = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None,
                "image_size": 64, "amp": "none", "maps": "final", "settings": {}}  # fmt: skip
    run = tmp_path / "run"
    summary = run_baseline(Recording(), data, run, "S", progress=False, producer=producer)
    assert seen == [True, True] and summary["timing_input"][0].flags.writeable
    # Every map kept by --skip-existing: the timed image is read again, writable too.
    again = run_baseline(Recording(), data, run, "S", progress=False, producer=producer,
                         skip_existing=True)  # fmt: skip
    assert len(seen) == 2 and again["timing_input"][0].flags.writeable
