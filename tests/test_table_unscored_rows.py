"""A run with no value in the DIS or the COS table (scored on the other task only: E-SAM's
COD10K run, a DIS-only PMG-SAM run) has no row there, where its dashes would pass for a
method that failed; a note names it. The ablation table (``dis_table`` itself) keeps its rows."""

from __future__ import annotations

from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import build_tables, dis_table

DIS = {"DIS-VD": {"MAE": 0.1, "num_images": 2}}
COS = {"COD10K": {"AP": 0.4, "AP50": 0.6, "AP75": 0.3, "protocol": "all"}}
RUNS = [
    {"method": "PMG-SAM", "dis": DIS, "cos": COS},
    {"method": "E-SAM-style SAM ViT-B", "cos": COS},  # COS only
    {"method": "DIS only", "dis": {"DIS-VD": {"MAE": 0.2, "num_images": 2}}},
    # Prompted with GT boxes, COS only: the DIS table's unranked-rows note must not name it.
    {"method": "SAM ViT-B GT box per instance", "cos": COS, "meta": {"mode": "box"}},
]


def test_each_table_shows_only_the_runs_with_a_value_in_it() -> None:
    tables = build_tables(RUNS)
    assert [m for m, _ in tables["dis"].rows] == ["PMG-SAM", "DIS only"]
    assert [m for m, _ in tables["cos"].rows] == [
        "PMG-SAM",
        "E-SAM-style SAM ViT-B",
        "SAM ViT-B GT box per instance",
    ]
    dis_md, cos_md = to_markdown(tables["dis"]), to_markdown(tables["cos"])
    assert "| E-SAM-style SAM ViT-B |" not in dis_md and "| DIS only |" not in cos_md
    assert (
        "_Not scored on these DIS sets, so not in this table: E-SAM-style SAM ViT-B, "
        "SAM ViT-B GT box per instance._" in dis_md
    )
    assert "_Not scored on COS, so not in this table: DIS only._" in cos_md
    assert "Prompted with GT boxes" not in dis_md and "Prompted with GT boxes" in cos_md
    # PMG-SAM's 0.100 beats the DIS-only row's 0.200: still ranked among the rows shown.
    assert "| PMG-SAM | – | – | **0.100** |" in dis_md


def test_a_table_whose_runs_all_have_values_has_no_such_note() -> None:
    tables = build_tables(RUNS[:1])
    assert not any("so not in this table" in n for t in tables.values() for n in t.notes)


def test_the_ablation_table_keeps_its_unscored_rows() -> None:
    # pmgsam.ablate lays out the paper's rows and names each unscored one with why.
    table = dis_table([{"method": "(a) Alpha", "dis": DIS}, {"method": "(z) Zeta", "dis": {}}])
    assert [m for m, _ in table.rows] == ["(a) Alpha", "(z) Zeta"]
