"""How scores become published tables, in the cases a mutation audit found untested: the report's
refusals and its ``--splits`` aliases, which rows a best may fall on, the name of a combined set,
a memory figure's unit, and pairing maps with GT masks whose file order differs from their stems'.
Expectations are hand-derived from DESIGN.md and the documented behaviour, not from the code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.combined import combined_name
from pmgsam.evaluation.map_pairs import pair_folders
from pmgsam.evaluation.run_efficiency import efficiency_from_report
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import build_tables, dis_table
from pmgsam.report import main as report_main


def _md_row(md: str, method: str) -> list:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {method} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def _run(tmp_path: Path, folder: str, method: str, dis: dict) -> str:
    write_run_json(tmp_path / folder, method, dis=dis)
    return str(tmp_path / folder)


def test_report_refuses_two_runs_with_one_method_name(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", "SAM", {"DIS-VD": {"MAE": 0.1, "num_images": 2}})
    b = _run(tmp_path, "b", "SAM", {"DIS-VD": {"MAE": 0.2, "num_images": 2}})
    with pytest.raises(EvaluationInputError, match="both have the method name 'SAM'"):
        report_main([a, b, "--out", str(tmp_path / "tables")])
    assert not (tmp_path / "tables").exists()  # nothing written: two rows nobody can tell apart


def test_report_splits_alias_dis_te_shows_the_overall_group(tmp_path: Path) -> None:
    # --help: "DIS-TE or DIS-TE1+DIS-TE2+... is a combined set"; its scores are stored as
    # DIS-TE1-4, shown as "Overall (TE1-4)".
    overall = {"MAE": 0.04, "num_images": 2000}
    run = _run(tmp_path, "r", "ours", {"DIS-TE1-4": overall, "DIS-VD": {"MAE": 0.1}})
    out = tmp_path / "tables"
    assert report_main([run, "--out", str(out), "--splits", "DIS-TE"]) == 0
    md = (out / "dis.md").read_text(encoding="utf-8")
    assert "### Overall (TE1-4)" in md and "### DIS-VD" not in md
    assert _md_row(md, "ours")[2] == "0.040"


def test_report_splits_names_a_group_no_run_has_and_accepts_partly_scored_ones(
    tmp_path: Path,
) -> None:
    # A run scored on DIS-VD with MAE only (no HCE, no curves): DIS-VD is scored, DIS-TE2 not.
    run = _run(tmp_path, "r", "ours", {"DIS-VD": {"MAE": 0.1, "num_images": 2}})
    with pytest.raises(EvaluationInputError, match="--splits: no run has DIS-TE2; the runs have"):
        report_main([run, "--out", str(tmp_path / "t1"), "--splits", "DIS-VD,DIS-TE2"])
    assert report_main([run, "--out", str(tmp_path / "t2"), "--splits", "DIS-VD"]) == 0
    assert "### DIS-VD" in (tmp_path / "t2" / "dis.md").read_text(encoding="utf-8")


def test_an_unranked_row_equal_to_the_best_shown_value_is_not_marked() -> None:
    # Shown to three decimals the ORACLE's 0.0999 and ours' 0.1001 both read 0.100; the ORACLE
    # is not ranked (it picks its mask with the GT), so ours alone is bold.
    oracle = {"method": "oracle", "meta": {"reduce_is_oracle": True}}
    oracle["dis"] = {"DIS-VD": {"MAE": 0.0999, "num_images": 2}}
    ours = {"method": "ours", "dis": {"DIS-VD": {"MAE": 0.1001, "num_images": 2}}}
    sam = {"method": "sam", "dis": {"DIS-VD": {"MAE": 0.2, "num_images": 2}}}
    md = to_markdown(dis_table([oracle, ours, sam]))
    assert _md_row(md, "oracle")[2] == "0.100"
    assert _md_row(md, "ours")[2] == "**0.100**" and _md_row(md, "sam")[2] == "0.200"


@pytest.mark.parametrize(
    "meta", [{"mode": "box"}, {"box_prompt": "one tight XYXY box around the whole GT mask"}]
)
def test_either_record_of_gt_box_prompts_leaves_the_row_unranked(meta: dict) -> None:
    # A run.json naming GT-box prompting by either key (written by another pmgsam version, or
    # by hand) is a GT-box row: never best.
    boxed = {"method": "SAM box", "meta": meta, "dis": {"DIS-VD": {"MAE": 0.01, "num_images": 2}}}
    runs = [boxed] + [
        {"method": m, "dis": {"DIS-VD": {"MAE": v, "num_images": 2}}}
        for m, v in (("ours", 0.1), ("sam", 0.2))
    ]
    md = to_markdown(dis_table(runs))
    assert _md_row(md, "SAM box")[2] == "0.010" and _md_row(md, "ours")[2] == "**0.100**"


def test_memory_is_ranked_only_among_rows_timed_alike_even_without_fps() -> None:
    # b's peak memory was measured on the CPU, a's on CUDA: 50 MB is not better than 100 MB.
    runs = [
        {"method": "a", "efficiency": {"fps": 9.0, "peak_memory_MB": 100.0, "timed_on": "cuda"}},
        {"method": "b", "efficiency": {"peak_memory_MB": 50.0, "timed_on": "cpu, 2 threads"}},
    ]
    md = to_markdown(build_tables(runs)["efficiency"])
    assert _md_row(md, "b")[4] == "50" and "**" not in md


def test_four_parts_other_than_te1_to_te4_are_not_named_overall() -> None:
    # Only DIS-TE1..4 together are "DIS-TE1-4" (Overall (TE1-4)); DIS-VD with three test
    # subsets is another set of images, named by its parts (sorted, as every combined set is).
    assert combined_name("DIS-VD+DIS-TE1+DIS-TE2+DIS-TE3") == "DIS-TE1+DIS-TE2+DIS-TE3+DIS-VD"


def test_peak_memory_stays_in_megabytes() -> None:
    report = {"speed": {"images_per_s": 12.5, "peak_memory_mb": 3420.0}}
    eff = efficiency_from_report(report)
    assert eff["peak_memory_MB"] == pytest.approx(3420.0) and eff["fps"] == pytest.approx(12.5)


def test_maps_pair_by_stem_where_file_order_differs_from_stem_order(tmp_path: Path) -> None:
    # "x-1.png" sorts before "x.png" ('-' < '.') while stem "x" sorts before "x-1": a pairing
    # by listing position would give x's GT the map of x-1.
    for folder, ext in (("pred", ".png"), ("gt", ".png")):
        (tmp_path / folder).mkdir()
        for stem in ("x", "x-1"):
            Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / folder / f"{stem}{ext}")
    triples = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [(s, p.stem, g.stem) for s, p, g in triples] == [("x", "x", "x"), ("x-1", "x-1", "x-1")]


def test_cells_are_written_at_the_papers_scales_in_the_dis5k_column_order() -> None:
    # Hand-written cells (not a snapshot of our own output): DIS metrics to 3 decimals, HCE a
    # whole number of corrections, COS AP in percent to 1 decimal; DIS5K's usual column order
    # (maxF, wF, MAE, S, E, HCE) and COCO's (AP, AP50, AP75).
    from pmgsam.evaluation.table_rendering import to_csv
    from pmgsam.evaluation.tables import cos_table, dis_table

    scores = dict(maxFm=0.87654, wFmeasure=0.8, MAE=0.04449, Smeasure=0.9, meanEm=0.91, HCE=1234.4)
    dis = to_csv(dis_table([{"method": "A", "dis": {"DIS-VD": {**scores, "num_images": 3}}}]))
    header, row = [line.split(",") for line in dis.strip().splitlines()[-2:]]
    assert row == ["A", "0.877", "0.800", "0.044", "0.900", "0.910", "1234"], dis
    assert [h.split()[-1] for h in header] == [
        "method", "maxFβ↑", "wFβ↑", "MAE↓", "Sα↑", "mEφ↑", "HCE↓"
    ]  # fmt: skip
    ap = {"AP": 0.45678, "AP50": 0.7, "AP75": 0.04449, "protocol": "all"}
    cos = to_csv(cos_table([{"method": "A", "cos": {"COD10K": ap}}]))
    header, row = [line.split(",") for line in cos.strip().splitlines()[-2:]]
    assert header == ["method", "COD10K AP↑", "COD10K AP50↑", "COD10K AP75↑"], cos
    assert row == ["A", "45.7", "70.0", "4.4"], cos
