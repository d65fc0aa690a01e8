"""Baseline runs whose model fails (NaN maps, NaN or infinite predicted IoU) and COS box prompts
next to crowd regions, with the stand-ins of ``test_baseline_runner``; AP expectations come from
pycocotools' own evaluation of hand-written results."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict
from pycocotools.coco import COCO
from test_baseline_runner import BoxStandIn, H, Stand, W, rect

from pmgsam.baselines.row_scores import NonFiniteScoreWarning
from pmgsam.baselines.runner import run_baseline
from pmgsam.engine.prediction_maps import NaNPredictionWarning

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
IMAGE_IDS = {"a.jpg": 3, "c.jpg": 7}  # ids that are not split positions


def test_nan_maps_are_named_in_one_warning_for_the_run(tmp_path: Path) -> None:
    gts = {n: rect(2, 5, 3, 9) for n in ("a", "b", "c")}
    data = Stand(tmp_path / "data", gts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_baseline(BoxStandIn(levels=(np.nan,)), data, tmp_path / "run", "S", progress=False)
    nan = [w for w in caught if issubclass(w.category, NaNPredictionWarning)]
    assert len(nan) == 1, [str(w.message) for w in nan]
    text = str(nan[0].message)
    assert text.startswith("3 map(s) of stand-in held NaN")
    for name in ("a.png", "b.png", "c.png"):
        assert name in text
    pred = tmp_path / "run" / "pred" / "S"
    assert all((pred / f"{n}.png").is_file() for n in gts)  # written all the same, as 0


def test_non_finite_scores_rank_last_named_and_written_as_strict_json(
    tmp_path: Path, cocoeval_stats
) -> None:
    small, a2, c1 = rect(0, 1, 0, 1), rect(6, 9, 8, 12), rect(2, 4, 2, 5)
    anns = [coco_annotation(1, 3, small), coco_annotation(2, 3, a2), coco_annotation(3, 7, c1)]
    coco = coco_dict((H, W), anns, IMAGE_IDS)
    data = Stand(tmp_path / "data", {"a": small | a2, "c": c1}, coco)
    # Image a: box 0's mask is the whole image (a false positive: IoU 4/192 with its instance)
    # with an infinite score, box 1's the instance itself at 0.8; image c: its instance, NaN.
    baseline = BoxStandIn(levels=(0.9, 0.9), scores=(math.inf, 0.8), outside=(0.9, 0.0))
    scores = iter([(math.inf, 0.8), (math.nan,)])

    def predict(image, boxes=None, _predict=baseline.predict):
        baseline.scores = next(scores)
        return _predict(image, boxes)

    baseline.predict = predict
    with pytest.warns(NonFiniteScoreWarning) as caught:
        summary = run_baseline(baseline, data, tmp_path / "run", "T", cos=True, progress=False)
    (text,) = [str(w.message) for w in caught if w.category is NonFiniteScoreWarning]
    assert "2 COCO instance(s) of T had a NaN or infinite score" in text
    assert "a.jpg instance 0 (inf)" in text and "c.jpg instance 0 (nan)" in text
    written = (tmp_path / "run" / "metrics" / "T.results.json").read_text()

    def refuse(constant: str) -> float:
        raise AssertionError(f"results file holds {constant}, which is not JSON")

    results = json.loads(written, parse_constant=refuse)
    assert [r["score"] for r in results] == pytest.approx([-0.2, 0.8, -0.2])  # lowest finite - 1
    assert summary["cos"]["non_finite_scores"] == 2
    gt = COCO()
    gt.dataset = coco
    gt.createIndex()
    # pycocotools on the same instances, the failed ones scored below every other one by hand
    by_hand = tmp_path / "by_hand.json"
    by_hand.write_text(json.dumps([dict(r, score=s) for r, s in zip(results, (0.1, 0.8, 0.1))]))
    expected = cocoeval_stats(gt, by_hand)
    assert summary["cos"]["stats"] == pytest.approx(expected, abs=1e-12)
    # ... which the infinite score ranked first would not give
    inf_first = tmp_path / "inf_first.json"
    inf_first.write_text(json.dumps([dict(r, score=s) for r, s in zip(results, (9, 0.8, 0.1))]))
    assert cocoeval_stats(gt, inf_first)[0] != pytest.approx(expected[0])


def test_cos_box_prompts_skip_crowd_regions(tmp_path: Path) -> None:
    a1, crowd, c1 = rect(1, 3, 1, 4), rect(6, 9, 8, 12), rect(2, 4, 2, 5)
    plain = coco_annotation(4, 3, rect(8, 10, 0, 2))
    del plain["iscrowd"]  # COCOeval reads a missing key as "not a crowd"
    anns = [
        coco_annotation(1, 3, a1),
        coco_annotation(2, 3, crowd, iscrowd=1),
        plain,
        coco_annotation(3, 7, c1, iscrowd=1),
    ]
    data = Stand(tmp_path / "data", {"a": a1 | crowd, "c": c1}, coco_dict((H, W), anns, IMAGE_IDS))
    baseline = BoxStandIn(levels=(0.9, 0.9), scores=(0.9, 0.9), outside=(0.0, 0.0))
    summary = run_baseline(baseline, data, tmp_path / "run", "T", cos=True, progress=False)
    # a: its two plain instances only; c: only a crowd region, so not prompted (an empty map)
    assert [c[1].tolist() for c in baseline.calls] == [[[1, 1, 4, 3], [0, 8, 2, 10]]]
    assert summary["empty_gt"] == 1 and summary["masks"] == 2
    assert summary["cos"]["num_gt_instances"] == 2


def test_a_limited_cos_run_scores_and_counts_the_gt_of_its_images_only(tmp_path: Path) -> None:
    a1, c1, c2 = rect(1, 3, 1, 4), rect(2, 4, 2, 5), rect(7, 9, 7, 9)
    anns = [coco_annotation(1, 3, a1), coco_annotation(2, 7, c1), coco_annotation(3, 7, c2)]
    data = Stand(tmp_path / "data", {"a": a1, "c": c1 | c2}, coco_dict((H, W), anns, IMAGE_IDS))
    summary = run_baseline(BoxStandIn(), data, tmp_path / "run", "T", cos=True, limit=1,
                           progress=False)  # fmt: skip
    assert summary["cos"]["num_gt_instances"] == 1  # a's, not c's two
    written = json.loads((tmp_path / "run" / "metrics" / "T.gt.json").read_text())
    assert [a["id"] for a in written["annotations"]] == [1]
