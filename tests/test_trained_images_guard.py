"""Benchmark mode refuses to score images the checkpoint was trained on.

NC4K (and a ``folder`` dataset) have no official split: ``train`` / ``test`` are drawn with
``data.split_seed`` and ``data.test_fraction``. Evaluating with another seed than training drew
a test split holding training images, and the table looked like any other.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from cli_cases import evaluate_main
from training_cases import trained_run_folder

from pmgsam.data import build_dataset
from pmgsam.data.layouts import list_split
from pmgsam.evaluation.benchmark import check_not_trained_on
from pmgsam.evaluation.scoring import EvaluationInputError


def test_a_test_split_drawn_with_another_seed_is_refused(nc4k_root, data_config, tmp_path):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    train_names = set(list_split(trained, "train:train").names)
    now = replace(trained, split_seed=1)
    test = build_dataset(now, "test", 32, train=False)
    leaked = sorted(set(test.names) & train_names)
    assert leaked  # ten images, half held out: another draw shares some (the case to catch)
    with pytest.raises(EvaluationInputError, match=f"{len(leaked)} of the {len(test.names)} "):
        check_not_trained_on(str(run), now, {"test": test})


def test_the_runs_own_split_and_its_training_split_by_name_pass(nc4k_root, data_config, tmp_path):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    same = build_dataset(trained, "test", 32, train=False)
    check_not_trained_on(str(run), trained, {"test": same})
    # Asking for the training split by name (to see the fit) is the user's choice.
    train = build_dataset(trained, "train", 32, train=False)
    check_not_trained_on(str(run), trained, {"train": train})


def test_a_checkpoint_outside_a_run_or_of_another_dataset_is_not_checked(
    nc4k_root, cod10k_root, data_config, tmp_path
):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    loose = tmp_path / "model.safetensors"
    loose.write_bytes(b"weights")
    test = build_dataset(replace(trained, split_seed=1), "test", 32, train=False)
    check_not_trained_on(str(loose), replace(trained, split_seed=1), {"test": test})
    # Fine-tuned on another dataset.
    run = trained_run_folder(tmp_path, data_config("cod10k", cod10k_root))
    check_not_trained_on(str(run), replace(trained, split_seed=1), {"test": test})


def test_a_single_training_image_in_the_split_is_refused(nc4k_root, data_config, tmp_path):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    one = sorted(list_split(trained, "train:train").names)[0]
    split = SimpleNamespace(names=[one, "an-image-never-trained-on"])
    with pytest.raises(EvaluationInputError, match=f"1 of the 2 images of test .*{one}"):
        check_not_trained_on(str(run), trained, {"test": split})


def test_data_moved_since_training_is_still_checked(nc4k_root, data_config, tmp_path):
    # The run's config.yaml names where the data was; it now lives at nc4k_root. Listing the
    # old place finds nothing, which must not pass for "no training images here".
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, replace(trained, root=str(tmp_path / "moved" / "NC4K")))
    now = replace(trained, split_seed=1)
    test = build_dataset(now, "test", 32, train=False)
    leaked = set(test.names) & set(list_split(trained, "train:train").names)
    assert leaked  # ten images, half held out: another draw shares some
    with pytest.raises(EvaluationInputError, match=f"{len(leaked)} of the {len(test.names)} "):
        check_not_trained_on(str(run), now, {"test": test})


def test_the_part_carved_for_validation_was_not_trained_on(cod10k_root, data_config, tmp_path):
    # val_split null: the run trained on Train:train and validated on Train:val. Scoring the
    # validated part is scoring held-out images; naming either training split is allowed.
    trained = data_config("cod10k", cod10k_root, val_fraction=0.4)
    run = trained_run_folder(tmp_path, trained)
    for split in ("Train:val", "Train:train", "Train"):
        check_not_trained_on(str(run), trained, {split: build_dataset(trained, split, 32, False)})
    with pytest.raises(EvaluationInputError, match="name a training split .Train:train / Train."):
        ds = build_dataset(trained, "Train", 32, False)
        check_not_trained_on(str(run), trained, {"Test": ds})  # as if Test held those images


def test_a_run_whose_config_this_version_cannot_read_is_not_checked(
    nc4k_root, data_config, tmp_path, caplog
):
    # Nothing to compare with: its splits cannot be known, so scoring goes ahead as for a
    # checkpoint outside a run (the leaking draw of the first test is not refused).
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    with open(run / "config.yaml", "a") as f:
        f.write("field_of_another_version: 1\n")
    now = replace(trained, split_seed=1)
    test = build_dataset(now, "test", 32, train=False)
    assert set(test.names) & set(list_split(trained, "train:train").names)
    with caplog.at_level("WARNING", logger="pmgsam"):
        check_not_trained_on(str(run), now, {"test": test})
    # ... but not silently: the user learns the check did not happen, and why.
    assert "not checked whether the test images were training images" in caplog.text
    assert f"{run / 'config.yaml'} cannot be read" in caplog.text
    assert "field_of_another_version" in caplog.text


def test_a_run_whose_training_split_is_not_found_says_it_is_not_checked(
    nc4k_root, data_config, tmp_path, caplog
):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    elsewhere = replace(trained, root=str(tmp_path / "empty" / "NC4K"))
    test = build_dataset(replace(trained, split_seed=1), "test", 32, train=False)
    with caplog.at_level("WARNING", logger="pmgsam"):
        check_not_trained_on(str(run), elsewhere, {"test": test})
    assert f"training split is not found under {elsewhere.root}" in caplog.text


def test_scoring_names_the_maps_prediction_left_out(tmp_path):
    from pmgsam.evaluation.benchmark import _score_dis_split

    ds = SimpleNamespace(names=["a"], mask_paths=[tmp_path / "a.png"], skeleton_paths=None)
    with pytest.raises(EvaluationInputError, match=r"predict_split wrote no map for: \['.*a.png'"):
        _score_dis_split(SimpleNamespace(), ds, tmp_path / "pred", tmp_path / "m.json", "X")
    assert not (tmp_path / "m.json").exists()


def test_benchmark_mode_refuses_before_loading_the_model(nc4k_root, data_config, tmp_path):
    # evaluate.py benchmark mode runs the check itself; the run's weights here are no model,
    # so only the refusal (not a failed load) may stop it, and nothing is predicted.
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    out = tmp_path / "scores"
    args = ["--config", run / "config.yaml", "--checkpoint", run, "--device", "cpu", "--quiet"]
    args += ["--output-dir", out, "--splits", "test", "data.split_seed=1"]
    with pytest.raises(EvaluationInputError, match="were training images of the checkpoint's"):
        evaluate_main(args)
    assert not (out / "pred").exists()
