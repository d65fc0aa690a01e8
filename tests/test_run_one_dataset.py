"""One run.json row, one copy of a dataset: adding splits read from another data root (a cleaned
copy of DIS5K) to a row is refused, naming both roots, as the row's Overall (TE1-4) would pool
the two; the same data moved, or reached by another path, or a row of an older pmgsam, is
accepted. Benchmark mode, baseline mode (the same check) and folder-scored rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.config import from_dict, to_dict
from tests.cli_cases import evaluate_main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(dis5k_root, tmp_path) -> Path:
    """A copy of the synthetic DIS5K that a test may move or delete."""
    return Path(shutil.copytree(dis5k_root, tmp_path / "data" / "DIS5K"))


@pytest.fixture
def config(checkpoints, data, tmp_path) -> Path:
    cfg = {"model": to_dict(checkpoints["one"][1].config), "train": {"device": "cpu"},
           "data": {"dataset": "dis5k", "root": str(data), "num_workers": 0,
                    "split_dir": str(tmp_path / "splits")},
           "output_dir": str(tmp_path / "unused")}  # fmt: skip
    from_dict(ExperimentConfig, cfg)
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def bench(config: Path, weights: Path, run: Path, splits: str, root: Path) -> int:
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--dataset", "dis5k",
            "--splits", splits, "--output-dir", run, "--data-root", root, "--workers", 1,
            "--quiet", "--no-hce"]  # fmt: skip
    return evaluate_main(argv)


def cleaned_copy(data: Path, to: Path, split: str = "DIS-TE1") -> Path:
    """A copy of ``data`` whose first GT mask of ``split`` was redrawn (a cleaned copy)."""
    copy = Path(shutil.copytree(data, to))
    mask = sorted((copy / split / "gt").iterdir())[0]
    pixels = np.asarray(Image.open(mask).convert("L")).copy()
    pixels[: pixels.shape[0] // 2] = 255 - pixels[: pixels.shape[0] // 2]
    Image.fromarray(pixels).save(mask)
    return copy


def test_benchmark_refuses_splits_of_another_data_root(config, weights, data, tmp_path):
    run = tmp_path / "run"
    assert bench(config, weights["one"], run, "DIS-TE2,DIS-TE3", data) == 0
    other = cleaned_copy(data, tmp_path / "other" / "DIS5K")
    with pytest.raises(EvaluationInputError) as err:
        bench(config, weights["one"], run, "DIS-TE1", other)
    message = str(err.value)
    assert str(data.resolve()) in message and str(other.resolve()) in message
    assert "DIS-TE2, DIS-TE3" in message and "--output-dir" in message
    assert not (run / "pred" / "DIS-TE1").exists()  # refused before predicting
    assert set(json.loads((run / "run.json").read_text())["dis"]) == {"DIS-TE2", "DIS-TE3"}
    # Scoring every split of the row again from the other root replaces the row: accepted.
    assert bench(config, weights["one"], run, "DIS-TE1,DIS-TE2,DIS-TE3", other) == 0
    dis = json.loads((run / "run.json").read_text())["dis"]
    assert {e["data_root"]["resolved"] for e in dis.values()} == {str(other.resolve())}


def test_benchmark_accepts_moved_or_copied_data(config, weights, data, tmp_path):
    run = tmp_path / "run"
    assert bench(config, weights["one"], run, "DIS-TE2,DIS-TE3", data) == 0
    # A copy beside it holding the same DIS-TE2 (scored in both): the same data.
    copy = Path(shutil.copytree(data, tmp_path / "copy" / "DIS5K"))
    assert bench(config, weights["one"], run, "DIS-TE1,DIS-TE2", copy) == 0
    # A copy whose DIS-TE2 masks were redrawn is other data, although DIS-TE2 is scored in both.
    cleaned = cleaned_copy(data, tmp_path / "cleaned" / "DIS5K", "DIS-TE2")
    with pytest.raises(EvaluationInputError, match="DIS-TE3"):
        bench(config, weights["one"], run, "DIS-TE2", cleaned)
    # The data moved (its old folder gone): the same command goes on from the new place.
    moved = data.rename(tmp_path / "moved")
    shutil.rmtree(copy.parent)
    assert bench(config, weights["one"], run, "DIS-TE4", moved) == 0
    # The same folder by another path (a symbolic link to it).
    link = tmp_path / "link"
    link.symlink_to(moved, target_is_directory=True)
    assert bench(config, weights["one"], run, "DIS-TE1", link) == 0
    row = json.loads((run / "run.json").read_text())["dis"]
    assert set(row) == {"DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"}


def test_row_of_an_older_pmgsam_is_not_compared(config, weights, data, tmp_path):
    run = tmp_path / "run"
    assert bench(config, weights["one"], run, "DIS-TE2", data) == 0
    path = run / "run.json"
    row = json.loads(path.read_text())
    assert row["dis"]["DIS-TE2"]["data_root"] == {
        "dataset": "dis5k", "root": str(data), "resolved": str(data.resolve())
    }  # fmt: skip
    del row["dis"]["DIS-TE2"]["data_root"]  # as written before the record
    path.write_text(json.dumps(row))
    other = cleaned_copy(data, tmp_path / "other" / "DIS5K")
    assert bench(config, weights["one"], run, "DIS-TE1", other) == 0


def _folder_score(run: Path, split: str, gt: Path, out: Path) -> int:
    # The GT masks themselves as the maps: any maps do, the check is of where the GT lies.
    argv = ["--pred-dir", gt, "--gt-dir", gt, "--out", out, "--run", run, "--split", split,
            "--workers", 1, "--quiet", "--no-hce"]  # fmt: skip
    return evaluate_main(argv)


def test_folder_row_refuses_gt_of_another_dis5k_copy(data, tmp_path):
    run, out = tmp_path / "isnet", tmp_path / "scores"
    assert _folder_score(run, "DIS-TE2", data / "DIS-TE2" / "gt", out / "te2.json") == 0
    assert _folder_score(run, "DIS-TE3", data / "DIS-TE3" / "gt", out / "te3.json") == 0
    other = cleaned_copy(data, tmp_path / "other" / "DIS5K")
    with pytest.raises(EvaluationInputError) as err:
        _folder_score(run, "DIS-TE1", other / "DIS-TE1" / "gt", out / "te1.json")
    message = str(err.value)
    assert str(data.resolve()) in message and str(other.resolve()) in message
    assert (out / "te1.json").is_file()  # the scores are kept where --out wrote them
    assert "DIS-TE1" not in json.loads((run / "run.json").read_text())["dis"]
    # Scored again with the same GT from the other copy (the same masks): accepted.
    assert _folder_score(run, "DIS-TE2", other / "DIS-TE2" / "gt", out / "te2b.json") == 0


def test_folder_row_accepts_moved_dis5k(data, tmp_path):
    run, out = tmp_path / "isnet", tmp_path / "scores"
    assert _folder_score(run, "DIS-TE2", data / "DIS-TE2" / "gt", out / "te2.json") == 0
    moved = data.rename(tmp_path / "moved")
    assert _folder_score(run, "DIS-TE1", moved / "DIS-TE1" / "gt", out / "te1.json") == 0
    assert set(json.loads((run / "run.json").read_text())["dis"]) == {"DIS-TE1", "DIS-TE2"}
    # The row's data is now the moved folder: a cleaned copy beside it is other data.
    other = cleaned_copy(moved, tmp_path / "other" / "DIS5K", "DIS-TE3")
    # DIS-TE2's recorded root is gone (moved): only DIS-TE1 is of the moved folder still there.
    with pytest.raises(EvaluationInputError, match=r"scores \(DIS-TE1\) against GT under"):
        _folder_score(run, "DIS-TE3", other / "DIS-TE3" / "gt", out / "te3.json")


def _baseline(config: Path, run: Path, root: Path, tmp_path: Path) -> int:
    checkpoint = tmp_path / "sam_vit_b.pth"
    checkpoint.touch()  # never read: the runs below stop before the model is hashed
    argv = ["--baseline", "sam-box", "--checkpoint", checkpoint, "--config", config,
            "--dataset", "dis5k", "--splits", "DIS-TE1", "--data-root", root,
            "--output-dir", run, "--device", "cpu", "--quiet", "--speed-iters", 0]  # fmt: skip
    return evaluate_main(argv)


def test_baseline_row_refuses_another_data_root(config, data, tmp_path, monkeypatch):
    from pmgsam.baselines import row

    class Passed(Exception):
        pass

    def passed(*args):
        raise Passed

    monkeypatch.setattr(row, "_producer", passed)  # the next step after the data check
    run = tmp_path / "sam-box"
    run.mkdir()
    entry = {"maxFm": 0.5, "num_images": 8, "data_root": {"dataset": "dis5k", "root": str(data),
             "resolved": str(data.resolve())}}  # fmt: skip
    (run / "run.json").write_text(json.dumps({"method": "SAM", "dis": {"DIS-TE2": entry}}))
    other = cleaned_copy(data, tmp_path / "other" / "DIS5K")
    with pytest.raises(EvaluationInputError) as err:
        _baseline(config, run, other, tmp_path)
    assert str(data.resolve()) in str(err.value) and str(other.resolve()) in str(err.value)
    moved = data.rename(tmp_path / "moved")
    with pytest.raises(Passed):
        _baseline(config, run, moved, tmp_path)
