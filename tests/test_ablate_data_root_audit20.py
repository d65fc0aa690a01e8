"""pmgsam.ablation.gt.check_same_data_root without training a variant: a hand-made row read from one
DIS5K root refuses splits read from another, with ablate's own way out (pmgsam.ablate has no
--data-root option to advise)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pmgsam.ablation.gt import check_same_data_root
from pmgsam.evaluation.run_data import DATA_KEY, data_record
from pmgsam.evaluation.scoring import EvaluationInputError


def _row(run_dir: Path, dataset: str, root: Path) -> None:
    run_dir.mkdir()
    entry = {"maxFm": 0.5, DATA_KEY: data_record(dataset, root)}
    (run_dir / "run.json").write_text(json.dumps({"method": "k1", "dis": {"DIS-TE1-4": entry}}))


def test_splits_of_another_root_get_ablates_way_out(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    run_dir = tmp_path / "k1"
    _row(run_dir, "dis5k", first)
    data = SimpleNamespace(dataset="dis5k", root=str(second))
    with pytest.raises(EvaluationInputError) as err:
        check_same_data_root("k1", run_dir, data, "DIS-TE2", {})
    message = str(err.value)
    assert str(first.resolve()) in message and str(second.resolve()) in message
    assert str(run_dir / "run.json") in message
    assert "--data-root" not in message  # benchmark mode's option, not ablate's
    # The same root joins the row.
    check_same_data_root(
        "k1", run_dir, SimpleNamespace(dataset="dis5k", root=str(first)), "DIS-TE2", {}
    )
