"""A project folder moved since it was scored: benchmark and baseline mode's check that
``--output-dir`` holds this model's row compared the recorded resolved path only, so re-running
the very same command there (``--skip-existing``, to record the ground truth after upgrading
pmgsam) was refused as another checkpoint, its message naming 'runs/A' twice. When the recorded
file is gone, the SHA-256 run.json records tells the same weights at their new path; while it is
there, another path stays another checkpoint (a copy), and the message names both paths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pmgsam.evaluation.run_json import check_same_model
from pmgsam.evaluation.scoring import EvaluationInputError


def _scored_elsewhere(tmp_path: Path, meta: dict) -> Path:
    """A run.json as b9d6656 wrote it, scored from a project folder at /old/project."""
    run = tmp_path / "results" / "bench"
    run.mkdir(parents=True)
    meta = {"config": "tiny.yaml", "checkpoint": "runs/A/model.pt", **meta}
    data = {"method": "bench", "dis": {"DIS-TE1": {"MAE": 0.5, "num_images": 2}}, "meta": meta}
    (run / "run.json").write_text(json.dumps(data))
    return run


def _weights(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "runs" / "A" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("record", ["benchmark", "baseline"])
def test_the_same_weights_at_the_folders_new_place_are_this_rows_model(tmp_path, record):
    content = b"the same weights"
    sha = hashlib.sha256(content).hexdigest()
    meta = {"checkpoint_resolved": "/old/project/runs/A/model.pt"}
    if record == "benchmark":
        meta["weights_sha256"] = sha
    else:
        meta.update(baseline="sam-auto", maps_made_with={"weights_sha256": sha})
    baseline = "sam-auto" if record == "baseline" else None
    run = _scored_elsewhere(tmp_path, meta)
    check_same_model(run, _weights(tmp_path, content), baseline)  # not refused


def test_other_weights_at_the_new_place_are_refused_naming_both_paths(tmp_path):
    meta = {
        "checkpoint_resolved": "/old/project/runs/A/model.pt",
        "weights_sha256": hashlib.sha256(b"the weights scored then").hexdigest(),
    }
    run = _scored_elsewhere(tmp_path, meta)
    weights = _weights(tmp_path, b"other weights")
    with pytest.raises(EvaluationInputError, match="holds the results of") as err:
        check_same_model(run, weights)
    assert "'/old/project/runs/A/model.pt', not '" + str(weights.resolve()) + "'" in str(err.value)
    # The same file but another --baseline is another row, whatever its bytes.
    sha = hashlib.sha256(b"other weights").hexdigest()
    data = json.loads((run / "run.json").read_text())
    data["meta"]["weights_sha256"] = sha
    (run / "run.json").write_text(json.dumps(data))
    with pytest.raises(EvaluationInputError, match="holds the results of"):
        check_same_model(run, weights, "sam-auto")


def test_a_copy_beside_the_recorded_file_stays_another_checkpoint(tmp_path):
    content = b"the same weights"
    then = tmp_path / "then" / "model.pt"
    then.parent.mkdir()
    then.write_bytes(content)
    meta = {"checkpoint_resolved": str(then), "weights_sha256": hashlib.sha256(content).hexdigest()}
    run = _scored_elsewhere(tmp_path, meta)
    copy = _weights(tmp_path, content)
    with pytest.raises(EvaluationInputError, match=f"'{then}', not '{copy.resolve()}'"):
        check_same_model(run, copy)
