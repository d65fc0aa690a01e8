"""benchmarks/render_table.py: bad record files and documents are named, and a generator timed
on a smaller prompt grid than the packages' 32 per side, a model compiled in another mode
than torch's default, or a fast path's check against the eager forward is marked in the options
column."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from cli_cases import benchmark_module

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "render_table.py"
_SPEC = importlib.util.spec_from_file_location("render_table", _PATH)
render_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(render_table)

REC = {"device": "cpu", "mode": "sam_amg", "model": "sam_vit_b", "dtype": "fp32", "batch": 1,
       "image_size": 256, "compile": False, "images_per_s": 0.5, "latency_ms": 2000.0,
       "peak_memory_mb": None, "torch": "2.x", "commit": "0123456789abcdef"}  # fmt: skip


def test_a_generator_on_a_smaller_grid_is_marked_and_the_default_grid_is_not(tmp_path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([{**REC, "points_per_side": 8}]))
    (tmp_path / "b.json").write_text(json.dumps([{**REC, "points_per_side": 32}]))
    (tmp_path / "c.json").write_text(
        json.dumps([{**REC, "channels_last": True, "points_per_side": 4}])
    )
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| False | 8² points | 0.5 |" in rows[0]
    assert "| False | – | 0.5 |" in rows[1]
    assert "| False | channels-last, 4² points | 0.5 |" in rows[2]


def test_a_compile_mode_other_than_the_default_is_marked(tmp_path) -> None:
    modes = [("model", "max-autotune"), ("regional", "default"), (False, None)]
    for i, (scope, mode) in enumerate(modes):
        rec = {**REC, "compile": scope, "compile_mode": mode}
        (tmp_path / f"{i}.json").write_text(json.dumps([rec]))
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| model | compile mode max-autotune | 0.5 |" in rows[0]
    assert "| regional | – | 0.5 |" in rows[1]
    assert "| False | – | 0.5 |" in rows[2]


def test_the_check_against_eager_is_shown_and_wrong_outputs_are_marked(tmp_path) -> None:
    checks = [
        {"mean_abs_diff": 6.3e-4, "max_abs_diff": 4.6e-3, "other_batch_mean_abs_diff": 2.6e-2,
         "suspect": False},
        {"mean_abs_diff": 2.6e-2, "max_abs_diff": 1.9e-1, "other_batch_mean_abs_diff": 2.6e-2,
         "suspect": True},
    ]  # fmt: skip
    for i, check in enumerate(checks):
        rec = {**REC, "mode": "inference", "compile": "regional", "vs_eager": check}
        (tmp_path / f"{i}.json").write_text(json.dumps([rec]))
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| regional | vs eager 6.3e-04 | 0.5 |" in rows[0]
    assert "| regional | WRONG OUTPUTS, vs eager 2.6e-02 | 0.5 |" in rows[1]


def test_the_manifest_that_json_leaves_beside_its_records_is_no_record(tmp_path) -> None:
    from pmgsam.efficiency.report import write_records
    from pmgsam.utils.outputs import MANIFEST

    # As `python -m pmgsam.efficiency --json DIR/x.json` leaves them: the record and the
    # folder's hidden manifest of the files it wrote.
    write_records(tmp_path / "x.json", [REC])
    (tmp_path / MANIFEST).write_text(json.dumps({"files": {"x.json": {}}}))
    [row] = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert row.endswith("| x.json |")


def test_a_file_that_is_no_json_is_named(tmp_path) -> None:
    (tmp_path / "ok.json").write_text(json.dumps(REC))
    (tmp_path / "cut.json").write_text('[{"device": "cpu",')  # a copy cut short
    with pytest.raises(ValueError, match=r"cut\.json: not JSON"):
        render_table.load_records(tmp_path)


def test_a_record_that_is_no_object_is_named(tmp_path) -> None:
    (tmp_path / "nested.json").write_text(json.dumps([[REC]]))
    with pytest.raises(ValueError, match=r"nested\.json: a record is list, not an object"):
        render_table.load_records(tmp_path)


def test_an_end_marker_only_before_the_start_one_is_refused_and_the_doc_kept(tmp_path) -> None:
    doc = tmp_path / "B.md"
    text = f"{render_table.END}\nintro\n{render_table.START}\nold table\n"
    doc.write_text(text)
    with pytest.raises(ValueError, match=r"B\.md: no .* block to fill"):
        render_table.update_document(doc, "| new |")
    assert doc.read_text() == text


def test_cudnn_benchmark_is_named_on_a_gpu_record_only(tmp_path) -> None:
    # The efficiency report records the package default (on) for a CPU timing too, where cuDNN
    # does nothing: naming it there would mark every CPU row with an option it did not use.
    for i, device in enumerate(("cpu", "NVIDIA H200")):
        rec = {**REC, "device": device, "cudnn_benchmark": True}
        (tmp_path / f"{i}.json").write_text(json.dumps([rec]))
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| False | – | 0.5 |" in rows[0]
    assert "| False | cudnn-benchmark | 0.5 |" in rows[1]


def test_the_table_names_cudnn_benchmark_by_the_packages_rule(tmp_path, monkeypatch) -> None:
    # One rule for this column and run.json's timed_on (run_efficiency): the table follows
    # the package's, whatever it says, rather than a copy of it.
    import pmgsam.evaluation.run_efficiency as run_efficiency

    monkeypatch.setattr(run_efficiency, "cudnn_benchmark_applies", lambda record: True)
    fresh = benchmark_module("render_table")
    (tmp_path / "cpu.json").write_text(json.dumps([{**REC, "cudnn_benchmark": False}]))
    row = fresh.render(fresh.load_records(tmp_path)).splitlines()[2]
    assert "| False | cudnn-benchmark | 0.5 |" in row


@pytest.mark.parametrize(
    "device, options, named",
    [
        ("NVIDIA H200", {"cuda_graphs": True, "tf32": False}, "cuda-graphs, no-tf32"),
        ("NVIDIA H200", {"cuda_graphs": False, "tf32": True}, "–"),
        ("NVIDIA H200", {"bf16_group_norm": True, "dtype": "bf16"}, "bf16-group-norm"),
        # In float32 there is no autocast to keep the GroupNorms from.
        ("NVIDIA H200", {"bf16_group_norm": True}, "–"),
        # Neither acts on a CPU, whose records carry the package defaults for them too.
        ("cpu", {"cuda_graphs": True, "tf32": False}, "–"),
        # Records made before the keys: eager launches, TF32 on (the default then too).
        ("NVIDIA H200", {}, "–"),
    ],
)
def test_gpu_only_options_are_named_where_they_acted(tmp_path, device, options, named) -> None:
    from pmgsam.evaluation.run_efficiency import timing_conditions

    rec = {**REC, "mode": "inference", "model": "pmgsam_tiny", "device": device, **options}
    (tmp_path / "r.json").write_text(json.dumps([rec]))
    row = render_table.render(render_table.load_records(tmp_path)).splitlines()[2]
    assert f"| False | {named} | 0.5 |" in row
    # run.json's timed_on names them alike, so such rows are not ranked against plain ones.
    conditions = timing_conditions(rec)
    if named == "–":
        assert not any(word in conditions for word in ("graphs", "tf32", "group-norm"))
    else:
        assert conditions.endswith(f", {named}")
