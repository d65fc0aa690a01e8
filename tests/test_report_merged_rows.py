"""``python -m pmgsam.report``: runs of one method name make one row when their columns do not
overlap (the paper's PMG-SAM row: DIS columns from the DIS5K checkpoint, COS columns from the
COD10K and NC4K fine-tuned ones), and are refused, naming both runs and the overlap, when they
do. Runs are hand-built run.json files; expected cells are written by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.report import main as report_main


def _run(tmp_path: Path, folder: str, data: dict) -> str:
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "run.json").write_text(json.dumps(data))
    return str(tmp_path / folder)


def _csv_rows(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return {"header": rows[0], **{r[0]: r[1:] for r in rows[1:]}}, len(rows) - 1


DIS_VD = {"maxFm": 0.861, "wFmeasure": 0.811, "MAE": 0.041, "Smeasure": 0.882, "meanEm": 0.901,
          "HCE": 1180.4, "num_images": 470}  # fmt: skip
COD = {"AP": 0.4123, "AP50": 0.7011, "AP75": 0.4012, "protocol": "all", "num_images": 2026}
NC4K = {"AP": 0.40, "AP50": 0.66, "AP75": 0.41, "protocol": "all", "num_images": 824}


def _paper_runs(tmp_path: Path) -> list:
    dis = _run(tmp_path, "dis", {"method": "PMG-SAM", "dis": {"DIS-VD": DIS_VD},
                                 "efficiency": {"params_total_M": 150.31, "fps": 12.3},
                                 "meta": {"checkpoint": "ckpt/dis5k.pth"}})  # fmt: skip
    cod = _run(tmp_path, "cod", {"method": "PMG-SAM", "cos": {"COD10K": COD},
                                 "meta": {"checkpoint": "ckpt/cod10k.pth"}})  # fmt: skip
    nc4k = _run(tmp_path, "nc4k", {"method": "PMG-SAM", "cos": {"NC4K": NC4K},
                                   "meta": {"checkpoint": "ckpt/nc4k.pth"}})  # fmt: skip
    sam = _run(tmp_path, "sam", {"method": "SAM", "cos": {"COD10K": {**COD, "AP": 0.30}}})
    return [dis, sam, cod, nc4k]


def test_runs_of_one_name_without_shared_columns_make_one_row(tmp_path: Path) -> None:
    out = tmp_path / "tables"
    assert report_main([*_paper_runs(tmp_path), "--out", str(out)]) == 0
    cos, n_rows = _csv_rows(out / "cos.csv")
    assert n_rows == 2  # PMG-SAM and SAM: one PMG-SAM row, not three
    assert cos["header"][1:] == ["COD10K AP↑", "COD10K AP50↑", "COD10K AP75↑",
                                 "NC4K AP↑", "NC4K AP50↑", "NC4K AP75↑"]  # fmt: skip
    assert cos["PMG-SAM"] == ["41.2", "70.1", "40.1", "40.0", "66.0", "41.0"]
    assert cos["SAM"] == ["30.0", "70.1", "40.1", "", "", ""]
    dis, n_rows = _csv_rows(out / "dis.csv")
    # SAM, scored on COS only, has no DIS row (it was a row of dashes); a note names it.
    assert n_rows == 1 and dis["PMG-SAM"] == ["0.861", "0.811", "0.041", "0.882", "0.901", "1180"]
    dis_md = (out / "dis.md").read_text(encoding="utf-8")
    assert "_Not scored on these DIS sets, so not in this table: SAM._" in dis_md
    eff, n_rows = _csv_rows(out / "efficiency.csv")
    assert n_rows == 1 and eff["PMG-SAM"][:1] == ["150.3"]
    # Each table says which run and checkpoint gave the parts of the merged row it shows.
    cos_md = (out / "cos.md").read_text(encoding="utf-8")
    cod_dir, nc4k_dir = tmp_path / "cod", tmp_path / "nc4k"
    assert (
        f"_PMG-SAM is one row of 3 runs of that name; here COD10K from '{cod_dir}' "
        f"(checkpoint 'ckpt/cod10k.pth'); NC4K from '{nc4k_dir}' (checkpoint 'ckpt/nc4k.pth')._"
    ) in cos_md
    dis_md = (out / "dis.md").read_text(encoding="utf-8")
    assert f"here DIS-VD from '{tmp_path / 'dis'}' (checkpoint 'ckpt/dis5k.pth')._" in dis_md
    assert "cod10k.pth" not in dis_md  # the DIS table names only its own part's run
    eff_md = (out / "efficiency.md").read_text(encoding="utf-8")
    assert f"here params_total_M, fps from '{tmp_path / 'dis'}'" in eff_md


@pytest.mark.parametrize(
    "first, second, overlap",
    [
        ({"dis": {"DIS-VD": DIS_VD}}, {"dis": {"DIS-VD": {"MAE": 0.2, "num_images": 470}},
                                      "cos": {"COD10K": COD}}, "DIS split DIS-VD"),
        ({"cos": {"COD10K": COD, "NC4K": NC4K}}, {"cos": {"NC4K": NC4K}}, "COS column NC4K"),
        ({"dis": {"DIS-VD": DIS_VD}, "efficiency": {"params_total_M": 150.3}},
         {"cos": {"COD10K": COD}, "efficiency": {"params_total_M": 150.3, "fps": 9.0}},
         "efficiency figure params_total_M"),
    ],
)  # fmt: skip
def test_runs_of_one_name_sharing_a_column_are_refused_naming_both(
    tmp_path: Path, first: dict, second: dict, overlap: str
) -> None:
    a = _run(tmp_path, "a", {"method": "PMG-SAM", **first})
    b = _run(tmp_path, "b", {"method": "PMG-SAM", **second})
    with pytest.raises(EvaluationInputError) as err:
        report_main([a, b, "--out", str(tmp_path / "tables")])
    assert f"runs '{a}' and '{b}' both have the method name 'PMG-SAM'" in str(err.value)
    assert f"both give {overlap}:" in str(err.value)
    assert not (tmp_path / "tables").exists()


def _te(mae: float, curve: list) -> dict:
    return {"MAE": mae, "num_images": 500, "curves": {"fm": curve}}


def test_overall_is_never_pooled_from_parts_of_two_runs(tmp_path: Path) -> None:
    # Pooled, DIS-TE1..4 would make an Overall of two checkpoints (MAE 0.25): left empty, noted.
    a = _run(tmp_path, "a", {"method": "M", "dis": {"DIS-TE1": _te(0.1, [0.5]),
                                                     "DIS-TE2": _te(0.2, [0.5])}})  # fmt: skip
    b = _run(tmp_path, "b", {"method": "M", "dis": {"DIS-TE3": _te(0.3, [0.5]),
                                                     "DIS-TE4": _te(0.4, [0.5])}})  # fmt: skip
    other = {f"DIS-TE{i}": _te(0.5, [0.4]) for i in range(1, 5)}  # its own Overall is pooled
    c = _run(tmp_path, "c", {"method": "Other", "dis": other})
    out = tmp_path / "tables"
    assert report_main([a, b, c, "--out", str(out)]) == 0
    dis, _ = _csv_rows(out / "dis.csv")
    mae = [i for i, h in enumerate(dis["header"][1:]) if h.endswith("MAE↓")]
    assert [dis["M"][i] for i in mae] == ["0.100", "0.200", "0.300", "0.400", ""]
    assert [dis["Other"][i] for i in mae] == ["0.500"] * 5
    md = (out / "dis.md").read_text(encoding="utf-8")
    assert "Not pooled, its parts come from different runs: M/Overall (TE1-4)." in md


def test_an_overall_of_one_run_beside_the_parts_of_another_is_an_overlap(tmp_path: Path) -> None:
    parts = {f"DIS-TE{i}": _te(0.1, [0.5]) for i in range(1, 5)}
    a = _run(tmp_path, "a", {"method": "M", "dis": parts})
    b = _run(tmp_path, "b", {"method": "M", "dis": {"DIS-TE1-4": {"MAE": 0.3}}})
    with pytest.raises(EvaluationInputError, match="both give DIS split DIS-TE1-4:"):
        report_main([a, b, "--out", str(tmp_path / "tables")])


def test_an_oracle_run_and_another_of_its_name_are_not_one_row(tmp_path: Path) -> None:
    # The ORACLE row is unranked in every table: merged, the other run's COS scores would be
    # shown as an ORACLE's.
    oracle = {"reduce_is_oracle": True, "baseline": "sam-auto"}
    a = _run(tmp_path, "a", {"method": "SAM", "dis": {"DIS-VD": DIS_VD}, "meta": oracle})
    b = _run(tmp_path, "b", {"method": "SAM", "cos": {"COD10K": COD},
                             "meta": {"baseline": "sam-auto"}})  # fmt: skip
    with pytest.raises(EvaluationInputError, match=r"not rows of one kind \(ORACLE: True vs False"):
        report_main([a, b, "--out", str(tmp_path / "tables")])
