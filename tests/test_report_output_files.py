"""python -m pmgsam.report never replaces a table file of the user's own in --out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pmgsam import report
from pmgsam.utils.outputs import OutputError


def _run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps({"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.5, "num_images": 1}}})
    )
    return folder


def test_a_table_file_of_yours_is_refused_before_anything_is_written(tmp_path: Path):
    run = _run(tmp_path / "run")
    out = tmp_path / "paper"
    out.mkdir()
    (out / "dis.md").write_text("my hand-edited table\n")
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match=re.escape("(dis.md)")) as err:
        report.main([str(run), "--out", str(out)])
    assert "--overwrite" in str(err.value)
    assert (out / "dis.md").read_text() == "my hand-edited table\n"
    assert sorted(p.name for p in out.iterdir()) == ["dis.md", "notes.txt"]

    assert report.main([str(run), "--out", str(out), "--overwrite"]) == 0
    assert "| ours |" in (out / "dis.md").read_text()
    assert (out / "notes.txt").read_text() == "mine\n"


def test_a_rerun_replaces_its_own_tables_without_the_flag(tmp_path: Path):
    run = _run(tmp_path / "run")
    out = tmp_path / "tables"
    assert report.main([str(run), "--out", str(out)]) == 0
    (run / "run.json").write_text(
        json.dumps({"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.25, "num_images": 1}}})
    )
    assert report.main([str(run), "--out", str(out)]) == 0
    assert "0.250" in (out / "dis.md").read_text()


def test_tables_of_an_earlier_report_left_in_place_are_named(tmp_path: Path):
    run = _run(tmp_path / "run")
    cos = tmp_path / "cos_run"
    cos.mkdir()
    (cos / "run.json").write_text(
        json.dumps({"method": "cos", "cos": {"NC4K": {"AP": 0.5, "AP50": 0.5, "AP75": 0.5}}})
    )
    out = tmp_path / "tables"
    assert report.main([str(run), str(cos), "--out", str(out)]) == 0
    assert (out / "cos.md").is_file()
    with pytest.warns(UserWarning, match=r"3 table file\(s\) an earlier report wrote") as caught:
        assert report.main([str(run), "--out", str(out)]) == 0
    message = str(caught[0].message)
    assert "(cos.csv, cos.md, cos.tex)" in message and "dis.md" not in message
    assert "| cos |" in (out / "cos.md").read_text()  # left in place, not deleted
