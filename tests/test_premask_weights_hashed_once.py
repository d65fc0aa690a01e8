"""``premask`` predicting into a scored run hands predict_split the hash it checked the weights
by: the file is read for its SHA-256 once, and the model must be loaded from that version."""

from __future__ import annotations

import pytest
from premask_cases import fake_predict_split
from test_premask_run_weights import SPLIT, _premask, _scored_run

from pmgsam.modeling.checkpoint import weights_digest


@pytest.mark.parametrize("given", [False, True], ids=["run.json's", "--checkpoint"])
def test_the_checked_hash_is_the_one_predicted_with(
    tmp_path, dis5k_root, monkeypatch, given
) -> None:
    weights = tmp_path / "best.safetensors"
    weights.write_bytes(b"the scored weights")
    run = _scored_run(tmp_path, dis5k_root, weights)
    handed = fake_predict_split(monkeypatch, dis5k_root, lambda _, kwargs: kwargs.get("weights"))
    options = ["--checkpoint", str(weights)] if given else []
    assert _premask(tmp_path, dis5k_root, run, *options) == 0
    # Without it predict_split hashed the file again, and a file replaced after the check
    # would have made maps of other weights than the ones checked.
    assert len(handed) == 1 and handed[0] is not None
    assert handed[0].sha256 == weights_digest(weights)
    assert handed[0].path == weights.resolve()
    assert (run / "analysis" / f"premask_{SPLIT}" / "summary.json").is_file()
