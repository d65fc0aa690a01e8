"""The analyses' per-image passes (figures' IoU ranking, the overlap subset and its AP scoring,
the Pre-Mask scores): a progress bar unless --quiet, results in the split's order from several
threads, and the overlap subset's shortcut (touching tested only near both boxes) giving the
subset of whole-image dilations."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict
from PIL import Image
from test_analysis import DEMO, _fake_run

from pmgsam.analysis import figures
from pmgsam.analysis.__main__ import main
from pmgsam.analysis.overlap import boxes_overlap, masks_touch, overlapping_image_ids
from pmgsam.analysis.per_image import map_images
from pmgsam.evaluation.coco_gt import load_coco

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_map_images_keeps_the_order_of_the_items_on_threads() -> None:
    # Later items finish first (shorter sleeps): the results still follow the items.
    def work(i: int) -> int:
        time.sleep(0.002 * (8 - i))
        return i * i

    assert map_images(work, list(range(8)), "x", progress=False, threads=4) == [
        i * i for i in range(8)
    ]


def test_map_images_raises_the_first_error_without_running_the_rest() -> None:
    started: List[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        if i == 1:
            time.sleep(0.01)
            raise ValueError("map 1 is broken")
        # Items 2 and 3 are the two threads' next ones, taken as item 1 fails: they stay under
        # way long enough for a caller on a loaded machine to cancel the rest (with 10 ms each,
        # a caller 10 ms late let item 4 or 5 start in 1 run of 8 under load).
        time.sleep(0.5 if i in (2, 3) else 0.01 if i == 0 else 0)
        return i

    with pytest.raises(ValueError, match="map 1 is broken"):
        map_images(work, list(range(60)), "x", progress=False, threads=2)
    # Two threads: items 0-3 at most were under way when item 1 failed; the 56 left queued
    # used to be run to the end before the error came out.
    assert len(started) <= 4


def _figures_args(tmp_path: Path, dis5k_root: Path, *extra: str) -> List[str]:
    stems = sorted(p.stem for p in (dis5k_root / "DIS-TE1" / "gt").glob("*.png"))
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", {stems[0]})
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    return ["figures", "--runs", str(run), "--worst", "1", "--by", "iou", "--num", "1"] + [
        "--out", str(tmp_path / "figs"), "--overwrite", "--config", str(DEMO),
        "--split", "DIS-TE1", *extra, *data,
    ]  # fmt: skip


def test_figures_ranking_by_iou_shows_progress_unless_quiet(
    tmp_path, dis5k_root, monkeypatch, capsys
) -> None:
    # The grids themselves are not the point here: drawing them is skipped.
    monkeypatch.setattr(figures, "draw_grid", lambda rows, headers, path, *a, **k: path)
    args = _figures_args(tmp_path, dis5k_root)
    assert main(args) == 0
    err = capsys.readouterr().err
    # DIS-TE1 of the fixture holds 2 images: the bar counts both maps read.
    assert "IoU of the predictions" in err and "2/2" in err
    assert main(args + ["--quiet"]) == 0
    assert "IoU of the predictions" not in capsys.readouterr().err


def _two_squares_coco(tmp_path: Path) -> Path:
    a = np.zeros((20, 20), np.uint8)
    b = np.zeros((20, 20), np.uint8)
    a[0:5, 0:5], b[0:5, 5:10] = 1, 1  # sharing an edge
    data = coco_dict((20, 20), [coco_annotation(1, 1, a), coco_annotation(2, 1, b)],
                     ["im1.jpg", "im2.jpg"])  # fmt: skip
    path = tmp_path / "gt" / "gt.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


def test_overlap_selection_shows_progress_unless_quiet(tmp_path, capsys) -> None:
    args = ["overlap", "--gt-json", str(_two_squares_coco(tmp_path)), "--name", "TOY"]
    args += ["--out", str(tmp_path / "ov"), "--rule", "touch"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "overlapping instances (touch)" in out.err and "2/2" in out.err
    assert "1 of 2 images" in out.out
    assert main(args + ["--quiet"]) == 0
    assert "overlapping instances" not in capsys.readouterr().err


def test_overlap_ap_scoring_shows_progress_unless_quiet(tmp_path, capsys) -> None:
    # Maps equal to the GT: image 1 (the two touching squares, the subset) and image 2 (empty).
    gt = _two_squares_coco(tmp_path)
    pred = tmp_path / "pred"
    pred.mkdir()
    first = np.zeros((20, 20), np.uint8)
    first[0:5, 0:10] = 255
    Image.fromarray(first).save(pred / "im1.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(pred / "im2.png")
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--pred-dir", str(pred)]
    args += ["--out", str(tmp_path / "ov"), "--rule", "touch", "--overwrite"]
    assert main(args) == 0
    err = capsys.readouterr().err
    # One bar per AP pass: the full set's 2 maps, then the subset's 1.
    done = re.findall(r"COS instances \(all\): 100%\|[^|]*\| (\d+/\d+)", err)
    assert done == ["2/2", "1/1"]
    assert main(args + ["--quiet"]) == 0
    assert "COS instances" not in capsys.readouterr().err


def test_premask_quiet_turns_off_the_scoring_bar(tmp_path, dis5k_root, monkeypatch) -> None:
    import pmgsam.analysis.premask as premask

    seen: Dict[str, Any] = {}

    class Stop(Exception):
        pass

    def analyse(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(premask, "analyse", analyse)
    stems = sorted(p.stem for p in (dis5k_root / "DIS-TE1" / "gt").glob("*.png"))
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set(stems))
    args = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1"]
    args += [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    for extra, progress in (([], True), (["--quiet"], False)):
        with pytest.raises(Stop):
            main(args[:1] + extra + args[1:])
        assert seen["progress"] is progress


def _square(size: int, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[y0 : y0 + h, x0 : x0 + w] = 1
    return m


def test_far_apart_instances_are_not_decoded_for_touching(monkeypatch) -> None:
    # Two squares in a 400 x 400 image, columns 10-29 and 60-79 (rows 10-29 both): 31 columns
    # from one's edge to the other's, so they touch at distance 31, not 30, which their boxes
    # alone tell. Each pair used to be decoded and dilated over the whole image.
    from pycocotools import mask as mask_utils

    anns = [
        coco_annotation(1, 1, _square(400, 10, 10, 20, 20)),
        coco_annotation(2, 1, _square(400, 10, 60, 20, 20)),
    ]
    coco = load_coco(coco_dict((400, 400), anns))
    decoded: List[int] = []
    decode = mask_utils.decode
    monkeypatch.setattr(mask_utils, "decode", lambda rle: decoded.append(1) or decode(rle))
    assert overlapping_image_ids(coco, "touch", 30, progress=False) == []
    assert decoded == []
    assert overlapping_image_ids(coco, "touch", 31, progress=False) == [1]  # on decoded masks
    assert len(decoded) == 2


def _random_instances(rng: np.random.Generator, size: int) -> List[np.ndarray]:
    """2-4 blobs: rectangles, some hollow or L-shaped, at random places (some empty)."""
    masks = []
    for _ in range(rng.integers(2, 5)):
        m = np.zeros((size, size), np.uint8)
        if rng.random() > 0.1:  # now and then an empty instance
            y, x = rng.integers(0, size - 4, 2)
            h, w = rng.integers(1, size // 2, 2)
            m[y : y + h, x : x + w] = 1
            if rng.random() < 0.5:  # an L or a frame: the box holds empty corners
                m[y + h // 3 : y + h, x + w // 3 : x + w] = 0
        masks.append(m)
    return masks


def test_overlap_subset_equals_the_whole_image_definition() -> None:
    # The reference: every pair's boxes and its masks dilated over the whole image.
    rng = np.random.default_rng(0)
    size, anns, images, instances = 32, [], [], {}
    for img in range(1, 121):
        masks = _random_instances(rng, size)
        instances[img] = masks
        images.append({"id": img, "file_name": f"{img}.jpg", "height": size, "width": size})
        anns += [coco_annotation(len(anns) + k, img, m) for k, m in enumerate(masks, 1)]
    coco = load_coco({"images": images, "annotations": anns, "categories": [{"id": 1}]})

    def box(m: np.ndarray) -> List[int]:
        ys, xs = np.nonzero(m)
        if not len(xs):
            return [0, 0, 0, 0]
        return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]

    for rule, distance in itertools.product(("touch", "box", "either"), (0, 1, 3)):
        expected = []
        for img, masks in instances.items():
            pairs = list(itertools.combinations(masks, 2))
            by_box = any(boxes_overlap(box(a), box(b)) for a, b in pairs)
            by_touch = any(masks_touch(a > 0, b > 0, distance) for a, b in pairs)
            hit = {"touch": by_touch, "box": by_box, "either": by_box or by_touch}[rule]
            if hit:
                expected.append(img)
        assert overlapping_image_ids(coco, rule, distance, progress=False) == expected
        assert 0 < len(expected) < len(instances), (rule, distance)  # both kinds present
