"""evaluate.py benchmark mode: --dataset and --splits come from the config when left out, a
config for another dataset is named as the cause, and a joined split (A+B) gets its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_cases import evaluate_main

from pmgsam.modeling.build import model_config
from pmgsam.utils.config import ConfigError, to_dict

# The frozen Hiera is conftest's small one (small_branches for each benchmark's build of the
# weights): which splits and rows a benchmark makes does not depend on its size, and each run
# built Hiera-T's 27 M weights.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture(scope="module")
def weights(small_model_file) -> Path:
    return small_model_file[0]


def _config(tmp_path: Path, data: dict) -> Path:
    model = to_dict(model_config("pmgsam_tiny", image_size=64))
    data = {"num_workers": 0, "split_dir": str(tmp_path / "splits"), **data}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    return path


def _args(config: Path, weights: Path, run: Path) -> list:
    return ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--workers", "1", "--no-hce", "--output-dir", run]  # fmt: skip


def test_dataset_and_splits_default_to_the_config(weights, dis5k_root, tmp_path, capsys):
    data = {"root": str(dis5k_root), "test_splits": ["DIS-TE2", "DIS-TE1"]}
    run = tmp_path / "run"
    assert evaluate_main(_args(_config(tmp_path, data), weights, run)) == 0
    assert "splits from the config's data.test_splits: DIS-TE2,DIS-TE1" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "metrics").glob("*.json")) == [
        "DIS-TE1.json",
        "DIS-TE2.json",
    ]


def test_the_configs_own_dataset_named_with_no_splits_takes_its_test_splits(tmp_path, capsys):
    from argparse import Namespace

    from pmgsam.evaluation.benchmark import dataset_and_splits

    config = _config(tmp_path, {"root": str(tmp_path), "test_splits": ["DIS-TE3", "DIS-VD"]})
    args = Namespace(config=str(config), dataset="dis5k", splits=None)
    dataset_and_splits(args, [])
    assert (args.dataset, args.splits) == ("dis5k", ["DIS-TE3", "DIS-VD"])
    assert "splits from the config's data.test_splits: DIS-TE3,DIS-VD" in capsys.readouterr().out
    # Another dataset with no --splits: the config's splits are not its own, named as such.
    args = Namespace(config=str(config), dataset="cod10k", splits=None)
    with pytest.raises(ConfigError, match=r"--dataset cod10k, but config .* is for dis5k"):
        dataset_and_splits(args, [])


def test_a_config_for_another_dataset_is_named(weights, dis5k_root, tmp_path):
    config = _config(tmp_path, {"root": str(dis5k_root)})
    args = _args(config, weights, tmp_path / "run") + ["--dataset", "cod10k", "--splits", "Test"]
    with pytest.raises(ConfigError, match=r"--dataset cod10k, but config .* is for dis5k"):
        evaluate_main(args)
    assert not (tmp_path / "run").exists()


def test_a_joined_split_is_printed_as_its_own_group(weights, dis5k_root, tmp_path, capsys):
    config = _config(tmp_path, {"root": str(dis5k_root)})
    args = _args(config, weights, tmp_path / "run") + ["--splits", "DIS-TE1+DIS-TE3"]
    assert evaluate_main(args) == 0
    out = capsys.readouterr().out
    assert "### DIS-TE1+DIS-TE3" in out  # the set just scored has its own table group
    assert "DIS-TE1+DIS-TE3 pools the images of its parts." in out


def test_overrides_written_for_the_dataset_option_are_read_for_it(
    weights, dis5k_root, cod10k_root, tmp_path, capsys
):
    # A DIS5K config turned to COD10K on the command line: its split overrides name COD10K
    # splits, which are no DIS5K splits, so they are read with --dataset's dataset.
    config = _config(tmp_path, {"root": str(dis5k_root)})
    run = tmp_path / "run"
    args = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet"]
    args += ["--workers", "1", "--output-dir", run, "--dataset", "cod10k", "--splits", "Test"]
    args += [f"data.root={cod10k_root}", "data.train_split=Train", "data.val_split=null"]
    assert evaluate_main([*args, "data.test_splits=[Test]"]) == 0
    assert (run / "metrics" / "Test.json").is_file()
    assert "not a dis5k split" not in capsys.readouterr().err


def test_a_cos_split_other_than_test_gets_its_own_row(weights, cod10k_root, tmp_path):
    # The COD10K column is the paper's test split; scores of another split scored beside it
    # must carry that split's name, not pass for (or overwrite) the test split's.
    config = _config(tmp_path, {"root": str(cod10k_root), "dataset": "cod10k",
                                "train_split": "Train", "val_split": None,
                                "test_splits": ["Test"]})  # fmt: skip
    run = tmp_path / "run"
    args = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet"]
    args += ["--workers", "1", "--output-dir", run, "--splits", "Test,Train"]
    assert evaluate_main(args) == 0
    record = json.loads((run / "run.json").read_text())
    assert sorted(record["cos"]) == ["COD10K", "COD10K Train"]


def test_benchmark_and_baseline_rows_name_cos_splits_alike() -> None:
    # One rule for both (the baselines' rows sit beside PMG-SAM's in the same table): the
    # paper's column for the test split, whatever its spelling; the split named otherwise.
    from pmgsam.evaluation.tables import cos_column

    assert [cos_column("cod10k", s) for s in ("Test", "Train")] == ["COD10K", "COD10K Train"]
    assert [cos_column("nc4k", s) for s in ("test", "TEST")] == ["NC4K", "NC4K"]


def test_an_empty_test_splits_list_is_refused_not_scored_as_nothing(tmp_path) -> None:
    from argparse import Namespace

    from pmgsam.evaluation.benchmark import dataset_and_splits

    config = _config(tmp_path, {"root": str(tmp_path), "test_splits": []})
    for dataset in (None, "dis5k"):  # the config's dataset, and named with --dataset
        args = Namespace(config=str(config), dataset=dataset, splits=None)
        with pytest.raises(ConfigError, match=r"'data.test_splits' of .* is empty: give --splits"):
            dataset_and_splits(args, [])
    args = Namespace(config=str(config), dataset=None, splits=["DIS-TE1"])
    dataset_and_splits(args, [])  # --splits given: the empty list is not read
    assert args.splits == ["DIS-TE1"]


def test_a_part_of_two_sets_is_predicted_once(weights, dis5k_root, tmp_path, monkeypatch):
    # DIS-TE1 alone and inside DIS-TE1+DIS-TE3: one folder of its maps, predicted once.
    from pmgsam.engine import inference

    real, predicted = inference.predict_split, []

    def counting(config, checkpoint, split, *args, **kwargs):
        predicted.append(split)
        return real(config, checkpoint, split, *args, **kwargs)

    monkeypatch.setattr(inference, "predict_split", counting)
    config = _config(tmp_path, {"root": str(dis5k_root)})
    splits = ["--splits", "DIS-TE1,DIS-TE3+DIS-TE1"]
    assert evaluate_main(_args(config, weights, tmp_path / "run") + splits) == 0
    assert sorted(predicted) == ["DIS-TE1", "DIS-TE3"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert sorted(run["dis"]) == ["DIS-TE1", "DIS-TE1+DIS-TE3"]
