"""``premask --checkpoint W`` over a run whose maps are all there reads them only when their
folders' manifests record that W's weights made them: it used to read maps of any model and
merely say that W had no effect, so the analysis described another model than the one named
(CPU; hand-made runs and manifests, and one made by predict_split; helpers from test_analysis)."""

from __future__ import annotations

import hashlib
import json

import pytest
from test_analysis import DEMO, _fake_run

from pmgsam.analysis.__main__ import main
from pmgsam.engine import inference
from pmgsam.utils.cli import exit_status
from pmgsam.utils.outputs import MANIFEST

SPLIT = "DIS-TE1"


def _record(run, weights, mixed=False) -> None:
    """Manifests as predict_split writes them, naming ``weights`` (its SHA-256 hashed here)."""
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    for kind, maps in (("pred", "final"), ("premask", "pre_mask")):
        folder = run / kind / SPLIT
        producer = {"weights": str(weights), "weights_sha256": sha, "frozen_sha256": {},
                    "image_size": 64, "amp": "none", "maps": maps}  # fmt: skip
        files = sorted(p.name for p in folder.glob("*.png"))
        record = {"format": "pmgsam-outputs", "tool": "predict_split", "mixed": mixed,
                  "files": files, "producer": producer}  # fmt: skip
        (folder / MANIFEST).write_text(json.dumps(record))


def _premask(tmp_path, dis5k_root, run, *options):
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", SPLIT, "--quiet"]
    return exit_status(main, [*argv, *options, *data])


@pytest.fixture
def no_prediction(monkeypatch) -> None:
    monkeypatch.setattr(inference, "predict_split", lambda *a, **k: pytest.fail("predicted"))


def test_maps_of_another_checkpoint_are_refused(
    tmp_path, dis5k_root, capsys, no_prediction
) -> None:
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    made, given = tmp_path / "epoch1.safetensors", tmp_path / "epoch9.safetensors"
    made.write_bytes(b"weights of epoch 1")
    given.write_bytes(b"weights of epoch 9")
    _record(run, made)
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(given)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"--checkpoint '{given}'" in err
    for kind in ("pred", "premask"):
        assert f"'{run / kind / SPLIT}' holds maps made by '{made}'" in err
    assert "another --run" in err and "delete those maps" in err
    assert not (run / "analysis").exists()
    # The checkpoint that made them is accepted, and said to have made them.
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(made)) == 0
    out = capsys.readouterr().out
    assert "(all there, made by --checkpoint's weights): none predicted;" in out
    assert "no effect" not in out


@pytest.mark.parametrize("manifest", ["none", "mixed", "unlisted map"])
def test_maps_without_a_whole_record_are_refused_with_a_checkpoint(
    tmp_path, dis5k_root, capsys, no_prediction, manifest
) -> None:
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    if manifest != "none":
        _record(run, weights, mixed=manifest == "mixed")
    if manifest == "unlisted map":  # a map pmgsam did not write (the manifest does not list it)
        first = next(iter(sorted((run / "pred" / SPLIT).glob("*.png"))))
        record = json.loads((run / "pred" / SPLIT / MANIFEST).read_text())
        record["files"].remove(first.name)
        (run / "pred" / SPLIT / MANIFEST).write_text(json.dumps(record))
    assert _premask(tmp_path, dis5k_root, run, "--checkpoint", str(weights)) == 2
    err = capsys.readouterr().err
    why = "may also hold maps of another model" if manifest == "mixed" else "without a record"
    assert f"'{run / 'pred' / SPLIT}' " in err and why in err
    assert not (run / "analysis").exists()
    # Without --checkpoint the maps are read as they are, as documented.
    assert _premask(tmp_path, dis5k_root, run) == 0


def test_maps_predict_split_wrote_are_read_with_their_checkpoint_only(
    tmp_path, dis5k_root, capsys, small_branches, small_model_file
) -> None:
    weights, _ = small_model_file
    run = tmp_path / "run"
    options = ["--checkpoint", str(weights), "--device", "cpu", "model.image_size=64"]
    assert _premask(tmp_path, dis5k_root, run, *options) == 0  # predicted
    maps = {p: p.read_bytes() for p in sorted(run.glob("*/*/*.png"))}
    capsys.readouterr()
    assert _premask(tmp_path, dis5k_root, run, *options) == 0
    assert "made by --checkpoint's weights): none predicted" in capsys.readouterr().out
    other = tmp_path / "other.safetensors"
    other.write_bytes(weights.read_bytes() + b" ")  # another file, one byte longer
    options[1] = str(other)
    assert _premask(tmp_path, dis5k_root, run, *options) == 2
    assert f"holds maps made by '{weights.resolve()}'" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in sorted(run.glob("*/*/*.png"))} == maps
