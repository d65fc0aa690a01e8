"""``--skip-existing``: a stopped inference run resumes where it stopped, with the maps a
straight run writes, decoding only the images still without a map, and never keeping maps of
another model or setting (or of a manifest that cannot say which made them)."""

from __future__ import annotations

import copy
import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from resume_cases import count_reads, load_as, tree, with_other_frozen_weights

from pmgsam.engine import inference, inference_inputs
from pmgsam.engine.inference import main as inference_main
from pmgsam.engine.map_writer import MapWriter
from pmgsam.modeling.checkpoint import save_model, weights_digest
from pmgsam.utils.cli import exit_status
from pmgsam.utils.outputs import (
    MANIFEST,
    read_manifest,
)

STEMS = ["a", "b", "c", "d", "e"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """The module's five input images; read-only (a test that damages one copies them)."""
    folder = tmp_path_factory.mktemp("skip") / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, stem in enumerate(STEMS):
        shape = (30 + 7 * i, 50 - 4 * i, 3)
        cv2.imwrite(str(folder / f"{stem}.png"), rng.integers(0, 255, shape, dtype=np.uint8))
    return folder


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """Image file names counted each time inference opens one (header or pixels)."""
    return count_reads(
        monkeypatch, inference_inputs, ["load_image", "read_size", "exif_orientation"]
    )


def infer(weights: Path, images: Path, out: Path, *extra) -> int:
    argv = ["--checkpoint", weights, "--input", images, "--out", out, "--num-workers", 0]
    return exit_status(inference_main, [*argv, "--batch-size", 1, *extra])


@pytest.fixture(scope="module")
def finished(checkpoints, images, tmp_path_factory, one_thread_module) -> Path:
    """A finished run of weights "one" over :func:`images`, made once for the module (on one
    thread, as the tests' runs), its Pre-Mask maps in the sibling folder ``premask`` (the
    manifest of the final maps does not record them); read-only: a test that starts from it
    takes a copy (:func:`copy_of`)."""
    models = {str(path): model for path, model in checkpoints.values()}
    out = tmp_path_factory.mktemp("finished") / "pred"
    with pytest.MonkeyPatch.context() as mp:  # as conftest's weights, for this module-wide run
        mp.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(models[str(p)]))
        assert (
            infer(checkpoints["one"][0], images, out, "--premask-out", out.parent / "premask") == 0
        )
    return out


def copy_of(finished: Path, out: Path) -> Path:
    """``out`` as :func:`finished` left it, its files' modification times (the manifest's
    identities) included."""
    return Path(shutil.copytree(finished, out))


def stopped_run(monkeypatch, weights: Path, images: Path, out: Path, maps: int, *extra) -> None:
    """A run that stops (an OS error) when it is about to write its final map number ``maps``."""
    real, written = MapWriter.write, []

    def failing(writer, prob, path):
        if path.parent.name != "premask":
            if len(written) == maps - 1:
                raise OSError(f"could not write prediction '{path}': simulated kill")
            written.append(path.name)
        real(writer, prob, path)

    with monkeypatch.context() as patch:
        patch.setattr(MapWriter, "write", failing)
        assert infer(weights, images, out, *extra) != 0
    assert len(written) == maps - 1


def test_resumed_run_writes_the_straight_runs_maps_and_decodes_only_the_missing(
    weights, images, finished, tmp_path, monkeypatch, reads, capsys, caplog, recwarn
) -> None:
    straight, out = finished, tmp_path / "pred"  # the straight run, with its Pre-Mask maps
    straight_premask = finished.parent / "premask"
    both = ["--premask-out"]
    # Per image the Pre-Mask map is written first: the stopped run leaves a, b in both folders
    # and c's Pre-Mask map only, so c is predicted again with d and e.
    stopped_run(monkeypatch, weights["one"], images, out, 3, *both, tmp_path / "premask")
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    assert (tmp_path / "premask" / "c.png").is_file()
    assert read_manifest(out)["producer"]["amp"] == "none"  # --amp auto, resolved on the CPU
    capsys.readouterr()
    reads.clear()
    recwarn.clear()
    with caplog.at_level(logging.INFO, logger="pmgsam.engine.inference"):
        code = infer(weights["one"], images, out, "--skip-existing", *both, tmp_path / "premask")
    assert code == 0
    assert not [w for w in recwarn if "earlier run" in str(w.message)]  # kept maps are this run's
    assert set(reads) == {"c", "d", "e"}  # a and b: not even their headers are read
    assert "2 image(s) skipped" in caplog.text and "predicting 3" in caplog.text
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "wrote 3 probability maps" in last and "skipped 2 image(s)" in last
    assert tree(out) == {**tree(straight), MANIFEST: tree(out)[MANIFEST]}
    assert tree(tmp_path / "premask").keys() == tree(straight_premask).keys()
    for stem in STEMS:
        name = f"{stem}.png"
        assert tree(tmp_path / "premask")[name] == tree(straight_premask)[name]
    # Nothing left to do: nothing read, nothing written.
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing", *both, tmp_path / "premask") == 0
    assert not reads and "wrote 0 probability maps" in capsys.readouterr().out
    # An image whose Pre-Mask map is missing is predicted again, though --out has its map.
    (tmp_path / "premask" / "d.png").unlink()
    assert infer(weights["one"], images, out, "--skip-existing", *both, tmp_path / "premask") == 0
    assert set(reads) == {"d"} and (tmp_path / "premask" / "d.png").is_file()


@pytest.mark.parametrize("change", ["weights", "amp", "premask-as-out"])
def test_maps_of_another_producer_are_refused_and_nothing_is_written(
    weights, images, finished, tmp_path, capsys, monkeypatch, change
) -> None:
    # Both folders of a run of "one" without amp (--amp auto is none on the CPU).
    out = copy_of(finished, tmp_path / "pred")
    pre = copy_of(finished.parent / "premask", tmp_path / "premask")
    assert read_manifest(out)["producer"]["amp"] == "none"
    (out / "e.png").unlink()  # as if stopped before e
    before = {"out": tree(out), "pre": tree(pre)}
    argv = {
        "weights": [weights["other"], images, out, "--premask-out", pre],
        "amp": [weights["one"], images, out, "--premask-out", pre, "--amp", "bf16"],
        "premask-as-out": [weights["one"], images, pre, "--premask-out", out],
    }[change]
    capsys.readouterr()
    loads = []
    loaded = inference.load_pretrained
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: loads.append(p) or loaded(p))
    assert infer(*argv, "--skip-existing") == 2
    assert loads == []  # refused before the model is built
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    differs = {"weights": "weights SHA-256", "amp": "amp", "premask-as-out": "kind of map"}[change]
    assert f"differ in {differs}" in err and "never mixes" in err
    if change == "weights":  # both weights files are named
        assert str(weights["one"].name) in err and str(weights["other"].name) in err
    assert {"out": tree(out), "pre": tree(pre)} == before
    # Without the flag, as before: every map is predicted again with the new weights.
    if change == "weights":
        assert infer(*argv) == 0
        assert read_manifest(out)["producer"]["weights_sha256"] == weights_digest(argv[0])
        assert tree(out) != before["out"] and not read_manifest(out)["mixed"]
        assert infer(*argv, "--skip-existing") == 0
        assert "wrote 0 probability maps" in capsys.readouterr().out


def test_a_stopped_run_of_other_weights_leaves_a_folder_that_cannot_be_resumed(
    weights, images, finished, tmp_path, monkeypatch, capsys
) -> None:
    # Weights "other" stopped while replacing the maps of "one": a, b are its maps, c-e still
    # the old ones. Keeping them would mix two models.
    out = copy_of(finished, tmp_path / "pred")
    stopped_run(monkeypatch, weights["other"], images, out, 3)
    assert read_manifest(out)["mixed"]
    before = tree(out)
    capsys.readouterr()
    assert infer(weights["other"], images, out, "--skip-existing") == 2
    err = capsys.readouterr().err
    assert "may also hold maps of another model" in err and "without --skip-existing" in err
    assert tree(out) == before
    assert infer(weights["other"], images, out) == 0 and not read_manifest(out)["mixed"]


def test_a_manifest_without_a_producer_record_is_refused(
    weights, images, finished, tmp_path, capsys, reads
) -> None:
    out = copy_of(finished, tmp_path / "pred")
    old = read_manifest(out)
    for key in ("producer", "mixed"):  # as pmgsam wrote it before it recorded them
        del old[key]
    (out / MANIFEST).write_text(json.dumps(old))
    before = tree(out)
    capsys.readouterr()
    assert infer(weights["one"], images, out, "--skip-existing") == 2
    err = capsys.readouterr().err
    assert "without a record of the model" in err and "run without --skip-existing" in err
    assert tree(out) == before
    # Re-run without the flag as told: every map again, and the folder can be resumed later.
    assert infer(weights["one"], images, out) == 0
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing") == 0 and not reads


def test_a_user_file_named_like_a_map_is_never_kept_as_one(
    weights, images, finished, tmp_path, capsys, reads
) -> None:
    straight, out = finished, tmp_path / "pred"
    for stem in ("a", "b"):  # a first run on part of the images (one file at a time)
        assert infer(weights["one"], images / f"{stem}.png", out) == 0
    (out / "c.png").write_bytes(b"the user's own file")
    capsys.readouterr()
    assert infer(weights["one"], images, out, "--skip-existing") == 2
    assert "did not write" in capsys.readouterr().err
    assert (out / "c.png").read_bytes() == b"the user's own file"
    # --overwrite allows the folder, but c.png is still no map of this tool's: c is predicted.
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing", "--overwrite") == 0
    assert set(reads) == {"c", "d", "e"}
    assert tree(out) == {**tree(straight), MANIFEST: tree(out)[MANIFEST]}


def test_a_checkpoint_without_frozen_digests_records_the_loaded_branches(
    checkpoints, images, tmp_path, monkeypatch, reads
) -> None:
    # Checkpoints from before the frozen branches' SHA-256 were recorded: the loaded model's
    # branches stand in, so a resumed run still compares them.
    _, model = checkpoints["one"]
    old = save_model(model, tmp_path / "old.safetensors", frozen_sha256={})
    load_as(monkeypatch, model)
    out = tmp_path / "pred"
    assert infer(old, images, out) == 0
    frozen = read_manifest(out)["producer"]["frozen_sha256"]
    assert set(frozen) == {"hiera", "u2net"}
    reads.clear()
    assert infer(old, images, out, "--skip-existing") == 0 and not reads
    # The same checkpoint, other frozen weights: refused.
    load_as(monkeypatch, with_other_frozen_weights(model))
    assert infer(old, images, out, "--skip-existing") == 2


def test_maps_of_other_images_of_the_same_names_are_predicted_again(
    weights, images, finished, tmp_path, reads
) -> None:
    # Same weights and settings, but another input folder with the same file names, then an
    # image edited in place: the maps there are of other pixels, so they are not kept.
    other, out, straight = tmp_path / "other", tmp_path / "pred", tmp_path / "straight"
    other.mkdir()
    for stem in STEMS:
        flipped = cv2.imread(str(images / f"{stem}.png"))[::-1].copy()
        cv2.imwrite(str(other / f"{stem}.png"), flipped)
    assert infer(weights["one"], other, straight) == 0
    copy_of(finished, out)
    reads.clear()
    assert infer(weights["one"], other, out, "--skip-existing") == 0
    assert set(reads) == set(STEMS)  # every map was of the first folder's image
    assert tree(out) == {**tree(straight), MANIFEST: tree(out)[MANIFEST]}
    assert not read_manifest(out)["mixed"]
    cv2.imwrite(str(other / "c.png"), cv2.imread(str(images / "c.png")))  # edited in place
    reads.clear()
    assert infer(weights["one"], other, out, "--skip-existing") == 0
    assert set(reads) == {"c"}
    assert (out / "c.png").read_bytes() != (straight / "c.png").read_bytes()


def test_a_stopped_run_on_other_images_leaves_the_folder_refused(
    weights, images, finished, tmp_path, monkeypatch
) -> None:
    # A run of the same weights over another folder's images of the same names, stopped
    # half-way, leaves maps of two image sets that nothing tells apart.
    other, out = tmp_path / "other", tmp_path / "pred"
    other.mkdir()
    for stem in STEMS:
        cv2.imwrite(str(other / f"{stem}.png"), cv2.imread(str(images / f"{stem}.png"))[::-1])
    copy_of(finished, out)
    stopped_run(monkeypatch, weights["one"], other, out, 3)
    assert read_manifest(out)["mixed"]
    assert infer(weights["one"], other, out, "--skip-existing") == 2


def test_an_unreadable_image_stops_the_run_or_is_skipped_with_keep_going(
    weights, images, finished, tmp_path, capsys, reads
) -> None:
    straight, out = finished, tmp_path / "pred"  # the straight run's maps: of these pixels
    images = Path(shutil.copytree(images, tmp_path / "images"))  # to be damaged
    assert infer(weights["one"], images, out) == 0
    original = (images / "c.png").read_bytes()
    (images / "c.png").write_bytes(original[: len(original) // 2])  # header fine, pixels cut
    capsys.readouterr()
    # By default the run stops at c naming it; a and b are written, and the map an earlier
    # run left for c goes: it is not a map of c as it now is.
    assert infer(weights["one"], images, out) == 2
    err = capsys.readouterr().err
    assert "c.png" in err and "the run stopped there" in err and "--keep-going" in err
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png", "d.png", "e.png"]
    assert list(read_manifest(out)["failed"]) == ["c"]
    # --keep-going: c is named and skipped, every other image gets its map, status 2.
    (out / "d.png").unlink()
    assert infer(weights["one"], images, out, "--keep-going") == 2
    said = capsys.readouterr()
    err = said.err
    assert "wrote 4 probability maps" in said.out  # a, b, d, e: not c
    assert "1 input file(s) of --input" in err and "could not be read and got no map: c.png" in err
    maps = {k: v for k, v in tree(out).items() if k != MANIFEST}
    assert maps == {k: v for k, v in tree(straight).items() if k not in (MANIFEST, "c.png")}
    assert "c.png" not in read_manifest(out)["files"] + list(read_manifest(out)["sources"])
    # Once c is fixed, --skip-existing reads c alone and the folder is the straight run's.
    (images / "c.png").write_bytes(original)
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing") == 0
    assert set(reads) == {"c"} and "failed" not in read_manifest(out)
    assert {k: v for k, v in tree(out).items() if k != MANIFEST} == {
        k: v for k, v in tree(straight).items() if k != MANIFEST
    }
