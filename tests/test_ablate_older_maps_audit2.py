"""A variant folder of an older pmgsam.ablate (maps without manifests, no weights in run.json)
whose scores no longer stand: ``pmgsam.ablate --evaluate`` predicts its maps again over the
older ones (its own folder: not refused as files pmgsam did not write) and records the weights
that made them, as the module doc of pmgsam.ablation.scoring says; weights replaced after the
variant hashed them are refused, not predicted under the SHA-256 its scores record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_ablate_run_record import PARTS, as_older_variant, scored  # noqa: F401 (scored: the trained variant)

from pmgsam import ablate
from pmgsam.utils.outputs import read_manifest


def test_older_maps_are_predicted_again_when_the_scores_do_not_stand(
    request, tmp_path, small_branches
) -> None:
    trained = request.getfixturevalue("scored")
    out = Path(shutil.copytree(trained["out"], tmp_path / "out"))
    run = out / "k1"
    as_older_variant(run)
    shutil.rmtree(run / "metrics")  # scores gone: the maps are predicted and scored again
    maps = {p: p.stat().st_mtime_ns for p in run.glob("pred/*/*.png")}
    args = ["--grid", trained["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    args += ["--quiet", "--no-hce", "--evaluate", *trained["overrides"]]
    assert ablate.main([str(a) for a in args]) == 0
    sha256 = json.loads((run / "run.json").read_text())["meta"]["weights_sha256"]
    for part in PARTS:
        assert read_manifest(run / "pred" / part)["producer"]["weights_sha256"] == sha256
    assert all(p.stat().st_mtime_ns != stamp for p, stamp in maps.items())
    assert (run / "metrics" / "DIS-TE1-4.json").is_file()


def test_weights_replaced_after_hashing_are_refused_not_predicted(
    request, tmp_path, small_branches, monkeypatch
) -> None:
    # The scores record the SHA-256 taken first; maps from a file replaced since (a training
    # run writing its best weights) would be recorded under another SHA-256 than the scores.
    from pmgsam.modeling import checkpoint

    trained = request.getfixturevalue("scored")
    out = Path(shutil.copytree(trained["out"], tmp_path / "out"))
    run = out / "k1"
    shutil.rmtree(run / "metrics")
    hash_weights, calls = checkpoint.hash_weights, []

    def hash_then_replace(path):
        hashed = hash_weights(path)
        calls.append(path)
        if len(calls) > 1:  # only the variant's own hash is followed by a replacement
            return hashed
        data = bytearray(Path(hashed.path).read_bytes())
        data[-1] ^= 1  # a tensor byte: the safetensors header still reads
        Path(hashed.path).write_bytes(bytes(data))
        return hashed

    monkeypatch.setattr(checkpoint, "hash_weights", hash_then_replace)
    args = ["--grid", trained["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    args += ["--quiet", "--no-hce", "--evaluate", *trained["overrides"]]
    with pytest.raises(Exception, match="changed between hashing and loading"):
        ablate.main([str(a) for a in args])
    assert not (run / "metrics" / "DIS-TE1-4.json").exists()
