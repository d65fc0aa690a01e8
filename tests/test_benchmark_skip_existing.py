"""``evaluate.py`` benchmark mode with ``--skip-existing``: a stopped run resumes with the maps and
scores a straight run gives, opening only the images still without a map, and never keeps (or
predicts beside) maps of other weights."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from cli_cases import evaluate_main
from conftest import load_copies
from map_cases import same_map
from resume_cases import count_reads, load_as, tree, with_other_frozen_weights

from pmgsam.data import datasets as data_module
from pmgsam.data.io import DataError
from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.map_writer import MapWriter
from pmgsam.engine.unreadable import UnreadableInputs
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.modeling import checkpoint as checkpoint_module
from pmgsam.modeling.checkpoint import save_model, weights_digest
from pmgsam.utils.config import from_dict, to_dict
from pmgsam.utils.outputs import MANIFEST, OutputError, read_manifest

S = 64
SPLITS = "DIS-VD,DIS-TE"  # DIS-TE: DIS-TE1..4 predicted part by part, scored as one set
PARTS = ["DIS-VD", "DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def config(checkpoints, dis5k_root, tmp_path_factory) -> Path:
    """The module's experiment file (one path for the module: run.json records it, and the
    module's straight run is compared with the tests' runs); read-only."""
    tmp_path = tmp_path_factory.mktemp("config")
    data = {"dataset": "dis5k", "root": str(dis5k_root), "train_split": "DIS-TR",
            "val_split": "DIS-VD", "test_splits": ["DIS-TE1"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = {"model": to_dict(checkpoints["one"][1].config), "data": data}
    cfg.update(train={"device": "cpu"}, output_dir=str(tmp_path / "unused"))
    from_dict(ExperimentConfig, cfg)
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def split_stem(path: Path) -> str:
    return f"{path.parts[-3]}/{path.stem}"


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """``<split>/<stem>`` counted each time an image's pixels are read (GT masks not counted)."""
    return count_reads(monkeypatch, data_module, ["load_image"], split_stem)


def evaluate(config: Path, weights: Path, run: Path, *extra) -> int:
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--dataset", "dis5k",
            "--splits", SPLITS, "--output-dir", run, "--workers", 1, "--quiet", *extra]  # fmt: skip
    return evaluate_main(argv)


def score(pred: Path, gt: Path, out: Path) -> int:
    """``evaluate.py --pred-dir pred --gt-dir gt --out out`` (DIS scoring mode)."""
    return evaluate_main(["--pred-dir", str(pred), "--gt-dir", str(gt), "--out", str(out),
                          "--workers", "1", "--quiet"])  # fmt: skip


@pytest.fixture(scope="module")
def straight(checkpoints, config, tmp_path_factory, one_thread_module) -> Tuple[Path, Counter]:
    """(run folder, images read): a straight run of weights "one", made once for the module (on
    one thread, as the tests' runs) for the tests to compare theirs with; read-only."""
    run = tmp_path_factory.mktemp("straight") / "run"
    with pytest.MonkeyPatch.context() as mp:  # as conftest's weights and reads, module-wide
        load_copies(mp, checkpoints)
        reads = count_reads(mp, data_module, ["load_image"], split_stem)
        assert evaluate(config, checkpoints["one"][0], run) == 0
    return run, Counter(reads)


def stopped_run(monkeypatch, config: Path, weights: Path, run: Path, maps: int, *extra) -> List:
    """A benchmark run that stops (an OS error) writing its map number ``maps``; the written."""
    real, written = MapWriter.write, []

    def failing(writer, prob, path):
        if len(written) == maps - 1:
            raise OSError(f"could not write prediction '{path}': simulated kill")
        written.append(f"{path.parent.name}/{path.stem}")
        real(writer, prob, path)

    with monkeypatch.context() as patch:
        patch.setattr(MapWriter, "write", failing)
        with pytest.raises(OSError, match="simulated kill"):
            evaluate(config, weights, run, *extra)
    assert len(written) == maps - 1 and not (run / "run.json").exists()
    return written


def maps(run: Path) -> Dict[str, str]:
    return {k: v for k, v in tree(run / "pred").items() if not k.endswith(MANIFEST)}


def scores(run: Path) -> Dict[str, Any]:
    """Every metrics file's content (JSON parsed, CSV as text) and run.json's results."""
    out = {p.name: p.read_text() for p in (run / "metrics").glob("*.csv")}
    out.update({p.name: json.loads(p.read_text()) for p in (run / "metrics").glob("*.json")})
    record = json.loads((run / "run.json").read_text())
    out["run.json"] = {k: v for k, v in record.items() if k != "method"}
    return out


def test_resumed_benchmark_gives_the_straight_runs_maps_and_scores_reading_only_the_missing(
    weights, config, straight, tmp_path, monkeypatch, reads
) -> None:
    (straight, straight_reads), run = straight, tmp_path / "run"
    everything = set(straight_reads)
    assert len(everything) == 10 and set(straight_reads.values()) == {1}
    # Stopped at its 4th map: both DIS-VD maps and one of DIS-TE1 are there (DIS-VD scored).
    written = stopped_run(monkeypatch, config, weights["one"], run, 4)
    assert [w.split("/")[0] for w in written] == ["DIS-VD", "DIS-VD", "DIS-TE1"]
    reads.clear()
    assert evaluate(config, weights["one"], run, "--skip-existing") == 0
    kept = {f"{part}/{stem}" for part, stem in (w.split("/") for w in written)}
    assert set(reads) == everything - kept and set(reads.values()) == {1}
    assert maps(run) == maps(straight)
    assert scores(run) == scores(straight)  # every image scored, as in the straight run
    assert "efficiency" not in json.loads((run / "run.json").read_text())
    for part in PARTS:  # what made the maps: these weights, full precision on the CPU
        producer = read_manifest(run / "pred" / part)["producer"]
        assert producer["weights_sha256"] == weights_digest(weights["one"])
        assert (producer["amp"], producer["maps"]) == ("none", "final")
        assert not read_manifest(run / "pred" / part)["mixed"]
    # Nothing left to predict: no image opened, the same scores again.
    reads.clear()
    assert evaluate(config, weights["one"], run, "--skip-existing") == 0
    assert not reads and scores(run) == scores(straight)


def test_maps_of_other_weights_are_refused_before_anything_is_predicted(
    weights, config, tmp_path, monkeypatch, reads, capsys
) -> None:
    # Stopped in DIS-TE1 with weights "one"; DIS-VD's maps since deleted. Resumed with "other",
    # DIS-TE1 is refused before DIS-VD is predicted again.
    run = tmp_path / "run"
    stopped_run(monkeypatch, config, weights["one"], run, 4)
    for path in (run / "pred" / "DIS-VD").iterdir():
        path.unlink()
    (run / "metrics" / "DIS-VD.json").unlink()
    (run / "metrics" / "DIS-VD.per_image.csv").unlink()
    before = tree(run)
    reads.clear()
    with pytest.raises(OutputError) as err:
        evaluate(config, weights["other"], run, "--skip-existing")
    message = str(err.value)
    assert f"--output-dir '{run / 'pred' / 'DIS-TE1'}' holds maps made by" in message
    assert "differ in weights SHA-256" in message and "never mixes" in message
    assert weights["one"].name in message and weights["other"].name in message
    assert tree(run) == before and not reads


def test_a_checkpoint_without_frozen_digests_is_refused_once_loaded(
    checkpoints, config, tmp_path, monkeypatch, reads
) -> None:
    # Checkpoints from before the frozen branches' SHA-256 were recorded: the loaded model's
    # branches stand in, so other frozen weights under the same checkpoint are refused.
    _, model = checkpoints["one"]
    old = save_model(model, tmp_path / "old.safetensors", frozen_sha256={})
    load_as(monkeypatch, model)
    run = tmp_path / "run"
    stopped_run(monkeypatch, config, old, run, 4)
    assert set(read_manifest(run / "pred" / "DIS-VD")["producer"]["frozen_sha256"]) == {
        "hiera",
        "u2net",
    }
    load_as(monkeypatch, with_other_frozen_weights(model))
    before = tree(run)
    reads.clear()
    with pytest.raises(OutputError, match="frozen branches' SHA-256"):
        evaluate(config, old, run, "--skip-existing")
    assert tree(run) == before and not reads


def test_without_the_flag_every_image_is_predicted_again(
    weights, config, straight, tmp_path, monkeypatch, reads
) -> None:
    (straight, _), run = straight, tmp_path / "run"
    stopped_run(monkeypatch, config, weights["one"], run, 4)
    reads.clear()
    assert evaluate(config, weights["one"], run) == 0
    assert len(reads) == 10 and set(reads.values()) == {1}
    assert maps(run) == maps(straight) and scores(run) == scores(straight)
    # Other weights without the flag: predicted again and recorded as theirs, as before.
    (run / "run.json").unlink()  # (check_same_model would refuse another checkpoint's row)
    reads.clear()
    assert evaluate(config, weights["other"], run) == 0
    assert len(reads) == 10 and maps(run) != maps(straight)
    producer = read_manifest(run / "pred" / "DIS-TE1")["producer"]
    assert producer["weights_sha256"] == weights_digest(weights["other"])
    reads.clear()
    assert evaluate(config, weights["other"], run, "--skip-existing") == 0 and not reads


def test_predict_split_keeps_an_image_only_when_both_its_maps_are_there(
    weights, config, tmp_path, monkeypatch, reads
) -> None:
    # As inference's --premask-out: an image whose Pre-Mask map is missing is predicted again.
    out, pre = tmp_path / "pred", tmp_path / "premask"
    kwargs = {"device": "cpu", "premask_dir": pre, "progress": False}
    inference.predict_split(config, weights["one"], "DIS-TE1", out, **kwargs)
    assert read_manifest(pre)["producer"]["maps"] == "pre_mask"
    first = sorted(p.name for p in pre.glob("*.png"))[0]
    expected = (pre / first).read_bytes()
    (pre / first).unlink()
    reads.clear()
    inference.predict_split(config, weights["one"], "DIS-TE1", out, skip_existing=True, **kwargs)
    assert set(reads) == {f"DIS-TE1/{first[: -len('.png')]}"}
    assert same_map((pre / first).read_bytes(), expected)  # predicted alone, then in a batch
    # Another weights file: refused before its model is built or an image is opened.
    loads = []
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: loads.append(p))
    reads.clear()
    with pytest.raises(OutputError, match="differ in weights SHA-256"):
        inference.predict_split(config, weights["other"], "DIS-TE1", out, skip_existing=True,
                                **kwargs)  # fmt: skip
    assert loads == [] and not reads


def test_the_weights_are_hashed_once_per_run(weights, config, tmp_path, monkeypatch) -> None:
    # Five prediction folders (DIS-VD, DIS-TE1..4): it was hashed once for run.json and once
    # per folder (and once more to check the folders with --skip-existing), gigabytes each time.
    real, hashed = checkpoint_module.file_sha256, []
    monkeypatch.setattr(checkpoint_module, "file_sha256",
                        lambda path: hashed.append(Path(path).resolve()) or real(path))  # fmt: skip
    expected = hashlib.sha256(weights["one"].read_bytes()).hexdigest()
    run = tmp_path / "run"
    for extra in ([], ["--skip-existing"]):
        hashed.clear()
        assert evaluate(config, weights["one"], run, *extra) == 0
        assert hashed.count(weights["one"].resolve()) == 1
        for part in PARTS:  # the one digest is what every folder records
            assert read_manifest(run / "pred" / part)["producer"]["weights_sha256"] == expected
        assert json.loads((run / "run.json").read_text())["meta"]["weights_sha256"] == expected


@pytest.fixture
def copied_data(dis5k_root, config, tmp_path) -> Tuple[Path, Path]:
    """(config, image): a copy of the DIS5K tree that a test may damage, and the first image
    of its DIS-TE1."""
    root = tmp_path / "data"
    shutil.copytree(dis5k_root, root)
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["root"] = str(root)
    path = tmp_path / "copied.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, sorted((root / "DIS-TE1" / "im").iterdir())[0]


def test_an_unreadable_image_stops_the_run_or_is_skipped_with_keep_going(
    weights, copied_data, tmp_path, reads
) -> None:
    config, image = copied_data
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert evaluate(config, weights["one"], straight) == 0
    original = image.read_bytes()
    image.write_bytes(original[: len(original) // 2])  # its header reads, its pixels do not
    bad = f"DIS-TE1/{image.stem}"
    # By default the run stops at it, naming it; DIS-VD's maps (before it) stay.
    with pytest.raises(DataError, match="the run stopped there") as err:
        evaluate(config, weights["one"], run)
    assert image.name in str(err.value) and "--keep-going" in str(err.value)
    assert len(list((run / "pred" / "DIS-VD").glob("*.png"))) == 2
    assert not (run / "pred" / "DIS-TE1" / f"{image.stem}.png").exists()
    # --keep-going: every other image gets its map; the split holding it is not scored.
    with pytest.raises(UnreadableInputs) as err:
        evaluate(config, weights["one"], run, "--keep-going")
    assert list(err.value.failed) == [bad] and "run.json was not written" in str(err.value)
    assert not (run / "pred" / "DIS-TE1" / f"{image.stem}.png").exists()
    assert set(maps(straight)) - set(maps(run)) == {f"DIS-TE1/{image.stem}.png"}
    assert read_manifest(run / "pred" / "DIS-TE1")["failed"].keys() == {image.stem}
    assert not (run / "run.json").exists() and not (run / "metrics" / "DIS-TE1-4.json").exists()
    # Scoring that folder by hand names the missing map; it is never scored as an empty one.
    with pytest.raises(EvaluationInputError, match=rf"1 GT image\(s\) .*{image.stem}\.png"):
        score(run / "pred" / "DIS-TE1", image.parent.parent / "gt", tmp_path / "te1.json")
    # Once it is fixed, --skip-existing predicts only it and scores every image.
    image.write_bytes(original)
    reads.clear()
    assert evaluate(config, weights["one"], run, "--skip-existing") == 0
    assert set(reads) == {bad}
    assert maps(run) == maps(straight) and scores(run) == scores(straight)
    assert "failed" not in read_manifest(run / "pred" / "DIS-TE1")
