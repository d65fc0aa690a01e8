"""A baseline row rerun into the same ``--output-dir`` with other settings must not keep the
earlier settings' scores of the splits it does not score again: run.json merges, so the row
named ``SAM ViT-B GT box`` would hold DIS-VD at one input side and DIS-TE1 at another. Such a
run is refused before the model loads; one scoring every split again may replace them all.

The evaluate.py runs use the ``predict_threads`` stand-in of tests/test_baseline_threads.py
(SAM is never loaded: a box map of 0.9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from test_baseline_threads import _row_argv, predict_threads  # noqa: F401 (a fixture)

import evaluate
from pmgsam.baselines.row_merge import MADE_WITH, made_with, refuse_other_settings
from pmgsam.evaluation.map_pairs import EvaluationInputError

SETTINGS = {"baseline": "sam-auto", "model_type": "vit_b", "reduce": "union"}
UNION = {"weights_sha256": "5" * 64, "image_size": 1024, "settings": SETTINGS}


def _row(tmp_path: Path, dis: dict, cos: dict, made: dict) -> Path:
    run = {"method": "SAM ViT-B auto (union)", "dis": dis, "cos": cos, "meta": {MADE_WITH: made}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    return tmp_path


def test_scores_of_other_settings_that_would_stay_are_refused_naming_them(tmp_path: Path) -> None:
    row = _row(tmp_path, {"DIS-VD": {}, "DIS-TE1": {}, "DIS-TE2": {}}, {}, UNION)
    largest = dict(UNION, settings=dict(SETTINGS, reduce="largest"))
    with pytest.raises(EvaluationInputError) as err:
        refuse_other_settings(row, largest, ["DIS-VD"])
    message = str(err.value)
    assert f"--output-dir '{row}' holds scores of DIS-TE1, DIS-TE2 made with other" in message
    assert "reduce 'union' then, 'largest' now" in message and "DIS-VD" not in message
    # Every split scored again: nothing of the union row stays.
    refuse_other_settings(row, largest, ["DIS-VD", "DIS-TE1", "DIS-TE2"])
    # The same settings add a split beside the others.
    refuse_other_settings(row, made_with({**UNION, "weights": "w", "amp": "none"}), ["DIS-VD"])


@pytest.mark.parametrize(
    "change, said",
    [
        ({"image_size": 512}, "image_size 1024 then, 512 now"),
        ({"weights_sha256": "6" * 64}, "weights_sha256 '5555"),
        ({"settings": dict(SETTINGS, generator={"points_per_side": 16})}, "generator None then"),
    ],
)
def test_each_map_setting_counts(tmp_path: Path, change: dict, said: str) -> None:
    row = _row(tmp_path, {}, {"COD10K": {}, "COD10K Train": {}}, UNION)
    with pytest.raises(EvaluationInputError, match=f"COD10K Train made with .*{said}"):
        refuse_other_settings(row, {**UNION, **change}, ["COD10K"])


def test_a_row_of_an_older_pmgsam_or_none_is_merged_as_before(tmp_path: Path) -> None:
    refuse_other_settings(tmp_path, UNION, ["DIS-VD"])  # no run.json
    (tmp_path / "run.json").write_text(json.dumps({"dis": {"DIS-TE1": {}}, "meta": {}}))
    refuse_other_settings(tmp_path, UNION, ["DIS-VD"])


def test_a_rerun_at_another_input_side_keeps_no_score_of_the_first(
    predict_threads: List[int],  # noqa: F811 (the fixture)
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "row"
    argv = _row_argv(tmp_path, data_config("dis5k", dis5k_root), 1, out)
    two = [a if a != "DIS-TE1" else "DIS-TE1,DIS-VD" for a in argv]  # timed in one pass
    assert evaluate.main(two) == 0
    first = json.loads((out / "run.json").read_text())
    assert first["meta"][MADE_WITH]["image_size"] == 1024  # SAM's released side
    # The timing records the model it timed (what decides whether an untimed rerun keeps it).
    model = {"family": "sam", "model_type": "vit_b", "mode": "box"}
    assert first["meta"]["timed_with"]["model"] == model
    two += ["--speed-iters", "0"]
    predicted = len(predict_threads)
    with pytest.raises(EvaluationInputError, match=r"scores of DIS-VD made with .*1024 then"):
        evaluate.main([*argv, "--speed-iters", "0", "--model-image-size", "512"])
    assert len(predict_threads) == predicted  # refused before anything was predicted
    assert json.loads((out / "run.json").read_text()) == first
    assert evaluate.main([*two, "--model-image-size", "512"]) == 0
    again = json.loads((out / "run.json").read_text())
    assert again["meta"][MADE_WITH]["image_size"] == 512 and set(again["dis"]) == set(first["dis"])


def test_the_row_takes_its_method_and_refuses_another_checkpoints_folder(
    predict_threads: List[int],  # noqa: F811 (the fixture)
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "row"
    argv = [*_row_argv(tmp_path, data_config("dis5k", dis5k_root), 1, out), "--speed-iters", "0"]
    assert evaluate.main([*argv, "--method", "SAM-B box, ours"]) == 0
    assert json.loads((out / "run.json").read_text())["method"] == "SAM-B box, ours"
    other = tmp_path / "other.pth"
    other.write_bytes(b"other weights")
    predicted = len(predict_threads)
    swapped = [str(other) if a.endswith("sam.pth") else a for a in argv]
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        evaluate.main(swapped)
    assert len(predict_threads) == predicted
