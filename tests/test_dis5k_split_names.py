"""The DIS5K test split names are spelled once (pmgsam.evaluation.dis5k_splits): the run.json
reader, the tables, combined sets and merged runs use that one spelling, and it is the one the
dataset's folders and default config use."""

from __future__ import annotations

from pmgsam.data.config import BASE_SPLITS, DataConfig
from pmgsam.evaluation import combined, dis5k_splits, run_json, run_merge, tables


def test_every_user_takes_the_dis5k_split_names_from_one_module() -> None:
    assert tables.TE_PARTS is dis5k_splits.TE_PARTS
    assert run_merge.TE_PARTS is dis5k_splits.TE_PARTS
    assert combined.ALIASES["DIS-TE"] is dis5k_splits.TE_PARTS
    assert run_json._DIS5K_TEST_SPLITS == set(dis5k_splits.DIS5K_TEST_SPLITS)
    assert combined.ALL_TE_NAME is dis5k_splits.ALL_TE_NAME
    assert tables.DIS_SUBSETS == (*dis5k_splits.DIS5K_TEST_SPLITS, dis5k_splits.ALL_TE_NAME)


def test_the_names_are_the_dataset_folders_and_the_default_test_splits() -> None:
    assert dis5k_splits.TE_PARTS == ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
    assert BASE_SPLITS["dis5k"] == ["DIS-TR", *dis5k_splits.DIS5K_TEST_SPLITS]
    assert DataConfig().test_splits == list(dis5k_splits.DIS5K_TEST_SPLITS)
