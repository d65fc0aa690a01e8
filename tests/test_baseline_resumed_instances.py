"""A resumed COS baseline run (``skip_existing``) scores its kept instances under the image ids
of the COCO ground truth it is scored against now, not those recorded with them: an automatic
mode's maps depend on the image only, so a renumbered GT file keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict
from test_baseline_runner import AutoStandIn, H, Stand, W, rect

from pmgsam.baselines.runner import run_baseline

PRODUCER = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None, "image_size": 64,
            "amp": "none", "maps": "final", "settings": {}}  # fmt: skip


def _coco(image_id: int) -> dict:
    return coco_dict((H, W), [coco_annotation(1, image_id, rect(1, 3, 1, 4))], {"a.jpg": image_id})


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_kept_instances_take_the_current_ground_truths_image_id(tmp_path: Path) -> None:
    data = Stand(tmp_path / "data", {"a": rect(1, 3, 1, 4)}, _coco(3))
    out = tmp_path / "run"
    kwargs = dict(cos=True, progress=False, producer=PRODUCER, timing=False)
    first = run_baseline(AutoStandIn([[rect(1, 3, 1, 4)]]), data, out, "T", **kwargs)
    assert first["cos"]["AP"] == pytest.approx(1.0)
    data.coco = _coco(9)  # the same image, renumbered
    # Nothing is predicted again (the stand-in has no masks left to give).
    resumed = run_baseline(AutoStandIn([]), data, out, "T", skip_existing=True, **kwargs)
    results = json.loads((out / "metrics" / "T.results.json").read_text())
    assert [r["image_id"] for r in results] == [9]
    assert resumed["cos"]["AP"] == pytest.approx(1.0)
    np.testing.assert_array_equal(resumed["cos"]["stats"], first["cos"]["stats"])
