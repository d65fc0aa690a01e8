"""run.json merging, the same-model check and the run loader (:mod:`pmgsam.evaluation.run_json`).

Expected values are written out by hand: what a later command adds must sit next to (and, for the
same key, replace) what an earlier one wrote, and a results folder of one model or baseline must
not receive another's scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.evaluation.run_efficiency import efficiency_from_report
from pmgsam.evaluation.run_json import check_same_model, checkpoint_meta, load_runs, write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError


def test_efficiency_sections_merge_and_the_later_value_wins(tmp_path: Path) -> None:
    # The efficiency CLI and a baseline run both write efficiency entries into one run.json.
    write_run_json(tmp_path, "M", efficiency={"params_total_M": 150.0, "fps": 10.0})
    path = write_run_json(tmp_path, "M", efficiency={"fps": 12.5, "flops_G": 800.0})
    data = json.loads(path.read_text())
    assert data["efficiency"] == {"params_total_M": 150.0, "fps": 12.5, "flops_G": 800.0}


def test_the_latest_command_names_the_row_and_meta_entries_merge(tmp_path: Path) -> None:
    write_run_json(tmp_path, "first", dis={"DIS-VD": {"MAE": 0.1}}, meta={"config": "a.yaml"})
    path = write_run_json(tmp_path, "second", meta={"overrides": ["x=1"]})
    data = json.loads(path.read_text())
    assert data["method"] == "second"
    assert data["meta"] == {"config": "a.yaml", "overrides": ["x=1"]}
    assert data["dis"] == {"DIS-VD": {"MAE": 0.1}}


def test_no_method_keeps_the_row_name_and_a_new_file_gets_the_folder_name(tmp_path: Path) -> None:
    # A command that only adds a section (the efficiency report) must not rename the row.
    write_run_json(tmp_path / "res", "PMG-SAM (ours)", dis={"DIS-VD": {"MAE": 0.1}})
    path = write_run_json(tmp_path / "res", None, efficiency={"fps": 3.0})
    assert json.loads(path.read_text())["method"] == "PMG-SAM (ours)"
    path = write_run_json(tmp_path / "new-run", None, efficiency={"fps": 3.0})
    assert json.loads(path.read_text())["method"] == "new-run"


def test_same_checkpoint_run_as_another_baseline_is_another_row(tmp_path: Path) -> None:
    ckpt = tmp_path / "sam_vit_b.pth"
    write_run_json(tmp_path / "run", "SAM ViT-B GT box", dis={"DIS-TE1": {"MAE": 0.2}},
                   meta={"baseline": "sam-box", **checkpoint_meta(ckpt)})  # fmt: skip
    check_same_model(tmp_path / "run", ckpt, "sam-box")  # the same row: accepted
    with pytest.raises(EvaluationInputError, match="with --baseline sam-box"):
        check_same_model(tmp_path / "run", ckpt, "sam-auto")
    with pytest.raises(EvaluationInputError, match="with --baseline sam-box"):
        check_same_model(tmp_path / "run", ckpt)  # PMG-SAM scored with the same file


def test_a_run_without_a_recorded_checkpoint_accepts_any(tmp_path: Path) -> None:
    # An older pmgsam.ablate recorded its config, not a checkpoint: nothing to compare against.
    write_run_json(tmp_path, "ablation", dis={"DIS-VD": {"MAE": 0.1}}, meta={"config": "a.yaml"})
    check_same_model(tmp_path, tmp_path / "any.safetensors")
    check_same_model(tmp_path / "no-run-yet", tmp_path / "any.safetensors")


def test_a_report_without_a_timing_leaves_the_timing_figures_out() -> None:
    # A baseline run with --speed-iters 0 counts parameters only: no fps or flops of None
    # replaces those of an earlier timing of the same row.
    report = {"params": {"total": 3_000_000, "trainable": 0}}
    assert efficiency_from_report(report) == {"params_total_M": 3.0, "params_trainable_M": 0.0}


def test_efficiency_from_report_scales_every_count() -> None:
    report = {"params": {"total": 3_000_000, "trainable": 2_000_000},
              "flops_per_image": {"total": 5e9}, "speed": {"images_per_s": 4.0}}  # fmt: skip
    assert efficiency_from_report(report) == {
        "params_total_M": 3.0,
        "params_trainable_M": 2.0,
        "flops_G": 5.0,
        "fps": 4.0,
        "peak_memory_MB": None,
        "threads": None,  # timed, but not on a CPU that the report names
    }


def test_load_runs_names_a_run_given_by_its_file_after_its_folder(tmp_path: Path) -> None:
    run = tmp_path / "PMG-SAM-b"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dis": {"DIS-VD": {"MAE": 0.1}}}))
    assert [r["method"] for r in load_runs([run, run / "run.json"])] == ["PMG-SAM-b"] * 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"method": "M", "dis": {}, "meta": {"config": "a"}}, "holds no results"),
        ({"method": "M", "dis": [0.5], "cos": {"NC4K": {"AP": 0.1}}}, r"\['dis'\] must be objects"),
    ],
)
def test_load_runs_refuses_runs_without_usable_results(tmp_path: Path, data, message) -> None:
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(EvaluationInputError, match=message):
        load_runs([tmp_path])


def test_dropped_keys_of_an_earlier_timing_go_and_the_others_stay(tmp_path: Path) -> None:
    # A baseline run counting parameters only (--speed-iters 0) drops the figures of an earlier
    # timing, which no longer describe the row, and keeps the DIS scores beside them.
    earlier = {"params_total_M": 90.0, "fps": 3.0, "peak_memory_MB": 900.0}
    write_run_json(tmp_path, "M", dis={"DIS-VD": {"MAE": 0.1}}, efficiency=earlier)
    drop = {"efficiency": ["fps", "peak_memory_MB"], "cos": ["NC4K"]}  # no cos section: no-op
    path = write_run_json(tmp_path, None, efficiency={"params_total_M": 91.0}, drop=drop)
    data = json.loads(path.read_text())
    assert data["efficiency"] == {"params_total_M": 91.0}
    assert data["dis"] == {"DIS-VD": {"MAE": 0.1}} and "cos" not in data


def test_a_combined_set_stored_under_an_older_order_reads_as_its_current_name(tmp_path) -> None:
    # Earlier versions stored `--splits DIS-TE3+DIS-TE1` as typed; the set is now named by its
    # sorted parts, so the old entry must read back under that name (one table column), and a
    # later score of the same set, stored under the current name, wins over the old one.
    old = tmp_path / "old"
    write_run_json(old, "M", dis={"DIS-TE3+DIS-TE1": {"MAE": 0.2}, "DIS-VD": {"MAE": 0.1}})
    both = tmp_path / "both"
    write_run_json(both, "M", dis={"DIS-TE3+DIS-TE1": {"MAE": 0.2}})
    write_run_json(both, "M", dis={"DIS-TE1+DIS-TE3": {"MAE": 0.3}})
    four = tmp_path / "four"
    write_run_json(four, "M", dis={"DIS-TE4+DIS-TE2+DIS-TE1+DIS-TE3": {"MAE": 0.4}})
    # A folder dataset's own split may hold a '+': not a combined DIS5K set, left alone.
    folder = tmp_path / "folder"
    write_run_json(folder, "M", dis={"b+a": {"MAE": 0.5}})
    runs = load_runs([old, both, four, folder])
    assert runs[0]["dis"] == {"DIS-TE1+DIS-TE3": {"MAE": 0.2}, "DIS-VD": {"MAE": 0.1}}
    assert runs[1]["dis"] == {"DIS-TE1+DIS-TE3": {"MAE": 0.3}}
    assert runs[2]["dis"] == {"DIS-TE1-4": {"MAE": 0.4}}
    assert runs[3]["dis"] == {"b+a": {"MAE": 0.5}}
