"""Commands that predict split after split (benchmark mode, a baseline row, premask of a combined
split) check every split's map folder before the model loads: a file of the user's (or a map
edited since pmgsam wrote it) in the last split's folder is refused before the first split is
predicted. premask's --overwrite lets it predict into such folders, as its refusal says.

Generated DIS5K data; the model loaders fail loudly if called."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, List

import pytest
import yaml
from cli_cases import evaluate_main
from premask_cases import fake_predict_split
from test_analysis import DEMO

from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.baselines import row
from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import from_dict, to_dict
from pmgsam.utils.outputs import MANIFEST, OutputError

FOREIGN = "already holds 1 file(s) this tool did not write (notes.txt)"


def no_model(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the model was built before every split's folder was checked")


def foreign_file(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.fixture
def config(dis5k_root: Path, tmp_path: Path) -> Path:
    data = {"dataset": "dis5k", "root": str(dis5k_root), "train_split": "DIS-TR",
            "val_split": "DIS-VD", "test_splits": ["DIS-TE1"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    model = {"image_size": 64}
    cfg = {"model": model, "data": data, "train": {"device": "cpu"}}
    cfg["output_dir"] = str(tmp_path / "unused")
    from_dict(ExperimentConfig, cfg)
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_benchmark_refuses_the_last_splits_folder_before_predicting_the_first(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "load_hashed", no_model)
    monkeypatch.setattr(inference, "load_pretrained", no_model)
    run = tmp_path / "run"
    second = foreign_file(run / "pred" / "DIS-TE2")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not read: refused first")
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--dataset",
            "dis5k", "--splits", "DIS-TE1,DIS-TE2", "--output-dir", run, "--quiet"]  # fmt: skip
    with pytest.raises(OutputError) as err:
        evaluate_main(argv)
    assert f"--output-dir '{second}' {FOREIGN}" in str(err.value)
    assert "pass --overwrite" in str(err.value)
    assert sorted(p.name for p in run.iterdir()) == ["pred"]
    assert [p.name for p in (run / "pred").iterdir()] == ["DIS-TE2"]


def test_benchmark_refuses_an_edited_map_of_the_last_split_first(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tool's own folder, finished, with one map edited by hand since: the same refusal
    # predict_split gives once there, given before the first split is predicted.
    monkeypatch.setattr(inference, "load_hashed", no_model)
    run, weights = tmp_path / "run", tmp_path / "w.safetensors"
    weights.write_bytes(b"not read")
    second = run / "pred" / "DIS-TE2"
    second.mkdir(parents=True)
    (second / "a.png").write_bytes(b"map")
    record = {"format": "pmgsam-outputs", "files": ["a.png"], "map_identities": {"a.png": [1, 1]}}
    (second / MANIFEST).write_text(json.dumps(record))
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--dataset",
            "dis5k", "--splits", "DIS-TE1,DIS-TE2", "--output-dir", run, "--quiet"]  # fmt: skip
    with pytest.raises(OutputError, match=r"holds 1 map\(s\) changed since pmgsam wrote them"):
        evaluate_main(argv)
    assert not (run / "pred" / "DIS-TE1").exists()


def test_a_baseline_row_refuses_the_last_splits_folder_before_building_its_model(
    data_config: Any, dis5k_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evaluate

    monkeypatch.setattr(row, "_build", no_model)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("dis5k", dis5k_root))}))
    out = tmp_path / "row"
    second = foreign_file(out / "pred" / "DIS-TE2")
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"not read: refused first")
    argv = ["--baseline", "sam-box", "--checkpoint", str(checkpoint), "--config", str(cfg),
            "--dataset", "dis5k", "--splits", "DIS-TE1,DIS-TE2", "--device", "cpu",
            "--quiet", "--output-dir", str(out)]  # fmt: skip
    with pytest.raises(OutputError) as err:
        evaluate.main(argv)
    assert f"--output-dir '{second}' {FOREIGN}" in str(err.value)
    assert [p.name for p in (out / "pred").iterdir()] == ["DIS-TE2"]


def premask_argv(run: Path, tmp_path: Path, dis5k_root: Path, split: str, *extra: str) -> List:
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not read")
    return ["premask", "--run", str(run), "--checkpoint", str(weights), "--config", str(DEMO),
            "--split", split, "--quiet", f"data.root={dis5k_root}",
            f"data.split_dir={tmp_path / 'splits'}", *extra]  # fmt: skip


def test_premask_refuses_the_last_parts_folder_before_predicting_the_first(
    tmp_path: Path, dis5k_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "load_hashed", no_model)
    run = tmp_path / "run"
    last = foreign_file(run / "premask" / "DIS-TE2")
    with pytest.raises(OutputError) as err:
        analysis_main(premask_argv(run, tmp_path, dis5k_root, "DIS-TE1+DIS-TE2"))
    message = str(err.value)
    assert f"--run's Pre-Mask map folder '{last}' {FOREIGN}" in message
    assert "pass --overwrite" in message
    assert not (run / "pred").exists() and not (run / "premask" / "DIS-TE1").exists()


def test_premask_overwrite_lets_it_predict_beside_a_file_of_the_users(
    tmp_path: Path, dis5k_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refusal says "pass --overwrite": premask's own --overwrite must then do it.
    calls = fake_predict_split(monkeypatch, dis5k_root, lambda ckpt, kwargs: kwargs["overwrite"])
    run = tmp_path / "run"
    foreign_file(run / "pred" / "DIS-TE1")
    argv = premask_argv(run, tmp_path, dis5k_root, "DIS-TE1")
    with pytest.raises(OutputError, match=f"--run's final map folder .* {re.escape(FOREIGN)}"):
        analysis_main(argv)
    assert calls == []
    assert analysis_main([*argv, "--overwrite"]) == 0
    assert calls == [True]
    assert (run / "pred" / "DIS-TE1" / "notes.txt").read_text() == "mine"
    assert (run / "analysis" / "premask_DIS-TE1" / "table5.md").is_file()
