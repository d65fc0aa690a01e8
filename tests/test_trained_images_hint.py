"""The refusal of a test split holding training images says what to do for that split.

A DIS5K test split is a folder of its own: re-carving with the run's split_seed (the advice for
NC4K's drawn ``test``) cannot take a copied training image out of it, so the message must not
send the user there.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from training_cases import trained_run_folder

from pmgsam.data.layouts import is_carved, list_split
from pmgsam.evaluation.benchmark import check_not_trained_on
from pmgsam.evaluation.scoring import EvaluationInputError


def test_a_training_image_in_a_split_of_its_own_is_not_blamed_on_carving(
    dis5k_root, data_config, tmp_path
):
    trained = data_config("dis5k", dis5k_root)
    run = trained_run_folder(tmp_path, trained)
    copied = sorted(list_split(trained, "DIS-TR").names)[0]
    split = SimpleNamespace(names=[copied, "an-image-never-trained-on"])
    with pytest.raises(EvaluationInputError) as err:
        check_not_trained_on(str(run), trained, {"DIS-TE2": split})
    message = str(err.value)
    assert (
        f"1 of the 2 images of DIS-TE2 were training images of the checkpoint's run ({copied})"
        in message
    )
    assert "split_seed" not in message
    assert "out of DIS-TE2" in message and "(DIS-TR)" in message


def test_a_drawn_split_is_still_sent_to_the_runs_carving(nc4k_root, data_config, tmp_path):
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = trained_run_folder(tmp_path, trained)
    one = sorted(list_split(trained, "train:train").names)[0]
    split = SimpleNamespace(names=[one])
    with pytest.raises(EvaluationInputError, match="split_seed, test_fraction"):
        check_not_trained_on(str(run), replace(trained, split_seed=1), {"test": split})


def test_which_splits_are_carved(dis5k_root, nc4k_root, data_config):
    dis5k = data_config("dis5k", dis5k_root)
    assert not is_carved(dis5k, "DIS-TE2")
    assert not is_carved(dis5k, "DIS-TE1+DIS-TE3")
    assert is_carved(dis5k, "DIS-TR:val")
    assert is_carved(dis5k, "DIS-TE1+DIS-TR:val")
    nc4k = data_config("nc4k", nc4k_root)
    assert is_carved(nc4k, "test") and is_carved(nc4k, "train")
    assert not is_carved(nc4k, "all")
