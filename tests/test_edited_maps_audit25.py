"""Edges of the edited-map refusal (:func:`pmgsam.utils.outputs.check_output_dir`) that the
tests of tests/test_edited_maps.py leave open: a baseline's hidden records file is the tool's
bookkeeping, never a map the user edited, so a record rewritten since (by hand, a sync tool)
neither refuses a resume nor is named as a map."""

from __future__ import annotations

import warnings

import pytest
from map_cases import replace_by_hand, touch_later
from test_baseline_resumed_instances import PRODUCER
from test_baseline_runner import BoxStandIn, Stand, rect

from pmgsam.baselines.resume import RECORDS
from pmgsam.baselines.runner import run_baseline
from pmgsam.utils.outputs import IDENTITIES, OutputError, check_output_dir, read_manifest

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_a_baseline_resume_keeps_its_maps_when_only_its_records_file_changed(tmp_path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4)}
    data, run = Stand(tmp_path / "data", gts), tmp_path / "run"
    pred = run / "pred" / "S"
    kwargs = dict(progress=False, producer=PRODUCER, timing=False)
    run_baseline(BoxStandIn(), data, run, "S", **kwargs)
    assert RECORDS in read_manifest(pred)[IDENTITIES]  # recorded, so a change is seen
    touch_later(pred / RECORDS)
    check_output_dir(pred, ["a.png", "b.png", RECORDS], option="--output-dir")  # no refusal
    model = BoxStandIn()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "changed since" warning either
        run_baseline(model, data, run, "S", skip_existing=True, **kwargs)
    assert model.calls == []  # both maps kept, as the model's


def test_a_baseline_resume_names_the_edited_map_it_would_replace(tmp_path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4)}
    data, run = Stand(tmp_path / "data", gts), tmp_path / "run"
    kwargs = dict(progress=False, producer=PRODUCER, timing=False)
    run_baseline(BoxStandIn(), data, run, "S", **kwargs)
    replace_by_hand(run / "pred" / "S" / "b.png")
    with pytest.raises(OutputError, match=r"\(b\.png\).*; 1 of them would be replaced \(b\.png\)"):
        run_baseline(BoxStandIn(), data, run, "S", skip_existing=True, **kwargs)
