"""``overlap --run`` on another method's row made from its maps (``evaluate.py --task cos
--pred-dir ... --run DIR``). Such an entry names a ``results_file`` (the instances cut from the
maps) as a SAM baseline's does, and was taken for one: --pred-dir was refused ("scored from its
instances ... leave --pred-dir out"), and without it the subset was looked for in a
``<split>.gt.json`` that scoring mode never writes, so the row could get no subset AP at all."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict

from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.evaluate import main as evaluate_main
from pmgsam.utils.rle import encode_rle

H, W = 8, 8


def _instance(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[rows, cols] = True
    return mask


# Image a: two instances side by side (they touch: the subset); image b: one on its own.
A1, A2 = _instance(slice(1, 5), slice(0, 3)), _instance(slice(1, 5), slice(3, 6))
B1 = _instance(slice(2, 6), slice(2, 6))


@pytest.fixture
def maps_row(tmp_path: Path) -> tuple:
    """(GT file, maps folder, run): maps finding A1 and B1 exactly and missing A2, scored
    into the run by evaluate.py's COS scoring mode."""
    anns = [
        {"id": i, "image_id": image, "category_id": 1, "iscrowd": 0, "area": int(m.sum()),
         "segmentation": encode_rle(m)}
        for i, (image, m) in enumerate(((1, A1), (1, A2), (2, B1)), 1)
    ]  # fmt: skip
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_dict((H, W), anns, {"a.jpg": 1, "b.jpg": 2})))
    maps = tmp_path / "maps"
    maps.mkdir()
    cv2.imwrite(str(maps / "a.png"), A1.astype(np.uint8) * 255)
    cv2.imwrite(str(maps / "b.png"), B1.astype(np.uint8) * 255)
    run = tmp_path / "mine"
    evaluate_main(["--task", "cos", "--pred-dir", str(maps), "--gt-json", str(gt), "--out",
                   str(run / "metrics" / "TOY.json"), "--run", str(run), "--split", "TOY",
                   "--method", "Mine", "--quiet"])  # fmt: skip
    return gt, maps, run


def test_the_subset_of_a_maps_row_is_scored_from_its_maps(tmp_path, maps_row) -> None:
    gt, maps, run = maps_row
    analysis_main(["overlap", "--gt-json", str(gt), "--name", "TOY", "--rule", "touch",
                   "--run", str(run), "--pred-dir", str(maps), "--out", str(tmp_path / "ov"),
                   "--quiet"])  # fmt: skip
    cos = json.loads((run / "run.json").read_text())["cos"]
    # Subset = image a: A1 found (score 1), A2 missed: precision 1 up to recall 0.5, so 51 of
    # COCO's 101 recall points (0, 0.01, ..., 0.5) have precision 1.
    assert cos["TOY overlap"]["AP"] == pytest.approx(51 / 101)
    assert cos["TOY overlap"]["num_images"] == 1
    # The full set, as evaluate.py scored it: 2 of 3 found, recall points 0 .. 0.66.
    assert cos["TOY"]["AP"] == pytest.approx(67 / 101)


def test_other_maps_than_those_the_row_scored_are_still_refused(tmp_path, maps_row) -> None:
    # The same maps copied elsewhere are not what the row recorded: their AP would pass for it.
    import shutil

    from pmgsam.utils.cli import exit_status

    gt, maps, run = maps_row
    copy = Path(shutil.copytree(maps, tmp_path / "copy"))
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--run", str(run),
            "--pred-dir", str(copy), "--out", str(tmp_path / "ov"), "--quiet"]  # fmt: skip
    assert exit_status(analysis_main, args) == 2
    assert "TOY overlap" not in json.loads((run / "run.json").read_text())["cos"]
