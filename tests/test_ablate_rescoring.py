"""When ``pmgsam.ablate --evaluate`` keeps a variant's scores and when it scores again
(:mod:`pmgsam.ablation.scoring`): on what changes the scores (the weights' SHA-256, HCE, image
size, device type, precision, speed options, the data), not on worker counts or file times; and
only scoring, without predicting, when HCE alone is added. Nothing is trained or predicted here
(tests/test_ablate.py runs the whole CLI once; the reasons alone are
test_ablate_rescore_reasons.py's)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest

import pmgsam.ablation.scoring as scoring
from pmgsam.ablation.checks import DONE_FILE
from pmgsam.evaluation.scoring import EvaluationInputError


@pytest.fixture
def variant(tmp_path, dis5k_root, monkeypatch) -> Dict[str, Any]:
    """A finished variant (stand-in weights: S 64 from a stand-in header), a recorder of scoring
    passes in place of prediction and scoring, and of the files hashed."""
    import pmgsam.modeling.checkpoint as checkpoint

    def resolve_weights(path: Path) -> Path:  # a run folder's weights, or the file itself
        return Path(path) if Path(path).is_file() else Path(path) / "best.bin"

    monkeypatch.setattr(checkpoint, "resolve_weights", resolve_weights)
    hashed: List[Path] = []

    def sha256(path: Path) -> str:
        hashed.append(path)
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    monkeypatch.setattr(checkpoint, "file_sha256", sha256)
    monkeypatch.setattr(
        checkpoint, "read_model_config", lambda path: SimpleNamespace(image_size=64)
    )
    passes: List[Dict[str, Any]] = []

    def predict_and_score(path, run_dir, splits, overrides, opts, datasets, predict=True, _=None):
        passes.append({"predict": predict, "hce": not opts.no_hce, "parts": list(datasets)})
        for part, dataset in datasets.items() if predict else ():
            (run_dir / "pred" / part).mkdir(parents=True, exist_ok=True)
            for name in dataset.names:
                (run_dir / "pred" / part / f"{name}.png").write_bytes(b"map")
        summary = {"MAE": 0.05, "HCE": None if opts.no_hce else 12.0}
        (run_dir / "metrics").mkdir(exist_ok=True)
        (run_dir / "metrics" / "DIS-TE1-4.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(scoring, "_predict_and_score", predict_and_score)
    config = tmp_path / "k5.yaml"
    config.write_text("model:\n  drfm_blocks: 5\n")
    run_dir = tmp_path / "out" / "k5"
    (run_dir / "train").mkdir(parents=True)
    (run_dir / "train" / DONE_FILE).write_text("{}")
    (run_dir / "train" / "best.bin").write_bytes(b"weights of the first training")
    return {
        "config": config,
        "run_dir": run_dir,
        "passes": passes,
        "root": dis5k_root,
        "hashed": hashed,
    }


def _evaluate(v: Dict[str, Any], root: Path, *overrides: str, **opts: Any) -> Dict[str, Any]:
    options = dict(device="cpu", batch_size=1, quiet=True, workers=1, no_hce=True)
    options.update(opts)
    data = [f"data.root={root}", f"data.split_dir={v['run_dir'].parent / 'splits'}", *overrides]
    scoring.evaluate_variant(
        v["config"], v["run_dir"], "(k) K=5", "DIS-TE", data, SimpleNamespace(**options)
    )
    return json.loads((v["run_dir"] / "run.json").read_text())["dis"]["DIS-TE1-4"]


def test_scores_without_hce_are_scored_again_when_hce_is_asked(variant, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pmgsam.ablate")
    root, passes = variant["root"], variant["passes"]
    first = _evaluate(variant, root, no_hce=True)
    assert first["HCE"] is None and first["scored_with"]["hce"] is False
    run = json.loads((variant["run_dir"] / "run.json").read_text())
    assert run["method"] == "(k) K=5" and run["meta"]["ablates"] == ["model.drfm_blocks"]
    assert passes == [
        {"predict": True, "hce": False, "parts": [f"DIS-TE{i}" for i in (1, 2, 3, 4)]}
    ]
    # Other worker counts and batch size change no score: kept.
    _evaluate(variant, root, no_hce=True, workers=2, batch_size=4)
    assert len(passes) == 1 and "already scored" in caplog.text
    # Without --no-hce: HCE used to stay empty. Now the kept maps are scored again, with a
    # line saying why, and nothing is predicted.
    second = _evaluate(variant, root, no_hce=False)
    assert passes[1] == {**passes[0], "predict": False, "hce": True}
    assert second["HCE"] == 12.0 and second["scored_with"]["hce"] is True
    assert "k5: scoring again: its scores lack HCE" in caplog.text
    scores = json.loads((variant["run_dir"] / "metrics" / "DIS-TE1-4.json").read_text())
    assert scores["scored_with"] == second["scored_with"]
    # Scores with HCE stand for a later --no-hce call.
    assert _evaluate(variant, root, no_hce=True)["HCE"] == 12.0 and len(passes) == 2


def test_scores_of_other_data_are_predicted_and_scored_again(variant, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pmgsam.ablate")
    root, passes = variant["root"], variant["passes"]
    _evaluate(variant, root)
    moved = tmp_path / "moved" / "DIS5K"
    shutil.copytree(root, moved)
    _evaluate(variant, moved)  # the same files elsewhere: kept
    assert len(passes) == 1
    # One GT mask changed: another dataset under the same names.
    gt = sorted((moved / "DIS-TE3" / "gt").glob("*.png"))[0]
    cv2.imwrite(str(gt), np.zeros((5, 7), np.uint8))
    _evaluate(variant, moved)
    assert len(passes) == 2 and passes[1]["predict"] is True
    assert f"other images or GT masks than were scored (data.root '{root}' then" in caplog.text


def test_missing_maps_are_predicted_when_only_hce_is_added(variant) -> None:
    root, passes = variant["root"], variant["passes"]
    _evaluate(variant, root)
    # A map of the scored set is gone: adding HCE cannot score the kept maps alone.
    next((variant["run_dir"] / "pred" / "DIS-TE2").glob("*.png")).unlink()
    _evaluate(variant, root, no_hce=False)
    assert [p["predict"] for p in passes] == [True, True]


def test_scores_of_other_weights_are_predicted_again_whatever_the_file_times(
    variant, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="pmgsam.ablate")
    root, passes, run_dir = variant["root"], variant["passes"], variant["run_dir"]
    weights = run_dir / "train" / "best.bin"
    first = hashlib.sha256(b"weights of the first training").hexdigest()
    assert _evaluate(variant, root)["scored_with"]["weights_sha256"] == first
    # Touched (a copy, a restore from backup), but the same weights: kept.
    later = time.time() + 100
    os.utime(run_dir / "train" / DONE_FILE, (later, later))
    os.utime(weights, (later, later))
    _evaluate(variant, root)
    assert len(passes) == 1
    # Trained again: other weights, predicted and scored again whatever the file times say.
    weights.write_bytes(b"weights of the second training")
    os.utime(weights, (1000, 1000))
    second = hashlib.sha256(b"weights of the second training").hexdigest()
    assert _evaluate(variant, root)["scored_with"]["weights_sha256"] == second
    assert len(passes) == 2 and passes[1]["predict"] is True
    assert (
        f"scoring again: its best weights changed since it was scored (SHA-256 {first[:12]} "
        f"then, {second[:12]} now" in caplog.text
    )
    # One hash of the weights per call, kept scores or not.
    assert variant["hashed"] == [weights] * 3


def test_scores_of_an_older_pmgsam_or_other_speed_options_are_predicted_again(
    variant, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="pmgsam.ablate")
    root, passes, run_dir = variant["root"], variant["passes"], variant["run_dir"]
    _evaluate(variant, root)
    scores = run_dir / "metrics" / "DIS-TE1-4.json"
    record = json.loads(scores.read_text())
    recorded = record["scored_with"]
    assert recorded["device"] == "cpu" and recorded["amp"] == "none"
    # As the version before weights, device and speed options were recorded wrote them.
    older = {k: recorded[k] for k in ("hce", "image_size", "amp", "data_root", "data")}
    scores.write_text(json.dumps({**record, "scored_with": older}))
    _evaluate(variant, root)
    assert len(passes) == 2 and passes[1]["predict"] is True
    assert "do not record the weights_sha256, device, performance they were" in caplog.text
    # TF32 acts on CUDA only: on the CPU, another choice changes no score.
    _evaluate(variant, root, "performance.tf32=false")
    assert len(passes) == 2
    # Hiera's attention form changes the arithmetic on any device.
    _evaluate(variant, root, "performance.hiera_window_attention=false")
    assert len(passes) == 3 and passes[2]["predict"] is True
    assert "performance.hiera_window_attention True then, False now" in caplog.text


def test_unreadable_scores_are_named(variant) -> None:
    root, run_dir = variant["root"], variant["run_dir"]
    _evaluate(variant, root)
    scores = run_dir / "metrics" / "DIS-TE1-4.json"
    scores.write_text("{not json")
    with pytest.raises(EvaluationInputError, match=rf"'{scores}'.*delete it to score again"):
        _evaluate(variant, root)
    scores.write_text("[0.05]")  # JSON, but not the scores' object
    with pytest.raises(EvaluationInputError, match=r"hold a JSON list, not an object; delete"):
        _evaluate(variant, root)


def test_evaluating_an_unfinished_training_is_refused_before_anything_is_written(
    variant,
) -> None:
    run_dir = variant["run_dir"]
    (run_dir / "train" / DONE_FILE).unlink()  # trained, but stopped before the end
    with pytest.raises(FileNotFoundError, match=r"^k5: no finished training in '.*train'; run"):
        _evaluate(variant, variant["root"])
    assert variant["passes"] == [] and not (run_dir / "run.json").exists()


def test_prediction_refuses_best_weights_replaced_after_they_were_hashed(
    tmp_path, monkeypatch
) -> None:
    """The scores record the SHA-256 taken before the model loads: a training run replacing
    its best weights in between must stop the pass, not score other weights under that hash."""
    import pmgsam.engine.inference as inference
    import pmgsam.modeling.checkpoint as checkpoint
    from pmgsam.modeling.weights import CheckpointError

    weights = tmp_path / "k5" / "train" / "best.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights of the first training")
    monkeypatch.setattr(checkpoint, "resolve_weights", lambda path: weights)
    hashed = checkpoint.hash_weights(weights)

    def load(*args: Any, **kwargs: Any) -> Any:
        weights.write_bytes(b"weights of a later epoch")  # as train.py's best/ update does
        return object()

    monkeypatch.setattr(inference, "load_pretrained", load)
    monkeypatch.setattr(inference, "checkpoint_model_fields", lambda *args: {})
    monkeypatch.setattr(inference, "Predictor", lambda *a, **k: pytest.fail("predicted"))
    config = tmp_path / "k5.yaml"
    config.write_text("model:\n  drfm_blocks: 5\n")
    opts = SimpleNamespace(device="cpu", batch_size=1, quiet=True)
    predict = scoring._predictor(config, tmp_path / "k5", [], opts, hashed)
    with pytest.raises(CheckpointError, match=f"'{weights}' changed between hashing and loading"):
        predict("DIS-TE1")
