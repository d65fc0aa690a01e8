"""COS tables whose rows were scored with different protocols mark no best.

``matched`` (only the Hungarian-matched predictions submitted, the paper's rule) reads higher
than standard COCO's ``all`` on the same maps, so a best marked across the two would rank the
protocols, not the methods. Such a group says why in its notes and shows each row's protocol.
"""

from __future__ import annotations

from pathlib import Path

from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.table_rendering import to_csv, to_latex, to_markdown
from pmgsam.evaluation.tables import build_tables
from pmgsam.report import main as report_main


def _ap(ap: float, protocol: str | None = "all", n: int = 250) -> dict:
    scores = {"AP": ap, "AP50": ap + 0.2, "AP75": ap - 0.05, "num_images": n}
    return scores if protocol is None else dict(scores, protocol=protocol)


def _group(md: str, title: str) -> str:
    """The Markdown block of one group (up to the next group or the notes)."""
    block = md.split(f"### {title}\n", 1)[1]
    return block.split("###", 1)[0].split("\n_", 1)[0]


def _row(md: str, title: str, method: str) -> list:
    line = next(ln for ln in _group(md, title).splitlines() if ln.startswith(f"| {method} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def _runs() -> list:
    # ours scored COD10K with the paper's rule, the baseline with standard COCO; on NC4K both
    # used standard COCO, which stays comparable.
    return [
        {"method": "ours", "cos": {"COD10K": _ap(0.50, "matched"), "NC4K": _ap(0.40)}},
        {"method": "sam", "cos": {"COD10K": _ap(0.30), "NC4K": _ap(0.45)}},
    ]


def test_rows_scored_with_different_protocols_mark_no_best():
    table = build_tables(_runs())["cos"]
    assert table.unranked == ["COD10K"]
    md = to_markdown(table)
    assert "**" not in _group(md, "COD10K")
    assert _row(md, "NC4K", "sam")[0] == "**45.0**"  # the comparable group keeps its best
    assert table.notes[-1] == (
        "No best marked in COD10K: its rows were scored with different COS protocols "
        "(ours: matched, sam: all)."
    )
    # Each row's protocol shows beside its values where they differ, and only there.
    assert _row(md, "COD10K", "ours") == ["50.0", "70.0", "45.0", "matched"]
    assert _row(md, "COD10K", "sam")[-1] == "all"
    assert len(_row(md, "NC4K", "ours")) == 3
    csv_lines = to_csv(table).splitlines()
    assert csv_lines[0].split(",")[:5] == [
        "method", "COD10K AP↑", "COD10K AP50↑", "COD10K AP75↑", "COD10K Protocol"
    ]  # fmt: skip
    assert csv_lines[1].startswith("ours,50.0,70.0,45.0,matched,")
    tex = to_latex(table)
    assert r"ours & 50.0 & 70.0 & 45.0 & matched & 40.0 & 60.0 & 35.0 \\" in tex.splitlines()
    assert r"\textbf{45.0}" in tex and r"\textbf{50.0}" not in tex


def test_a_score_without_a_protocol_is_comparable_to_neither():
    # Every COS score pmgsam writes names its protocol (from the first COS commit on): one
    # without was written elsewhere, so it is not taken for standard COCO.
    runs = [{"method": "old", "cos": {"NC4K": _ap(0.6, None)}},
            {"method": "new", "cos": {"NC4K": _ap(0.4)}}]  # fmt: skip
    table = build_tables(runs)["cos"]
    assert table.unranked == ["NC4K"]
    assert "Protocol not recorded: old/NC4K." in table.notes
    assert table.notes[-1].endswith("(old: not recorded, new: all).")
    assert "**" not in to_markdown(table)
    # Two rows that both lack it, or a row with no entry there, change nothing.
    both = build_tables([runs[0], {"method": "twin", "cos": {"NC4K": _ap(0.5, None)}}])["cos"]
    assert both.unranked == [] and "**60.0**" in to_markdown(both)
    alone = build_tables([runs[1], {"method": "dis only", "dis": {"DIS-VD": {"MAE": 0.1}}}])
    assert alone["cos"].unranked == [] and "Protocol" not in to_csv(alone["cos"])


def test_unequal_images_and_protocols_give_one_unranked_group_and_both_reasons():
    runs = [{"method": "a", "cos": {"COD10K": _ap(0.5, "matched", n=3)}},
            {"method": "b", "cos": {"COD10K": _ap(0.4, "all", n=250)}}]  # fmt: skip
    table = build_tables(runs)["cos"]
    assert table.unranked == ["COD10K"]
    assert table.notes[-2].endswith("different numbers of images (3, 250).")
    assert table.notes[-1].endswith("different COS protocols (a: matched, b: all).")


def test_a_protocol_text_is_escaped_in_latex():
    runs = [
        {"method": "a", "cos": {"X": _ap(0.5, "my_rule")}},
        {"method": "b", "cos": {"X": _ap(0.4)}},
    ]
    tex = to_latex(build_tables(runs)["cos"])
    assert r"a & 50.0 & 70.0 & 45.0 & my\_rule \\" in tex.splitlines()


def test_report_of_runs_scored_all_and_matched_marks_no_best(tmp_path: Path, capsys):
    dirs = []
    for run in _runs():
        dirs.append(tmp_path / run["method"])
        write_run_json(dirs[-1], run["method"], cos=run["cos"])
    out = tmp_path / "tables"
    assert report_main([*map(str, dirs), "--out", str(out)]) == 0
    md = (out / "cos.md").read_text(encoding="utf-8")
    assert md in capsys.readouterr().out
    assert "**" not in _group(md, "COD10K") and "| Protocol |" in _group(md, "COD10K")
    assert "different COS protocols (ours: matched, sam: all)" in md
    tex = (out / "cos.tex").read_text(encoding="utf-8")
    assert "different COS protocols" in tex and r"\textbf{50.0}" not in tex
