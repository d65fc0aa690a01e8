"""The DIS5K split names are spelled once (pmgsam.data.dis5k_splits): the run.json reader, the
tables, combined sets and merged runs take that one spelling (its old home,
pmgsam.evaluation.dis5k_splits, still gives the same objects), and it is the official release's
folder names, which the data config's splits and defaults and the demo data use."""

from __future__ import annotations

from pmgsam.data import dis5k_splits
from pmgsam.data.config import BASE_SPLITS, DataConfig
from pmgsam.evaluation import combined, run_json, run_merge, tables
from pmgsam.evaluation import dis5k_splits as old_home

#: DIS5K's folders as the official release (DIS5K.zip) names them.
RELEASE_FOLDERS = ["DIS-TR", "DIS-VD", "DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"]


def test_every_user_takes_the_dis5k_split_names_from_one_module() -> None:
    assert tables.TE_PARTS is dis5k_splits.TE_PARTS
    assert run_merge.TE_PARTS is dis5k_splits.TE_PARTS
    assert combined.ALIASES["DIS-TE"] is dis5k_splits.TE_PARTS
    assert run_json._DIS5K_TEST_SPLITS == set(dis5k_splits.DIS5K_TEST_SPLITS)
    assert combined.ALL_TE_NAME is dis5k_splits.ALL_TE_NAME
    assert tables.DIS_SUBSETS == (*dis5k_splits.DIS5K_TEST_SPLITS, dis5k_splits.ALL_TE_NAME)
    for name in ("ALL_TE_NAME", "DIS5K_TEST_SPLITS", "DIS5K_VAL", "TE_PARTS"):
        assert getattr(old_home, name) is getattr(dis5k_splits, name)


def test_the_names_are_the_release_folders_the_config_and_demo_data_use(dis5k_root) -> None:
    assert BASE_SPLITS["dis5k"] == RELEASE_FOLDERS
    config = DataConfig()
    assert [config.train_split, *config.test_splits] == RELEASE_FOLDERS
    assert config.val_split == "DIS-VD"
    assert sorted(p.name for p in dis5k_root.iterdir() if p.is_dir()) == sorted(RELEASE_FOLDERS)
