"""A resumed baseline run that stops again leaves the identities of the maps it kept in the
folder's manifest (a run records identities only once it finishes): a kept map replaced
afterwards is then still told apart from the map written, and (with ``overwrite``: without it
the folder is refused, tests/test_edited_maps.py) predicted again rather than kept as the
model's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_baseline_resumed_instances import PRODUCER
from test_baseline_runner import BoxStandIn, Damaged, png, rect

from pmgsam.baselines.runner import run_baseline
from pmgsam.data.io import DataError

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_a_map_kept_by_a_stopped_resume_and_replaced_is_predicted_again(tmp_path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4), "c": rect(6, 10, 1, 4)}
    data = Damaged(tmp_path / "data", gts, {"b"})
    kwargs = dict(progress=False, producer=PRODUCER, timing=False)
    pred = tmp_path / "run" / "pred" / "S"
    run_baseline(BoxStandIn(), data, tmp_path / "run", "S", limit=1, **kwargs)  # a only
    written = png(pred / "a.png")
    data.reads = []
    with pytest.raises(DataError, match=r"b\.jpg"):  # keeps a, then stops at b
        run_baseline(BoxStandIn(), data, tmp_path / "run", "S", skip_existing=True, **kwargs)
    assert data.reads == ["b"]
    # Someone's file in a's place (another size: its identity differs whatever the clock).
    cv2.imwrite(str(pred / "a.png"), np.full((3, 3), 7, np.uint8))
    data.bad, data.reads = set(), []
    with pytest.warns(UserWarning, match=r"1 map\(s\) changed since pmgsam wrote them"):
        run_baseline(BoxStandIn(), data, tmp_path / "run", "S", skip_existing=True,
                     overwrite=True, **kwargs)  # fmt: skip
    assert data.reads == ["a", "b", "c"]
    np.testing.assert_array_equal(png(pred / "a.png"), written)
    data.reads = []
    model = BoxStandIn()
    run_baseline(model, data, tmp_path / "run", "S", skip_existing=True, **kwargs)
    assert data.reads == [] and model.calls == []  # all finished: nothing predicted
