"""``python -m pmgsam.report`` given a training run folder (README's ``runs/dis5k``) instead of
the folder ``evaluate.py --output-dir`` wrote: the error says what the folder is and what to do,
where 'no run.json' alone did not."""

from __future__ import annotations

import pytest

from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_json import load_runs


def test_report_of_a_training_run_folder_says_to_score_it(tmp_path) -> None:
    run = tmp_path / "runs" / "dis5k"
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "config.yaml").write_text("model: {}\n")
    (run / "train.log").write_text("")
    with pytest.raises(DataNotFoundError, match=r"it is a training run; score its checkpoint"):
        load_runs([run])
    with pytest.raises(DataNotFoundError, match=r"^no run.json in '[^']*'$"):
        load_runs([tmp_path])  # any other folder: as before


def test_a_folder_inside_a_scored_run_names_the_run(tmp_path) -> None:
    # README's results/pmgsam/metrics or results/pmgsam/pred/DIS-VD given to report.
    run = tmp_path / "results" / "pmgsam"
    (run / "pred" / "DIS-VD").mkdir(parents=True)
    (run / "metrics").mkdir()
    (run / "run.json").write_text('{"method": "m", "dis": {"DIS-VD": {"MAE": 0.1}}}')
    for inside in (run / "metrics", run / "pred" / "DIS-VD"):
        with pytest.raises(DataNotFoundError, match=f"lies inside the run folder '{run}': give"):
            load_runs([inside])
    assert load_runs([run])[0]["dis"]["DIS-VD"]["MAE"] == 0.1
