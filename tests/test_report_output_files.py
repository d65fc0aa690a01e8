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
