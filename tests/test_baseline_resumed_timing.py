"""A resumed COS box run whose first prompted image was kept reads that image again to time it:
its box prompts must be its own, also when an unreadable image before it was left out of the
COCO ground truth (``keep_going``), which shifts the images' positions in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mask_cases import coco_annotation, coco_dict
from test_baseline_resumed_instances import PRODUCER
from test_baseline_runner import BoxStandIn, H, Stand, W, rect

from pmgsam.baselines.runner import run_baseline


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_kept_image_is_timed_with_its_own_boxes_after_an_unreadable_one(tmp_path: Path) -> None:
    gts = {"a": rect(0, 2, 0, 2), "b": rect(1, 3, 1, 4), "c": rect(6, 9, 8, 12)}
    # a's header cannot be read: the GT holds b and c only
    anns = [coco_annotation(1, 5, gts["b"]), coco_annotation(2, 6, gts["c"])]
    gt = coco_dict((H, W), anns, {"b.jpg": 5, "c.jpg": 6})
    data = Stand(tmp_path / "data", gts, gt)
    kwargs = dict(cos=True, progress=False, producer=PRODUCER, keep_going=True, gt=gt,
                  gt_unreadable={"a": "cannot read its header"})  # fmt: skip
    first = run_baseline(BoxStandIn(), data, tmp_path / "run", "T", **kwargs)
    assert first["timing_input"][1].tolist() == [[1, 1, 4, 3]]  # b's box, b predicted now
    resumed = run_baseline(BoxStandIn(), data, tmp_path / "run", "T", skip_existing=True, **kwargs)
    assert resumed["failed"] == {"a": "cannot read its header"}
    image, boxes = resumed["timing_input"]
    assert image[0, 0, 0] == 20 and boxes.tolist() == [[1, 1, 4, 3]]  # b's image, b's box


def test_a_split_of_empty_gts_has_no_image_to_time(tmp_path: Path) -> None:
    """Box prompts: an empty GT is not prompted, so there is no prediction to time."""
    data = Stand(tmp_path / "data", {"a": rect(0, -1, 0, -1), "b": rect(0, -1, 0, -1)})
    summary = run_baseline(BoxStandIn(), data, tmp_path / "run", "S", progress=False)
    assert summary["empty_gt"] == 2 and summary["timing_input"] is None
