"""``premask`` predicts into a scored run only with the weights its run.json records, even
when the run's maps were deleted (its run.json and metrics would then describe another model
than its maps); a folder premask itself filled records its model in its maps' manifests only,
so ``--predict`` may fill it again with other weights (CPU; hand-made runs with prediction
stubbed, and small real models; helpers from test_analysis)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch
from premask_cases import fake_predict_split
from test_analysis import DEMO, _fake_run

from pmgsam.analysis.__main__ import main
from pmgsam.modeling.checkpoint import save_model, weights_digest
from pmgsam.utils.cli import exit_status
from pmgsam.utils.outputs import read_manifest

SPLIT = "DIS-TE1"


def _premask(tmp_path, dis5k_root, run, *options):
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", SPLIT, "--quiet"]
    return exit_status(main, [*argv, *options, *data])


@pytest.fixture
def predicted(monkeypatch, dis5k_root) -> list:
    """The checkpoints predict_split was called with; it writes the GT masks as both maps."""
    return fake_predict_split(monkeypatch, dis5k_root)


def _scored_run(tmp_path, dis5k_root, weights, record_digest=True):
    """A run as evaluate.py leaves it (run.json naming ``weights``, metrics/), with every map
    of SPLIT deleted since."""
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    for kind in ("pred", "premask"):
        for png in (run / kind / SPLIT).glob("*.png"):
            png.unlink()
    meta = {"checkpoint": str(weights), "checkpoint_resolved": str(weights.resolve())}
    if record_digest:
        meta["weights_sha256"] = weights_digest(weights)
    (run / "run.json").write_text(json.dumps({"method": "Ours", "meta": meta}))
    (run / "metrics").mkdir()
    (run / "metrics" / f"{SPLIT}.json").write_text('{"maxF": 0.5}')
    return run


@pytest.mark.parametrize("record_digest", [True, False], ids=["sha256", "older run.json"])
def test_another_checkpoint_is_refused_when_the_maps_are_gone(
    tmp_path, dis5k_root, capsys, predicted, record_digest
) -> None:
    scored, other = tmp_path / "epoch1.safetensors", tmp_path / "epoch9.safetensors"
    scored.write_bytes(b"weights of epoch 1")
    other.write_bytes(b"weights of epoch 9")
    run = _scored_run(tmp_path, dis5k_root, scored, record_digest)
    record = (run / "run.json").read_bytes()
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(other)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"--checkpoint '{other}'" in err and f"is not the weights --run '{run}'" in err
    assert f"its run.json records '{scored}'" in err
    assert "give another --run" in err and "leave out --checkpoint" in err
    assert predicted == [] and (run / "run.json").read_bytes() == record
    assert not any((run / "pred" / SPLIT).iterdir()) and not (run / "analysis").exists()
    # The same weights under another name are the run's: predicted there and analysed.
    copied = tmp_path / "copy" / "best.safetensors"
    copied.parent.mkdir()
    shutil.copy(scored, copied)
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(copied)) == 0
    assert predicted == [str(copied)]
    assert (run / "analysis" / f"premask_{SPLIT}" / "summary.json").is_file()


def test_run_jsons_checkpoint_changed_since_scoring_is_refused_when_the_maps_are_gone(
    tmp_path, dis5k_root, capsys, predicted
) -> None:
    weights = tmp_path / "best.safetensors"
    weights.write_bytes(b"epoch 2 weights")
    run = _scored_run(tmp_path, dis5k_root, weights)
    weights.write_bytes(b"epoch 3 weights")  # training went on after the run was scored
    assert _premask(tmp_path, dis5k_root, run) == 2
    err = capsys.readouterr().err
    assert f"'{weights}' now holds other weights than those --run '{run}' was scored" in err
    assert "score it again first" in err and predicted == []


def test_scores_without_a_run_json_are_named_as_such(
    tmp_path, dis5k_root, capsys, predicted
) -> None:
    # evaluate.py --keep-going writes metrics/ of the splits it scored, and no run.json.
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    (run / "run.json").unlink()
    (run / "metrics").mkdir()
    (run / "metrics" / f"{SPLIT}.json").write_text('{"maxF": 0.5}')
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    assert _premask(tmp_path, dis5k_root, run, "--predict", "--checkpoint", str(weights)) == 2
    err = capsys.readouterr().err
    assert "holds scored maps (see its metrics/) but it has no run.json to record" in err
    assert "its run.json" not in err and predicted == []


def test_predict_without_weights_in_a_folder_without_run_json_says_so(
    tmp_path, dis5k_root, capsys, predicted
) -> None:
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())  # every map there
    (run / "run.json").unlink()
    assert _premask(tmp_path, dis5k_root, run, "--predict") == 2
    err = capsys.readouterr().err
    assert "--predict" in err and "no run.json naming the weights" in err
    assert "lacks" not in err and predicted == []


def test_predict_fills_a_folder_premask_made_again_with_other_weights(
    tmp_path, dis5k_root, capsys, small_branches, small_tiny_model, small_model_file
) -> None:
    first, _ = small_model_file
    changed = copy.deepcopy(small_tiny_model)
    with torch.no_grad():
        next(p for p in changed.parameters() if p.requires_grad).add_(0.5)
    second = save_model(changed, tmp_path / "second.safetensors")
    run = tmp_path / "run"
    options = ["--device", "cpu", "model.image_size=64"]
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(first), *options) == 0
    assert not (run / "run.json").exists() and not (run / "metrics").exists()
    capsys.readouterr()
    again = ["--predict", "--checkpoint", str(second), *options]
    assert _premask(tmp_path, dis5k_root, run, *again) == 0, capsys.readouterr().err
    # The manifests, the folder's only record of the model, now name the weights predicted.
    for kind in ("pred", "premask"):
        record = read_manifest(run / kind / SPLIT)
        assert record["producer"]["weights_sha256"] == weights_digest(second)
        assert not record["mixed"]
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(second), *options) == 0
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(first), *options) == 2
    assert f"holds maps made by '{second.resolve()}'" in capsys.readouterr().err
