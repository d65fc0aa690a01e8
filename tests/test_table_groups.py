"""Tables and checkpoint fields in the cases the other tests leave out: the pooled Overall
(TE1-4) group of a ``--limit`` baseline marks no best, a table mixing DIS5K and a folder
dataset's splits is not titled DIS5K, and a ``model.*`` frozen-file override wins over the
config's file."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import pmgsam
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import TE_PARTS, build_tables, dis_table
from pmgsam.modeling.checkpoint import checkpoint_model_fields, save_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _scores(mae: float, n: int) -> dict:
    return {"MAE": mae, "num_images": n}


def test_an_oracle_row_is_never_best_and_the_others_are_ranked_without_it():
    # --reduce oracle picks each image's mask with the GT: shown, but not a competitor.
    oracle = {"method": "SAM ViT-B auto (ORACLE upper bound)", "meta": {"reduce_is_oracle": True}}
    oracle["dis"] = {"DIS-VD": _scores(0.01, 2)}
    runs = [oracle, {"method": "ours", "dis": {"DIS-VD": _scores(0.1, 2)}}]
    runs.append({"method": "sam", "dis": {"DIS-VD": _scores(0.2, 2)}, "meta": {}})
    md = to_markdown(dis_table(runs))
    assert "| SAM ViT-B auto (ORACLE upper bound) | – | – | 0.010 |" in md
    assert "| ours | – | – | **0.100** |" in md and "| sam | – | – | 0.200 |" in md
    assert "ORACLE upper bound, not ranked" in md


def _box_run(method: str, section: str, scores: dict) -> dict:
    # The meta `evaluate.py --baseline sam-box` records (mode and box rule) on COS data.
    meta = {"mode": "box", "box_prompt": "one tight XYXY box per GT instance (COCO instance masks)"}
    return {"method": method, section: scores, "meta": meta}


def test_gt_box_rows_are_never_best_and_the_automatic_rows_are_ranked_without_them():
    # A box per GT instance tells SAM where every object is: shown beside the automatic rows,
    # not ranked against them, in the COS table as in the DIS one.
    box = _box_run("SAM ViT-B GT box per instance", "cos", {"COD10K": {"AP": 0.6, "AP50": 0.9}})
    auto = {"method": "SAM ViT-B auto", "cos": {"COD10K": {"AP": 0.1, "AP50": 0.2}}}
    ours = {"method": "ours", "cos": {"COD10K": {"AP": 0.3, "AP50": 0.1}}, "meta": {}}
    md = to_markdown(build_tables([box, auto, ours])["cos"])
    assert "| SAM ViT-B GT box per instance | 60.0 | 90.0 | – |" in md
    assert (
        "| SAM ViT-B auto | 10.0 | **20.0** | – |" in md and "| ours | **30.0** | 10.0 | – |" in md
    )
    assert "Prompted with GT boxes, not ranked (the GT locates each object): SAM ViT-B GT box" in md
    dis_box = _box_run("SAM ViT-B GT box", "dis", {"DIS-VD": _scores(0.01, 2)})
    dis_md = to_markdown(
        dis_table([dis_box, {"method": "ours", "dis": {"DIS-VD": _scores(0.1, 2)}}])
    )
    assert "| SAM ViT-B GT box | – | – | 0.010 |" in dis_md and "| ours | – | – | 0.100 |" in dis_md
    # One ranked row is left, with nothing to beat: no best at all.
    assert (
        "**" not in dis_md and "not ranked (the GT locates each object): SAM ViT-B GT box" in dis_md
    )


def test_the_pooled_overall_group_of_a_limited_baseline_marks_no_best():
    # sam scored 2 images of each part (--limit 2), ours every image: Overall (TE1-4) is pooled
    # from the parts for both (8 vs 2000 images), so no row is best there either.
    sam = {"method": "sam", "dis": {p: _scores(0.05, 2) for p in TE_PARTS}}
    ours = {"method": "ours", "dis": {p: _scores(0.1, 500) for p in TE_PARTS}}
    table = dis_table([sam, ours])
    assert table.unranked == [*TE_PARTS, "Overall (TE1-4)"]
    assert table.notes[-1] == (
        "No best marked in Overall (TE1-4): its rows were scored on different numbers of images "
        "(8, 2000)."
    )
    assert "**" not in to_markdown(table)


def test_the_pooled_overall_group_keeps_its_best_when_counts_agree():
    sam = {"method": "sam", "dis": {p: _scores(0.05, 500) for p in TE_PARTS}}
    ours = {"method": "ours", "dis": {p: _scores(0.1, 500) for p in TE_PARTS}}
    table = dis_table([sam, ours])
    assert table.unranked == []
    overall = to_markdown(table).split("### Overall (TE1-4)")[1]
    assert "| sam | – | – | **0.050** |" in overall


def test_a_table_of_dis5k_and_folder_splits_is_titled_by_its_metrics():
    dis5k = {"method": "dis", "dis": {"DIS-TE1": _scores(0.05, 500)}}
    folder = {"method": "mine", "dis": {"test": _scores(0.1, 3)}}
    assert dis_table([dis5k]).title == "DIS5K"
    assert dis_table([folder]).title == "DIS metrics"
    table = build_tables([dis5k, folder])["dis"]
    assert table.title == "DIS metrics"  # not every group is a DIS5K split
    assert [g for g, _ in table.groups] == ["DIS-TE1", "test"]


@pytest.fixture(scope="module")
def on_file(tmp_path_factory):
    """A tiny checkpoint recorded as trained on a Hiera file that lives elsewhere now."""
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=64)
    model.config = dataclasses.replace(model.config, hiera_checkpoint="/old/hiera.pth")
    path = save_model(model, tmp_path_factory.mktemp("fields") / "on_file.safetensors")
    return path, model.config


def test_a_frozen_file_given_as_an_override_wins_over_the_configs(on_file):
    path, stored = on_file
    config = dataclasses.replace(stored, hiera_checkpoint="/config/hiera.pth")
    given = ["model.hiera_checkpoint=/given/hiera.pth"]
    assert checkpoint_model_fields(path, config, given) == {"hiera_checkpoint": "/given/hiera.pth"}
    assert checkpoint_model_fields(path, config, []) == {"hiera_checkpoint": "/config/hiera.pth"}


def test_a_pooled_joined_group_of_a_limited_baseline_marks_no_best():
    # DIS-VD+DIS-TE1 pooled from the parts: 2 + 2 images against 500 + 500 (or a scored
    # 1000-image entry); the 4-image row must not be bolded as the best.
    def e(mae, n):
        return {"MAE": mae, "num_images": n}

    runs = [{"method": "sam", "dis": {"DIS-VD": e(0.05, 2), "DIS-TE1": e(0.05, 2)}},
            {"method": "ours", "dis": {"DIS-VD": e(0.1, 500), "DIS-TE1": e(0.1, 500)}}]  # fmt: skip
    assert dis_table(runs, ["DIS-VD+DIS-TE1"]).unranked == ["DIS-VD+DIS-TE1"]
    runs[1]["dis"]["DIS-VD+DIS-TE1"] = e(0.1, 1000)
    table = dis_table(runs, ["DIS-VD+DIS-TE1"])
    assert table.unranked == ["DIS-VD+DIS-TE1"]
    assert "(4, 1000)" in table.notes[-1]


def test_efficiency_rows_timed_under_different_conditions_mark_no_best():
    # PMG-SAM timed at S=96 on a CPU beside SAM at 256: the faster row is not the better model.
    from pmgsam.evaluation.run_efficiency import efficiency_from_report
    from pmgsam.evaluation.tables import EFF_COLUMNS, efficiency_table

    speed = {"images_per_s": 8.0}
    ours = {"params": {"total": 2e6}, "speed": speed, "device": "cpu", "dtype": "fp32",
            "image_size": 96, "batch": 1}  # fmt: skip
    assert efficiency_from_report(ours)["timed_on"] == "cpu, fp32, S=96, batch 1"
    sam = dict(ours, speed={"images_per_s": 2.0}, image_size=None, timed_image_size=[256, 256])
    runs = [{"method": "ours", "efficiency": efficiency_from_report(ours)},
            {"method": "sam", "efficiency": efficiency_from_report(sam)}]  # fmt: skip
    table = efficiency_table(runs)
    assert set(table.unranked_columns) == {"flops_G", "fps", "peak_memory_MB"}
    both = "ours: cpu, fp32, S=96, batch 1; sam: cpu, fp32, image 256x256 (WxH), batch 1"
    assert both in table.notes[0] and "No best marked for FLOPs, FPS and memory" in table.notes[0]
    # The faster row is not bold; the smaller model still is (a count needs no conditions).
    runs[1]["efficiency"]["params_total_M"] = 90.0
    cells = dict(zip(["ours", "sam"], efficiency_table(runs).cell_texts()))
    keys = [c.key for c in EFF_COLUMNS]
    assert cells["ours"][keys.index("params_total_M")] == ("2.0", True)
    assert cells["ours"][keys.index("fps")] == ("8.00", False)
    # A SAM row timed at its 64-px input on a 69x112 image says both, not "S=69x112".
    sam64 = efficiency_from_report(dict(sam, image_size=64, timed_image_size=[69, 112]))
    assert sam64["timed_on"] == "cpu, fp32, S=64, image 112x69 (WxH), batch 1"
    same = efficiency_table([runs[0], {"method": "twin", "efficiency": runs[0]["efficiency"]}])
    assert same.unranked_columns == () and same.notes == ["Timed on cpu, fp32, S=96, batch 1."]


def test_an_overlap_subset_row_says_its_rule_and_share():
    entry = {"AP": 0.3, "num_images": 2, "share": 0.1, "rule": "either"}
    runs = [{"method": "m", "cos": {"COD10K": {"AP": 0.5, "num_images": 20},
                                    "COD10K overlap": entry}}]  # fmt: skip
    notes = build_tables(runs)["cos"].notes
    assert "COD10K overlap: the images whose GT instances overlap (rule 'either'), 10.0 % of" in (
        " ".join(notes)
    )
