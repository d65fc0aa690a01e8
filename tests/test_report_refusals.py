"""``python -m pmgsam.report`` refuses an --out that is a file, and runs that fill no table,
each with an error naming what was given (rather than a traceback or no tables at all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam import report
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.outputs import OutputError


def test_an_out_that_is_a_file_is_refused_and_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_run_json(run, "ours", dis={"DIS-VD": {"MAE": 0.1, "num_images": 2}})
    out = tmp_path / "tables"
    out.write_text("notes of mine\n")
    with pytest.raises(OutputError, match=r"--out '.*tables' is an existing file, not a folder"):
        report.main([str(run), "--out", str(out)])
    assert out.read_text() == "notes of mine\n"


def test_runs_of_no_known_metric_are_refused_naming_them(tmp_path: Path) -> None:
    # A run.json whose DIS entry holds only a misspelt metric: no table would get a value.
    run = tmp_path / "run"
    write_run_json(run, "ours", dis={"DIS-VD": {"mae": 0.1}})
    out = tmp_path / "tables"
    with pytest.raises(EvaluationInputError, match=r"no table has a value from .*run"):
        report.main([str(run), "--out", str(out)])
    assert not out.exists()
