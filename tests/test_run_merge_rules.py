"""``run_merge``'s rules, on hand-built runs: which entries a run gives (a pooled group only
when its parts can pool), which runs are not rows of one kind, what a merged row keeps (the
first run's place and meta, each part's model) and which notes it gets. The whole command runs
in tests/test_report_merged_rows.py; expected values here are written by hand."""

from __future__ import annotations

import pytest

from pmgsam.evaluation.run_merge import (
    MERGED_FROM,
    given_columns,
    merge_same_method,
    merged_row_notes,
)
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import dis_table

COD = {"AP": 0.41, "AP50": 0.70, "AP75": 0.40, "protocol": "all", "num_images": 2026}
TE = [f"DIS-TE{i}" for i in range(1, 5)]


def _te(mae: float, n: int | None = 500) -> dict:
    return {"MAE": mae, **({"num_images": n} if n is not None else {})}


def test_a_combined_group_asked_for_is_given_by_the_run_whose_parts_pool_into_it() -> None:
    a = {"method": "M", "dis": {"DIS-TE1": _te(0.1), "DIS-TE2": _te(0.2)}}
    b = {"method": "M", "dis": {"DIS-TE1+DIS-TE2": _te(0.3)}}
    with pytest.raises(EvaluationInputError, match="both give DIS split DIS-TE1\\+DIS-TE2:"):
        merge_same_method(["a", "b"], [a, b], subsets=["DIS-TE1+DIS-TE2"])


def test_without_splits_a_combined_group_of_any_run_is_given_by_one_whose_parts_pool() -> None:
    # The DIS table then shows every A+B group a run has: b's beside a's parts would make a row
    # whose DIS-TE1+DIS-TE2 (MAE 0.9) is not the pool of its DIS-TE1 and DIS-TE2 (0.15).
    a = {"method": "M", "dis": {"DIS-TE1": _te(0.1), "DIS-TE2": _te(0.2)}}
    b = {"method": "M", "dis": {"DIS-TE1+DIS-TE2": _te(0.9)}}
    with pytest.raises(EvaluationInputError, match="both give DIS split DIS-TE1\\+DIS-TE2:"):
        merge_same_method(["a", "b"], [a, b])
    other = {"method": "X", "dis": {"DIS-TE1+DIS-TE2": _te(0.9)}}
    c = {"method": "M", "dis": {"DIS-TE1": _te(0.1)}}
    d = {"method": "M", "dis": {"DIS-TE2": _te(0.2)}}
    (merged, _) = merge_same_method(["c", "d", "x"], [c, d, other])
    assert [src["dis"] for src in merged[MERGED_FROM]] == [["DIS-TE1"], ["DIS-TE2"]]


def test_parts_without_image_counts_give_no_overall() -> None:
    # The tables pool only parts with image counts: these give no Overall, so b's is no overlap.
    a = {"method": "M", "dis": {name: _te(0.1, None) for name in TE}}
    b = {"method": "M", "dis": {"DIS-TE1-4": _te(0.3)}}
    (merged,) = merge_same_method(["a", "b"], [a, b])
    assert [src["dis"] for src in merged[MERGED_FROM]] == [TE, ["DIS-TE1-4"]]


def test_an_overall_a_run_stores_and_could_pool_is_listed_once() -> None:
    dis = {**{name: _te(0.1) for name in TE}, "DIS-TE1-4": _te(0.1, 2000)}
    assert given_columns({"dis": dis})["dis"] == [*TE, "DIS-TE1-4"]


@pytest.mark.parametrize(
    "meta, other, shown",
    [
        ({"mode": "box"}, {}, "GT-box prompted: True vs False"),
        ({"box_prompt": {"jitter": 0.1}}, {"mode": "point"}, "GT-box prompted: True vs False"),
        ({"baseline": "sam-auto"}, {"baseline": "sam2-auto"}, "baseline: sam-auto vs sam2-auto"),
    ],
)
def test_runs_the_tables_show_differently_are_not_one_row(meta, other, shown) -> None:
    runs = [
        {"method": "M", "dis": {"DIS-VD": _te(0.1)}, "meta": meta},
        {"method": "M", "cos": {"NC4K": COD}, "meta": meta},
        {"method": "M", "cos": {"COD10K": COD}, "meta": other},
    ]
    with pytest.raises(EvaluationInputError) as err:
        merge_same_method(["a", "b", "c"], runs)
    assert str(err.value).startswith(
        f"runs 'a' and 'c' both have the method name 'M' but are not rows of one kind ({shown})"
    )


def test_a_merged_row_keeps_the_first_runs_place_and_meta_and_each_parts_model() -> None:
    first = {"method": "M", "dis": {"DIS-VD": _te(0.1)},
             "meta": {"checkpoint": "dis.pth", "config": "a.yaml", "timed_on": "A100"}}  # fmt: skip
    ablation = {"method": "M", "cos": {"COD10K": COD}, "meta": {"config": "b.yaml"}}
    bare = {"method": "M", "cos": {"NC4K": COD}}
    other = {"method": "X", "cos": {"COD10K": COD}}
    merged, row = merge_same_method(["a", "x", "b", "c"], [first, other, ablation, bare])
    assert row == other and merged["method"] == "M" and merged["meta"] == first["meta"]
    assert [src["model"] for src in merged[MERGED_FROM]] == [
        "checkpoint 'dis.pth'",  # the checkpoint is the model, not the config it was built by
        "config 'b.yaml'",
        None,
    ]
    assert merged_row_notes([merged], "cos") == [
        "M is one row of 3 runs of that name; here COD10K from 'b' (config 'b.yaml'); "
        "NC4K from 'c'."
    ]


def test_notes_name_only_the_entries_a_table_shows() -> None:
    a = {"method": "M", "dis": {"DIS-VD": _te(0.1), "DIS-TE1": _te(0.2)}}
    b = {"method": "M", "cos": {"COD10K": COD}}
    (merged,) = merge_same_method(["a", "b"], [a, b])
    assert merged_row_notes([merged], "dis", ["DIS-TE1"]) == [
        "M is one row of 2 runs of that name; here DIS-TE1 from 'a'."
    ]
    assert merged_row_notes([merged], "efficiency") == []  # no part of it in that table


def test_an_overall_one_run_gives_is_pooled_in_a_merged_row() -> None:
    a = {"method": "M", "dis": {name: _te(0.1 * i) for i, name in enumerate(TE, 1)}}
    b = {"method": "M", "cos": {"COD10K": COD}}
    (merged,) = merge_same_method(["a", "b"], [a, b])
    table = dis_table([merged], ["DIS-TE1-4"])
    (_, values), *_ = table.rows
    assert values[("Overall (TE1-4)", "MAE")] == pytest.approx(0.25)  # (0.1+0.2+0.3+0.4)/4
