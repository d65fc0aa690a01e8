"""The NaN warning of written probability maps names only maps that held NaN: a clean map adds
nothing to the run's list and warns nothing on its own, a run of clean maps ends without a
warning, and a run stopped by an error still warns of the NaN maps it wrote (they stay)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from pmgsam.engine.prediction_maps import NaNPredictionWarning, warn_nan_maps, write_probability_png


def _nan_warnings(caught) -> list:
    return [str(w.message) for w in caught if w.category is NaNPredictionWarning]


def test_a_clean_map_is_not_listed_nor_warned_of(tmp_path: Path) -> None:
    clean = torch.full((4, 5), 0.7)
    listed: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with warn_nan_maps(listed):
            write_probability_png(clean, tmp_path / "a.png", listed)
        write_probability_png(clean, tmp_path / "b.png")  # no list: it would warn itself
    assert listed == [] and _nan_warnings(caught) == []


def test_a_map_with_nan_warns_alone_naming_it(tmp_path: Path) -> None:
    prob = torch.full((4, 5), 0.7)
    prob[0, :3] = float("nan")
    with pytest.warns(NaNPredictionWarning, match=r"b.png': the model gave NaN at 3 of its 20"):
        write_probability_png(prob, tmp_path / "b.png")


def test_a_run_stopped_by_an_error_still_warns_of_its_nan_maps(tmp_path: Path) -> None:
    prob = torch.full((4, 5), float("nan"))
    listed: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt), warn_nan_maps(listed):
            write_probability_png(prob, tmp_path / "a.png", listed)
            raise KeyboardInterrupt
    (text,) = _nan_warnings(caught)
    assert text.startswith("1 map(s) held NaN") and "a.png' (NaN at 20 of its 20 pixels)" in text
    assert (tmp_path / "a.png").is_file()
