"""Benchmark mode refuses two spellings of one combined DIS5K set among the splits to score:
both were predicted and scored into the same files (metrics/DIS-TE1+DIS-TE3.json), the work
done twice, while the same name given twice (DIS-TE1,DIS-TE1) was already refused. The report
showed such a group twice."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pmgsam.evaluation.benchmark import _split_datasets
from pmgsam.evaluation.scoring import EvaluationInputError


@pytest.mark.parametrize(
    "splits, named",
    [
        (["DIS-TE1+DIS-TE3", "DIS-TE3+DIS-TE1"], "'DIS-TE1+DIS-TE3' and 'DIS-TE3+DIS-TE1'"),
        (["DIS-TE1+DIS-TE2+DIS-TE3+DIS-TE4", "DIS-TE"], "(scored as DIS-TE1-4)"),
    ],
)
def test_one_set_spelled_twice_is_refused(dis5k_root, data_config, splits, named) -> None:
    args = SimpleNamespace(splits=splits, dataset="dis5k")
    with pytest.raises(EvaluationInputError, match="name one set of images twice") as err:
        _split_datasets(args, data_config("dis5k", dis5k_root), 32)
    assert named in str(err.value)


def test_sets_sharing_a_part_are_not_the_same_set(dis5k_root, data_config) -> None:
    args = SimpleNamespace(splits=["DIS-TE1", "DIS-TE1+DIS-TE3", "DIS-VD"], dataset="dis5k")
    datasets = _split_datasets(args, data_config("dis5k", dis5k_root), 32)
    assert sorted(datasets) == ["DIS-TE1", "DIS-TE3", "DIS-VD"]


def test_the_report_shows_one_set_once(tmp_path) -> None:
    from pmgsam.report import main as report_main

    with pytest.raises(EvaluationInputError, match="'DIS-TE3\\+DIS-TE1' are one set"):
        report_main([str(tmp_path / "run"), "--out", str(tmp_path / "tables"),
                     "--splits", "DIS-TE1+DIS-TE3,DIS-TE3+DIS-TE1"])  # fmt: skip
