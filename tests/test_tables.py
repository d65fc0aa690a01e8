"""Benchmark tables: snapshots of Markdown/CSV/LaTeX, best-value bolding, run.json handling
(every metric's best mark and the pooled sets: test_table_best_and_pooled.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pmgsam.evaluation import table_rendering
from pmgsam.evaluation.run_efficiency import efficiency_from_report
from pmgsam.evaluation.run_json import load_runs, write_run_json
from pmgsam.evaluation.table_rendering import to_csv, to_markdown
from pmgsam.evaluation.tables import build_tables, pool_te
from pmgsam.report import main as report_main
from pmgsam.utils.outputs import OutputError

SNAPSHOTS = Path(__file__).parent / "fixtures" / "tables"
UPDATE = os.environ.get("PMGSAM_UPDATE_SNAPSHOTS") == "1"


def _subset(f, w, mae, s, e, hce, n, curve):
    return {"maxFm": f, "wFmeasure": w, "MAE": mae, "Smeasure": s, "meanEm": e, "HCE": hce,
            "num_images": n, "curves": {"fm": curve, "em": [e] * 3}}  # fmt: skip


def _runs() -> list:
    pmg = {
        "DIS-VD": _subset(0.861, 0.811, 0.041, 0.882, 0.901, 1180.4, 470, [0.5, 0.861, 0.7]),
        "DIS-TE1": _subset(0.812, 0.760, 0.040, 0.861, 0.880, 210.0, 500, [0.5, 0.812, 0.6]),
        "DIS-TE2": _subset(0.861, 0.810, 0.042, 0.890, 0.905, 560.0, 500, [0.5, 0.861, 0.6]),
        "DIS-TE3": _subset(0.890, 0.840, 0.038, 0.903, 0.921, 1050.0, 500, [0.9, 0.85, 0.6]),
        "DIS-TE4": _subset(0.870, 0.820, 0.050, 0.890, 0.910, 2800.0, 500, [0.5, 0.87, 0.6]),
    }
    sam_dis = {
        "DIS-VD": {"maxFm": 0.700, "wFmeasure": 0.812, "MAE": 0.0405, "Smeasure": 0.800,
                   "meanEm": 0.850, "HCE": 1500.0, "num_images": 470},
        "DIS-TE1-4": {"maxFm": 0.72, "wFmeasure": 0.65, "MAE": 0.09, "Smeasure": 0.78,
                      "meanEm": 0.80, "HCE": 1400.0, "num_images": 2000},
    }  # fmt: skip
    return [
        {
            "method": "PMG-SAM",
            "dis": pmg,
            "cos": {"COD10K": {"AP": 0.4123, "AP50": 0.7011, "AP75": 0.4012, "protocol": "all"}},
            "efficiency": {"params_total_M": 150.31, "params_trainable_M": 22.9,
                           "flops_G": 812.4, "fps": 12.345, "peak_memory_MB": 3420.2},
        },
        {
            "method": "SAM-H (auto)",
            "dis": sam_dis,
            "cos": {
                "COD10K": {"AP": 0.3501, "AP50": 0.7049, "AP75": 0.3333, "protocol": "matched"},
                "NC4K": {"AP": 0.40, "AP50": 0.66, "AP75": 0.41, "protocol": "all"},
            },
            "efficiency": {"params_total_M": 641.1, "params_trainable_M": 0.0, "fps": 0.5,
                           "peak_memory_MB": 5731},
        },
    ]  # fmt: skip


@pytest.fixture()
def run_dirs(tmp_path: Path) -> list:
    dirs = []
    for i, run in enumerate(_runs()):
        d = tmp_path / f"run{i}"
        write_run_json(d, run["method"], dis=run["dis"], cos=run["cos"],
                       efficiency=run["efficiency"])  # fmt: skip
        dirs.append(d)
    return dirs


def test_report_cli_matches_snapshots(run_dirs: list, tmp_path: Path, capsys):
    out = tmp_path / "tables"
    assert report_main([str(d) for d in run_dirs] + ["--out", str(out)]) == 0
    assert "## DIS5K" in capsys.readouterr().out
    # Besides the hidden list of the files pmgsam wrote there (.pmgsam-outputs.json).
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == sorted(f"{t}.{e}" for t in ("dis", "cos", "efficiency")
                           for e in ("md", "csv", "tex"))  # fmt: skip
    for name in names:
        got = (out / name).read_text(encoding="utf-8")
        if UPDATE:
            (SNAPSHOTS / name).write_text(got, encoding="utf-8")
        assert got == (SNAPSHOTS / name).read_text(encoding="utf-8"), name


def _md_row(md: str, section: str, method: str) -> list:
    block = md.split(f"### {section}\n", 1)[1]
    line = next(ln for ln in block.splitlines() if ln.startswith(f"| {method} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_bold_honours_arrows():
    md = to_markdown(build_tables(_runs())["dis"])
    pmg, sam = _md_row(md, "DIS-VD", "PMG-SAM"), _md_row(md, "DIS-VD", "SAM-H (auto)")
    # maxF↑: higher bold; wF↑: SAM-H 0.812 > 0.811; MAE↓ tie when shown (0.041) -> both bold;
    # HCE↓: lower (1180) bold.
    assert pmg[0] == "**0.861**" and sam[0] == "0.700"
    assert pmg[1] == "0.811" and sam[1] == "**0.812**"
    assert pmg[2] == "**0.041**" and sam[2] == "**0.041**"
    assert pmg[5] == "**1180**" and sam[5] == "1500"
    assert _md_row(md, "DIS-TE1", "PMG-SAM")[0] == "0.812"  # a lone value is not "best"
    over = _md_row(md, "Overall (TE1-4)", "SAM-H (auto)")
    assert over[2] == "0.090" and over[5] == "1400"  # higher MAE / HCE not bold
    csv_text = to_csv(build_tables(_runs())["dis"])
    assert "**" not in csv_text and csv_text.splitlines()[0].startswith("method,DIS-VD maxFβ↑")


def test_pool_te_uses_pooled_curve_and_weights():
    dis = _runs()[0]["dis"]
    pooled = pool_te(dis)
    # Mean F curve over the 2000 images: [0.6, 0.84825, 0.6] -> max 0.84825 (not the mean of
    # the per-subset maxima, 0.85825).
    assert pooled["maxFm"] == pytest.approx(0.84825)
    assert pooled["MAE"] == pytest.approx((0.040 + 0.042 + 0.038 + 0.050) / 4)
    assert pooled["num_images"] == 2000
    del dis["DIS-TE4"]
    assert pool_te(dis) is None


def test_write_run_json_merges_sections(tmp_path: Path):
    write_run_json(tmp_path, "M", dis={"DIS-VD": {"maxFm": 0.5}})
    write_run_json(tmp_path, "M", dis={"DIS-TE1": {"maxFm": 0.6}}, cos={"NC4K": {"AP": 0.1}})
    path = write_run_json(tmp_path, "M", dis={"DIS-VD": {"maxFm": 0.7}})
    data = json.loads(path.read_text())
    assert data["dis"] == {"DIS-VD": {"maxFm": 0.7}, "DIS-TE1": {"maxFm": 0.6}}
    assert data["cos"] == {"NC4K": {"AP": 0.1}}
    assert load_runs([tmp_path])[0]["method"] == "M"
    with pytest.raises(FileNotFoundError):
        load_runs([tmp_path / "nope"])


def test_efficiency_from_report():
    report = {"params": {"total": 150_310_000, "trainable": 22_900_000},
              "flops_per_image": {"total": 812.4e9},
              "speed": {"images_per_s": 12.5, "peak_memory_mb": None}}  # fmt: skip
    eff = efficiency_from_report(report)
    assert eff["params_total_M"] == pytest.approx(150.31)
    assert eff["flops_G"] == pytest.approx(812.4) and eff["peak_memory_MB"] is None


def test_unscored_subsets_are_left_out():
    vd = _runs()[0]["dis"]["DIS-VD"]
    table = build_tables([{"method": "only-vd", "dis": {"DIS-VD": vd}}])["dis"]
    md = to_markdown(table)
    assert "### DIS-VD" in md
    assert "DIS-TE2" not in md and "Overall" not in md.split("_F, wF")[0]


def test_integer_columns_round_to_nearest():
    # HCE and memory are shown without decimals: 1180.6 is 1181, not the truncated 1180.
    runs = [
        {"method": "a", "dis": {"DIS-VD": {"HCE": 1180.6}},
         "efficiency": {"peak_memory_MB": 3420.7}},
        {"method": "b", "dis": {"DIS-VD": {"HCE": 1180.9}},
         "efficiency": {"peak_memory_MB": 3421.2}},
    ]  # fmt: skip
    built = build_tables(runs)
    # Both HCE and both memories show as 1181 / 3421: a tie when shown, so both are bold.
    assert _md_row(to_markdown(built["dis"]), "DIS-VD", "a")[5] == "**1181**"
    assert _md_row(to_markdown(built["dis"]), "DIS-VD", "b")[5] == "**1181**"
    eff = to_csv(built["efficiency"]).splitlines()
    assert eff[1].split(",")[-1] == "3421" and eff[2].split(",")[-1] == "3421"


def test_nan_values_show_as_missing_and_never_win():
    # A NaN (e.g. a metric undefined on an empty subset) must read "–" and must not stop
    # the real maximum from being bold: max() over [nan, .5, .7] would return nan.
    runs = [{"method": m, "dis": {"DIS-VD": {"maxFm": v}}}
            for m, v in (("a", float("nan")), ("b", 0.5), ("c", 0.7))]  # fmt: skip
    md = to_markdown(build_tables(runs)["dis"])
    assert _md_row(md, "DIS-VD", "a")[0] == "–"
    assert _md_row(md, "DIS-VD", "b")[0] == "0.500"
    assert _md_row(md, "DIS-VD", "c")[0] == "**0.700**"


def test_cos_score_without_a_protocol_is_noted_as_not_recorded():
    # pmgsam has named the protocol in every COS score since COS scoring exists: an entry
    # without one was written elsewhere, and is not passed off as standard COCO.
    runs = [{"method": "old", "cos": {"NC4K": {"AP": 0.4, "AP50": 0.6, "AP75": 0.41}}}]
    notes = build_tables(runs)["cos"].notes
    assert "Protocol not recorded: old/NC4K." in notes
    assert not any(n.startswith("Protocol 'all'") for n in notes)
    # COS values are AP fractions shown in %: 0.4 -> 40.0, 0.41 -> 41.0.
    row = _md_row(to_markdown(build_tables(runs)["cos"]), "NC4K", "old")
    assert row == ["40.0", "60.0", "41.0"]


def test_cos_table_keeps_datasets_beyond_the_paper_ones():
    # A run scored on another COS dataset (here CAMO) gets its own group after the paper's
    # ones; a dataset no run was scored on (here NC4K) gets none.
    scores = {"AP": 0.3, "AP50": 0.5, "AP75": 0.25}
    runs = [{"method": "m", "cos": {"CAMO": scores}}, {"method": "n", "cos": {"COD10K": scores}}]
    table = build_tables(runs)["cos"]
    assert [g for g, _ in table.groups] == ["COD10K", "CAMO"]
    assert _md_row(to_markdown(table), "CAMO", "m") == ["30.0", "50.0", "25.0"]
    assert [g for g, _ in build_tables(runs[:1])["cos"].groups] == ["CAMO"]


def test_dis_notes_explain_only_the_pooled_sets_shown():
    scores = {"maxFm": 0.8, "MAE": 0.1, "num_images": 2}
    only_te1 = build_tables([{"method": "m", "dis": {"DIS-TE1": scores}}])["dis"]
    assert "pools" not in " ".join(only_te1.notes)
    pooled = build_tables([{"method": "m", "dis": {"DIS-TE1+DIS-TE2": scores}}])["dis"]
    assert [g for g, _ in pooled.groups] == ["DIS-TE1+DIS-TE2"]
    assert "DIS-TE1+DIS-TE2 pools the images of its parts." in pooled.notes[0]


def test_latex_escapes_braces_dollars_tildes_and_carets():
    # "SAM~H {ft} $x^2$" broke the .tex file: $ opened math mode, ~ and ^ are active or
    # math-only, and unbalanced braces end the group early.
    col = table_rendering.Column("AP", "AP", "AP", True, "{:.1f}".format)
    table = table_rendering.Table(
        "t", [("", (col,))], [("SAM~H {ft} $x^2$ a\\b", {("", "AP"): 1.0})], []
    )
    expected = r"SAM\textasciitilde{}H \{ft\} \$x\textasciicircum{}2\$ a\textbackslash{}b & 1.0 \\"
    assert expected in table_rendering.to_latex(table).splitlines()


def test_latex_escapes_method_names_and_titles():
    # Run names such as "pmgsam_tiny" or "R&D #2 (50%)" are LaTeX syntax unless escaped;
    # a backslash must become \textbackslash{} before the other escapes add their own.
    col = table_rendering.Column("AP", "AP", "AP", True, "{:.1f}".format)
    table = table_rendering.Table(
        "a_b", [("", (col,))], [("pmgsam_tiny R&D #2 (50%) x\\y", {("", "AP"): 1.0})], []
    )
    tex = table_rendering.to_latex(table)
    assert r"\caption{a\_b}" in tex
    assert r"pmgsam\_tiny R\&D \#2 (50\%) x\textbackslash{}y & 1.0 \\" in tex.splitlines()


def test_scores_of_part_of_a_split_are_noted():
    part = {"MAE": 0.1, "num_images": 2, "subset": "first 2 of 500 images (--limit)"}
    whole = {"MAE": 0.2, "num_images": 500}
    runs = [{"method": "sam", "dis": {"DIS-TE1": part, "DIS-TE2": whole}},
            {"method": "ours", "dis": {"DIS-TE1": whole, "DIS-TE2": whole}}]  # fmt: skip
    notes = build_tables(runs)["dis"].notes
    assert notes[1] == "NOT the whole split: sam/DIS-TE1 first 2 of 500 images (--limit)."
    # A set pooled from that part is part of a split as well.
    assert build_tables(runs, ["DIS-TE1+DIS-TE2"])["dis"].notes[1] == notes[1]
    assert len(build_tables(runs, ["DIS-TE2"])["dis"].notes) == 1  # DIS-TE1 not shown
    cos = [{"method": "m", "cos": {"COD10K": {"AP": 0.2, "subset": "first 1 of 9 images"}}}]
    assert build_tables(cos)["cos"].notes[-1] == (
        "NOT the whole split: m/COD10K first 1 of 9 images."
    )


def test_no_best_is_marked_where_rows_saw_different_numbers_of_images():
    # sam's 0.05 on 2 images (--limit) must not be bolded over ours on all 500.
    part = {"MAE": 0.05, "num_images": 2, "subset": "first 2 of 500 images (--limit)"}
    runs = [{"method": "sam", "dis": {"DIS-TE1": part, "DIS-TE2": {"MAE": 0.3, "num_images": 9}}},
            {"method": "ours", "dis": {"DIS-TE1": {"MAE": 0.1, "num_images": 500},
                                       "DIS-TE2": {"MAE": 0.2, "num_images": 9}}}]  # fmt: skip
    table = build_tables(runs)["dis"]
    assert table.unranked == ["DIS-TE1"]
    assert table.notes[-1] == (
        "No best marked in DIS-TE1: its rows were scored on different numbers of images (2, 500)."
    )
    md = to_markdown(table)
    te1, te2 = md.split("### DIS-TE2")
    assert "**" not in te1.split("### DIS-TE1")[1]
    assert "**0.200**" in te2  # the comparable subset keeps its best
    cos = [{"method": m, "cos": {"COD10K": {"AP": ap, "num_images": n}}}
           for m, ap, n in (("a", 0.5, 3), ("b", 0.4, 2026))]  # fmt: skip
    assert build_tables(cos)["cos"].unranked == ["COD10K"]


def test_report_refuses_to_write_tables_among_a_runs_maps(run_dirs: list, tmp_path: Path):

    maps = Path(run_dirs[0]) / "pred" / "DIS-TE1"
    maps.mkdir(parents=True)
    with pytest.raises(OutputError, match=r"--out .* lies inside the input folder .*pred"):
        report_main([str(d) for d in run_dirs] + ["--out", str(maps)])
    assert not any(maps.iterdir())
