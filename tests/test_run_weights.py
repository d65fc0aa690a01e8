"""A benchmark run folder holds the scores of one version of its weights: a checkpoint path whose
file was replaced (a run still training saves a new best) must not add scores to the earlier
version's row."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml
from cli_cases import evaluate_main

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.run_weights import check_same_weights, scored_entries
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.modeling.checkpoint import save_model
from pmgsam.utils.config import from_dict, to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(model, data_root: Path, tmp_path: Path) -> Path:
    data = {"dataset": "dis5k", "root": str(data_root), "train_split": "DIS-TR",
            "val_split": "DIS-VD", "test_splits": ["DIS-TE1"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = {"model": to_dict(model.config), "data": data, "train": {"device": "cpu"},
           "output_dir": str(tmp_path / "unused")}  # fmt: skip
    from_dict(ExperimentConfig, cfg)
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_replaced_weights_at_one_path_are_refused_unless_every_score_is_replaced(
    small_tiny_model, small_branches, dis5k_root, tmp_path
) -> None:
    # conftest's small frozen Hiera, which each benchmark run rebuilds and digests: what is
    # refused depends on the weights file's digest, not on the branch's size.
    model = copy.deepcopy(small_tiny_model)  # trained on below
    weights = save_model(model, tmp_path / "best.safetensors")
    config = _config(model, dis5k_root, tmp_path)
    run = tmp_path / "run"
    base = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--dataset", "dis5k", "--output-dir", run, "--workers", "1", "--no-hce"]  # fmt: skip
    assert evaluate_main(base + ["--splits", "DIS-VD"]) == 0
    first = hashlib.sha256(weights.read_bytes()).hexdigest()
    with torch.no_grad():
        next(model.trainable_parameters()).add_(0.5)  # training went on: a new best, same path
    save_model(model, weights)
    record = (run / "run.json").read_bytes()
    # Before: exit 0, DIS-TE1 of the new weights beside DIS-VD of the old in one row.
    with pytest.raises(EvaluationInputError, match=r"holds scores \('DIS-VD'\) of the weights"):
        evaluate_main(base + ["--splits", "DIS-TE1"])
    assert (run / "run.json").read_bytes() == record and not (run / "pred" / "DIS-TE1").exists()
    # Scoring every recorded split again leaves no score of the old weights: allowed.
    assert evaluate_main(base + ["--splits", "DIS-VD,DIS-TE1"]) == 0
    saved = json.loads((run / "run.json").read_text())
    assert saved["meta"]["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert saved["meta"]["weights_sha256"] != first and set(saved["dis"]) == {"DIS-VD", "DIS-TE1"}


def _run_json(folder: Path, sha: str | None, dis: dict, cos: dict | None = None) -> Path:
    folder.mkdir()
    meta = {"checkpoint": "runs/x"} | ({"weights_sha256": sha} if sha else {})
    (folder / "run.json").write_text(json.dumps({"method": "m", "dis": dis, "cos": cos or {},
                                                 "meta": meta}))  # fmt: skip
    return folder


def test_the_check_reads_digests_and_entries(tmp_path) -> None:
    a, b = "a" * 64, "b" * 64
    run = _run_json(tmp_path / "r", a, {"DIS-TE1-4": {}}, {"NC4K": {}})
    check_same_weights(run, a, {"DIS-VD"})  # the same weights add a split
    check_same_weights(run, b, {"DIS-TE1-4", "NC4K"})  # other weights replace every score
    with pytest.raises(EvaluationInputError, match=r"\('NC4K'\).*aaaaaaaaaaaa….*bbbbbbbbbbbb…"):
        check_same_weights(run, b, {"DIS-TE1-4"})
    old = _run_json(tmp_path / "old", None, {"DIS-VD": {}})  # no digest recorded: not compared
    check_same_weights(old, b, {"DIS-TE1"})
    check_same_weights(tmp_path / "new", b, {"DIS-TE1"})  # no run.json yet


def test_entries_are_named_as_benchmark_mode_writes_them() -> None:
    # By hand: the four TE parts in any order are DIS-TE1-4; other joins are sorted; COS test
    # splits are the dataset's column, other COS splits carry their split name.
    assert scored_entries("dis5k", ["DIS-TE", "DIS-TE4+DIS-TE2+DIS-TE3+DIS-TE1"]) == {"DIS-TE1-4"}
    assert scored_entries("dis5k", ["DIS-TE3+DIS-TE1", "DIS-VD"]) == {"DIS-TE1+DIS-TE3", "DIS-VD"}
    assert scored_entries("nc4k", ["test"]) == {"NC4K"}
    assert scored_entries("cod10k", ["Test", "val"]) == {"COD10K", "COD10K val"}
    assert scored_entries("folder", ["test"]) == {"test"}


def test_the_overlap_analysis_entry_is_not_called_a_split_to_score_again(tmp_path) -> None:
    # README's COD10K recipe: evaluate.py, then `analysis overlap --run` adds the subset AP.
    # After a new best, --splits cannot score 'COD10K overlap': the advice must not say it can.
    a, b = "a" * 64, "b" * 64
    cos = {"COD10K": {}, "COD10K overlap": {"rule": "either", "share": 0.3}}
    run = _run_json(tmp_path / "r", a, {}, cos)
    with pytest.raises(EvaluationInputError) as err:
        check_same_weights(run, b, {"COD10K"})
    text = str(err.value)
    assert "--splits" not in text and "overlap analysis" in text and "delete" in text
    with pytest.raises(EvaluationInputError, match=r"Score those splits too .*\(--splits\)"):
        check_same_weights(run, b, set())  # 'COD10K' itself is a split's
