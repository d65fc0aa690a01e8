"""``train.init_from``'s frozen-branch warning: every branch whose weights differ is named, each
with its own fix (``=null`` for a branch trained random, the file it was trained on otherwise),
and only branches the checkpoint records a digest for are asked about."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from pmgsam.modeling.build import other_frozen_weights, warn_other_frozen_weights
from pmgsam.modeling.config import ModelConfig


def _rewritten(source: Path, target: Path, digests: dict, **config) -> Path:
    # The source's weights with another recorded config / frozen digests in its header.
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
    stored = json.loads(metadata["config"])
    stored.update(config)
    metadata["config"] = json.dumps(stored)
    metadata["frozen_sha256"] = json.dumps(digests)
    save_file(load_file(str(source)), str(target), metadata=metadata)
    return target


def test_both_branches_named_each_with_its_own_fix(small_model_file, tmp_path, caplog):
    trained_on = str(tmp_path / "u2netp_trained.pth")
    path = _rewritten(
        small_model_file[0],
        tmp_path / "w.safetensors",
        {"hiera": "h0", "u2net": "u0"},
        u2net_checkpoint=trained_on,
    )
    run = ModelConfig(hiera_checkpoint=str(tmp_path / "hiera_new.pth"))  # U²-Net random
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        warn_other_frozen_weights(path, run, {"hiera": "h1", "u2net": "u1"}.__getitem__)
    hiera, u2net = (r.getMessage() for r in caplog.records)
    assert "trained on a fixed-seed random branch as its Hiera branch" in hiera
    assert f"this run's, the weights in '{tmp_path / 'hiera_new.pth'}', differs" in hiera
    assert "give model.hiera_checkpoint=null (unless another Hiera branch is meant)" in hiera
    assert f"trained on the weights in '{trained_on}' as its U²-Net branch" in u2net
    assert "this run's, a fixed-seed random branch, differs" in u2net
    assert "give model.u2net_checkpoint the file it was trained on (unless another U²-Net" in u2net


def test_only_recorded_and_differing_branches(small_model_file, tmp_path):
    path = _rewritten(small_model_file[0], tmp_path / "w.safetensors", {"u2net": "u0"})
    asked = []

    def digest_of(name: str) -> str:
        asked.append(name)
        return {"hiera": "h1", "u2net": "u0"}[name]

    assert other_frozen_weights(path, digest_of) == []
    assert asked == ["u2net"]  # no Hiera digest recorded: nothing to compare it with
    both = _rewritten(small_model_file[0], tmp_path / "b.safetensors", {"hiera": "h", "u2net": "u"})
    assert other_frozen_weights(both, lambda name: "x") == ["hiera_checkpoint", "u2net_checkpoint"]
