"""The overlap analysis's AP entries record their ground truth (:mod:`pmgsam.evaluation.table_gt`).

Its full-set entry (``T``) shares a COS column with benchmark and ``--pred-dir`` rows; its
subset entry (``T overlap``) shares one with other runs' subsets, which another ``--rule`` (or
GT file) makes of other images: without a record the table put two such subsets in one column
under one note naming the first row's rule. Both entries now record theirs, the same as other
writers record for the same GT, and the table refuses a column of two subsets."""

from __future__ import annotations

import json
import warnings

import pytest
from test_overlap_analysis import _maps, coco_of, square

from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.table_gt import GT_KEY, coco_record
from pmgsam.evaluation.tables import cos_table

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
# Image 1: two squares that touch, their boxes sharing no area; image 2: boxes that overlap.
DATA = coco_of([square(0, 3, 0, 3), square(3, 6, 0, 3)], [square(0, 4, 0, 4), square(2, 6, 2, 6)])


def _overlap_run(tmp_path, name: str, rule: str, gt=None) -> dict:
    """Run ``name`` of perfect maps, its T AP and T overlap AP (``rule``) scored by overlap."""
    if gt is None:
        gt = tmp_path / "gt.json"
        gt.write_text(json.dumps(DATA))
    run = tmp_path / name
    (run / "pred").mkdir(parents=True)
    _maps(run / "pred" / "Test", DATA)
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--out", tmp_path / f"o_{name}"]
    argv += ["--run", run, "--pred-dir", run / "pred" / "Test", "--rule", rule, "--quiet"]
    assert analysis_main([str(a) for a in argv]) == 0
    return json.loads((run / "run.json").read_text())


def test_subsets_of_two_rules_are_refused_in_one_column(tmp_path) -> None:
    touch, box = _overlap_run(tmp_path, "A", "touch"), _overlap_run(tmp_path, "B", "box")
    assert (
        touch["cos"]["T overlap"]["num_images"] == 2 and box["cos"]["T overlap"]["num_images"] == 1
    )
    # The full set: as evaluate.py --pred-dir --task cos --gt-json records the same file.
    full = coco_record(tmp_path / "gt.json", "elsewhere")["fingerprint"]
    assert (
        touch["cos"]["T"][GT_KEY]["fingerprint"] == box["cos"]["T"][GT_KEY]["fingerprint"] == full
    )
    # The subset: as its written GT file (overlap_gt.json) reads back.
    written = tmp_path / "o_A" / "overlap_gt.json"
    assert (
        touch["cos"]["T overlap"][GT_KEY]["fingerprint"] == coco_record(written, "x")["fingerprint"]
    )
    with pytest.raises(ValueError, match=r"COS column 'T overlap': rows 'A' and 'B'"):
        cos_table([touch, box])
    # The same rule on the same GT: one column.
    again = _overlap_run(tmp_path, "C", "touch")
    assert [m for m, _ in cos_table([touch, again]).rows] == ["A", "C"]


def test_a_gt_other_than_the_one_of_the_runs_full_set_ap_is_warned_of(tmp_path) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(DATA))
    own = coco_record(gt, "/data/T.json")
    for name, fingerprint in (("same", own["fingerprint"]), ("other", "0" * 64)):
        entry = {"AP": 0.5, "protocol": "all", "resize_pred": False,
                 GT_KEY: {**own, "fingerprint": fingerprint}}  # fmt: skip
        write_run_json(tmp_path / name, name, cos={"T": entry})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _overlap_run(tmp_path, "same", "touch", gt)
    with pytest.warns(UserWarning, match=r"is not the one --run's T AP was scored against"):
        _overlap_run(tmp_path, "other", "touch", gt)
