"""The up-front checks of every split's map folder (benchmark mode, a baseline row) as
tests/test_split_folders_checked_first.py leaves them open: ``--overwrite``, which their
refusal advises, gets past them (to the model load); the refusal says which of the user's
files the split's maps would replace; and an output folder inside the last split's data folder
is refused before the first split is predicted. Generated DIS5K data; the model loaders stop
the run where they are reached."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, List

import pytest
import yaml
from cli_cases import evaluate_main
from test_split_folders_checked_first import config, foreign_file  # noqa: F401 (config: fixture)

from pmgsam.baselines import row
from pmgsam.data.layouts import list_split
from pmgsam.engine import inference
from pmgsam.utils.config import to_dict
from pmgsam.utils.outputs import OutputError


class ModelReached(Exception):
    """The run got past every folder check to the model load."""


def reached(*args: Any, **kwargs: Any) -> None:
    raise ModelReached


def second_map(dis5k_root: Path, data_config: Any) -> str:
    """The file name of the first map of DIS-TE2."""
    return f"{list_split(data_config('dis5k', dis5k_root), 'DIS-TE2').names[0]}.png"


def benchmark_argv(cfg: Path, run: Path, weights: Path, *extra: str) -> List:
    return ["--config", cfg, "--checkpoint", weights, "--device", "cpu", "--dataset",
            "dis5k", "--splits", "DIS-TE1,DIS-TE2", "--output-dir", run, "--quiet",
            *extra]  # fmt: skip


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"hashed, never loaded")
    return path


def test_benchmark_names_the_map_a_users_file_is_in_the_way_of_and_overwrite_gets_past(
    config: Path,  # noqa: F811
    weights: Path,
    dis5k_root: Path,
    data_config: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inference, "load_hashed", reached)
    monkeypatch.setattr(inference, "load_pretrained", reached)
    run, name = tmp_path / "run", second_map(dis5k_root, data_config)
    second = foreign_file(run / "pred" / "DIS-TE2")
    (second / name).write_bytes(b"the user's")
    with pytest.raises(OutputError, match=rf"2 file.*; 1 of them would be replaced \({name}\)"):
        evaluate_main(benchmark_argv(config, run, weights))
    with pytest.raises(ModelReached):  # the refusal says --overwrite: it must get past it
        evaluate_main(benchmark_argv(config, run, weights, "--overwrite"))
    assert (second / name).read_bytes() == b"the user's"


def copied_test_splits(dis5k_root: Path, tmp_path: Path) -> Path:
    """DIS-TE1 and DIS-TE2 copied: a wrong check would write into the session's data."""
    root = tmp_path / "DIS5K"
    for split in ("DIS-TE1", "DIS-TE2"):
        shutil.copytree(dis5k_root / split, root / split)
    return root


def dis5k_config(root: Path, tmp_path: Path) -> Path:
    data = {"dataset": "dis5k", "root": str(root), "train_split": "DIS-TE1",
            "val_split": None, "test_splits": ["DIS-TE1"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = tmp_path / "dis5k.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"image_size": 64}, "data": data}))
    return cfg


def test_benchmark_refuses_an_output_folder_in_the_last_splits_data_before_the_model(
    weights: Path, dis5k_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copied_test_splits(dis5k_root, tmp_path)
    monkeypatch.setattr(inference, "load_hashed", reached)
    monkeypatch.setattr(inference, "load_pretrained", reached)
    run = root / "DIS-TE2" / "gt" / "run"  # its pred/DIS-TE2 lies in DIS-TE2's GT folder
    with pytest.raises(OutputError, match=r"--output-dir .*DIS-TE2.*gt"):
        evaluate_main(benchmark_argv(dis5k_config(root, tmp_path), run, weights, "--overwrite"))
    assert not run.exists()


def row_argv(cfg: Path, out: Path, checkpoint: Path, *extra: str) -> List[str]:
    return ["--baseline", "sam-box", "--checkpoint", str(checkpoint), "--config", str(cfg),
            "--dataset", "dis5k", "--splits", "DIS-TE1,DIS-TE2", "--device", "cpu",
            "--quiet", "--output-dir", str(out), *extra]  # fmt: skip


def test_a_baseline_row_names_the_map_in_the_way_and_overwrite_gets_past(
    data_config: Any, dis5k_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evaluate

    monkeypatch.setattr(row, "_build", reached)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("dis5k", dis5k_root))}))
    out, name = tmp_path / "row", second_map(dis5k_root, data_config)
    second = foreign_file(out / "pred" / "DIS-TE2")
    (second / name).write_bytes(b"the user's")
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"hashed, never loaded")
    with pytest.raises(OutputError, match=rf"; 1 of them would be replaced \({name}\)"):
        evaluate.main(row_argv(cfg, out, checkpoint))
    with pytest.raises(ModelReached):
        evaluate.main(row_argv(cfg, out, checkpoint, "--overwrite"))
    assert (second / name).read_bytes() == b"the user's"


def test_a_baseline_row_refuses_an_output_folder_in_the_last_splits_data_before_the_model(
    dis5k_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evaluate

    root = copied_test_splits(dis5k_root, tmp_path)
    monkeypatch.setattr(row, "_build", reached)
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"hashed, never loaded")
    out = root / "DIS-TE2" / "gt" / "row"
    with pytest.raises(OutputError, match=r"--output-dir .*DIS-TE2.*gt"):
        evaluate.main(row_argv(dis5k_config(root, tmp_path), out, checkpoint, "--overwrite"))
    assert not out.exists()


def test_premask_names_the_map_a_users_file_is_in_the_way_of(
    tmp_path: Path, dis5k_root: Path, data_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_split_folders_checked_first import premask_argv

    from pmgsam.analysis.__main__ import main as analysis_main

    monkeypatch.setattr(inference, "load_hashed", reached)
    run, name = tmp_path / "run", second_map(dis5k_root, data_config)
    (foreign_file(run / "premask" / "DIS-TE2") / name).write_bytes(b"the user's")
    argv = premask_argv(run, tmp_path, dis5k_root, "DIS-TE1+DIS-TE2")
    with pytest.raises(OutputError, match=rf"; 1 of them would be replaced \({name}\)"):
        analysis_main(argv)
