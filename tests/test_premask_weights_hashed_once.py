"""``premask`` predicting into a scored run hands predict_split the hash it checked the weights
by: the file is read for its SHA-256 once, and the model must be loaded from that version."""

from __future__ import annotations

import shutil

import pytest
from test_premask_run_weights import SPLIT, _premask, _scored_run

from pmgsam.engine import inference
from pmgsam.modeling.checkpoint import weights_digest


@pytest.mark.parametrize("given", [False, True], ids=["run.json's", "--checkpoint"])
def test_the_checked_hash_is_the_one_predicted_with(
    tmp_path, dis5k_root, monkeypatch, given
) -> None:
    weights = tmp_path / "best.safetensors"
    weights.write_bytes(b"the scored weights")
    run = _scored_run(tmp_path, dis5k_root, weights)
    handed = []

    def predict_split(config, checkpoint, part, out_dir, *args, premask_dir, **kwargs):
        handed.append(kwargs.get("weights"))
        for folder in (out_dir, premask_dir):
            shutil.copytree(dis5k_root / part / "gt", folder, dirs_exist_ok=True)

    monkeypatch.setattr(inference, "predict_split", predict_split)
    options = ["--checkpoint", str(weights)] if given else []
    assert _premask(tmp_path, dis5k_root, run, *options) == 0
    # Without it predict_split hashed the file again, and a file replaced after the check
    # would have made maps of other weights than the ones checked.
    assert len(handed) == 1 and handed[0] is not None
    assert handed[0].sha256 == weights_digest(weights)
    assert handed[0].path == weights.resolve()
    assert (run / "analysis" / f"premask_{SPLIT}" / "summary.json").is_file()
