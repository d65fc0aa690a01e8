"""A prior folder that lacks its maps says why where it can tell: a run's pred/ folder (one
subfolder per split) given for the folder of maps, or maps saved in another format than
<stem>.png. Each case used to list every image as missing, with no word of the maps there."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis.premask import prior_maps
from pmgsam.evaluation.scoring import EvaluationInputError


def _map(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(path)


def test_a_folder_of_per_split_subfolders_is_named(tmp_path) -> None:
    # A baseline run's pred/ as evaluate.py writes it, given for DIS-TE1+DIS-TE2's priors.
    pred = tmp_path / "pred"
    _map(pred / "DIS-TE1" / "a.png")
    _map(pred / "DIS-TE2" / "b.png")
    with pytest.raises(EvaluationInputError) as err:
        prior_maps(pred, ["a", "b"], "SAM")
    message = str(err.value)
    assert "lacks 2 map(s)" in message
    assert "subfolder(s) (DIS-TE1, DIS-TE2)" in message and "pred/<split>" in message


def test_maps_in_another_format_are_named(tmp_path) -> None:
    _map(tmp_path / "a.jpg")
    _map(tmp_path / "b.png")
    with pytest.raises(EvaluationInputError) as err:
        prior_maps(tmp_path, ["a", "b"], "CLIPSeg")
    message = str(err.value)
    assert "lacks 1 map(s): a.png" in message
    assert "1 of them are there in another format (a.jpg)" in message


def test_a_folder_missing_maps_outright_gets_no_hint(tmp_path) -> None:
    _map(tmp_path / "other.png")
    with pytest.raises(EvaluationInputError) as err:
        prior_maps(tmp_path, ["a"], "Mine")
    assert str(err.value).endswith("lacks 1 map(s): a.png")
