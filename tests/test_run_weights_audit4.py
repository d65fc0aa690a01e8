"""check_same_weights' refusal names what to act on (the run.json to delete, the checkpoint
path whose file changed), and scored_entries names a split of a dataset other than DIS5K as
benchmark mode writes it (only DIS5K joins parts or reads the DIS-TE alias)."""

from __future__ import annotations

import json

import pytest

from pmgsam.evaluation.run_weights import check_same_weights, scored_entries
from pmgsam.evaluation.scoring import EvaluationInputError


def test_the_refusal_names_the_run_json_and_the_checkpoint(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    meta = {"checkpoint": "runs/dis5k/best.safetensors", "weights_sha256": "a" * 64}
    (run / "run.json").write_text(json.dumps({"method": "m", "dis": {"DIS-VD": {}}, "meta": meta}))
    with pytest.raises(EvaluationInputError) as err:
        check_same_weights(run, "b" * 64, {"DIS-TE1"})
    text = str(err.value)
    # Deleting the folder's run.json is the advice: the folder itself holds the maps.
    assert f"delete '{run / 'run.json'}'" in text
    assert "'runs/dis5k/best.safetensors' now holds other weights" in text


def test_only_dis5k_splits_are_read_as_combined() -> None:
    # benchmark mode joins parts and reads DIS-TE as DIS-TE1-4 for dataset dis5k only: a
    # folder dataset's split of those names is written under its own name.
    assert scored_entries("folder", ["DIS-TE", "b+a"]) == {"DIS-TE", "b+a"}
