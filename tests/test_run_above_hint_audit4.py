"""report's hint for a folder inside a scored run works from a relative path too (a user in
the run's pred/ folder giving ``DIS-VD``): the run above is found from the absolute path."""

from __future__ import annotations

import pytest

from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_json import load_runs


def test_a_relative_folder_inside_a_run_names_the_run(tmp_path, monkeypatch) -> None:
    run = tmp_path / "results" / "pmgsam"
    (run / "pred" / "DIS-VD").mkdir(parents=True)
    (run / "run.json").write_text('{"method": "m", "dis": {"DIS-VD": {"MAE": 0.1}}}')
    monkeypatch.chdir(run / "pred")
    with pytest.raises(DataNotFoundError, match=f"inside the run folder '{run.resolve()}': give"):
        load_runs(["DIS-VD"])


def test_a_folder_three_levels_down_is_not_called_inside_the_run(tmp_path) -> None:
    # Only a run's own folders (metrics/, pred/<split>) are named: deeper, another folder
    # may hold the run folder by chance.
    run = tmp_path / "results"
    (run / "a" / "b" / "c").mkdir(parents=True)
    (run / "run.json").write_text('{"method": "m"}')
    with pytest.raises(DataNotFoundError, match=r"^no run.json in '[^']*'$"):
        load_runs([run / "a" / "b" / "c"])
