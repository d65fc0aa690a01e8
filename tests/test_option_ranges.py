"""Out-of-range options are refused up front with one error naming the option (no NaN, no
ZeroDivisionError, no traceback from deep inside a library)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import pytest
import torch

import evaluate
from pmgsam import ablate, report
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.data import synthetic
from pmgsam.efficiency.cli import main as efficiency_main
from pmgsam.engine import inference
from pmgsam.engine.distributed import resolve_device
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "configs" / "demo.yaml"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch) -> None:
    """Relative paths in the argv lists below land in the test's folder, should one be made."""
    monkeypatch.chdir(tmp_path)


def refused(main: Any, argv: List[Any], option: str, capsys) -> str:
    """Exit status 2 and an error line naming ``option``, no traceback; returns the line."""
    assert exit_status(main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and option in line[0], err
    return line[0]


COS = ["--task", "cos", "--pred-dir", "p", "--gt-json", "g.json", "--out", "o.json"]


@pytest.mark.parametrize(
    "option, value",
    [
        ("--threshold", "1.5"),
        ("--threshold", "-0.1"),
        ("--threshold", "nan"),
        ("--min-area", "-1"),
    ],  # fmt: skip
)
def test_evaluate_cos_ranges(tmp_path: Path, capsys, option: str, value: str) -> None:
    refused(evaluate.main, [*COS, option, value], option, capsys)


OVERLAP = ["overlap", "--gt-json", "g.json", "--name", "X", "--out", "o"]
PREMASK = ["premask", "--run", "r", "--config", DEMO, "--split", "DIS-TE1"]
FIGURES = ["figures", "--runs", "r", "--out", "o", "--config", DEMO, "--split", "DIS-TE1"]


@pytest.mark.parametrize(
    "argv, option, value",
    [
        (OVERLAP, "--touch-distance", "-1"),
        (OVERLAP, "--threshold", "2"),
        (OVERLAP, "--min-area", "-3"),
        (PREMASK, "--pre-threshold", "nan"),
        (PREMASK, "--pre-threshold", "1.01"),
        (PREMASK, "--final-threshold", "-1"),
        (FIGURES, "--num", "0"),
        (FIGURES, "--width", "0"),
        (FIGURES, "--width", "inf"),
        (FIGURES, "--dpi", "-5"),
        (FIGURES, "--worst", "-1"),
    ],
)
def test_analysis_ranges(capsys, argv: List[Any], option: str, value: str) -> None:
    refused(analysis_main, [*argv, option, value], option, capsys)


# An empty --images is refused at parse time (test_empty_values.py).
@pytest.mark.parametrize("images", [",", " , "])
def test_figures_empty_image_list(tmp_path: Path, dis5k_root: Path, capsys, images) -> None:
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["figures", "--runs", tmp_path, "--out", tmp_path / "o", "--images", images]
    argv += ["--config", DEMO, "--split", "DIS-TE1", *data]
    line = refused(analysis_main, argv, "--images", capsys)
    assert "no image name" in line
    assert not (tmp_path / "o").exists()


# --- devices: auto, cpu, cuda, cuda:N only (torch parses meta, mps, ... which fail later) ---
BAD_DEVICES = ["meta", "mps", "tpu", "cpu:abc", "cuda:x", "cuda:-1", "xla", "", "CPU"]


@pytest.mark.parametrize("name", BAD_DEVICES)
def test_resolve_device_refuses_other_devices(name: str) -> None:
    with pytest.raises(ConfigError, match=f"--device={name} is not a device"):
        resolve_device(name, option="--device")


def test_resolve_device_accepts_ours() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="--device=cuda:99 but"):
        resolve_device("cuda:99", option="--device")  # no CUDA, or fewer than 100 GPUs


INFER = ["--checkpoint", "c", "--input", "i", "--out", "o"]
BENCH = ["--config", DEMO, "--checkpoint", "c", "--dataset", "dis5k", "--splits", "DIS-TE1"]
ABLATE = ["--grid", REPO / "configs" / "ablations", "--output-dir", "o"]


@pytest.mark.parametrize("name", ["meta", "mps", "tpu", "cpu:abc"])
@pytest.mark.parametrize(
    "main, argv",
    [
        (inference.main, INFER),
        (evaluate.main, BENCH),
        (ablate.main, ABLATE),
        (analysis_main, PREMASK),
        (efficiency_main, []),
    ],  # fmt: skip
    ids=["inference", "evaluate", "ablate", "premask", "efficiency"],
)
def test_clis_refuse_other_devices(capsys, main: Any, argv: List[Any], name: str) -> None:
    line = refused(main, [*argv, "--device", name], "--device", capsys)
    assert f"{name!r} is not a device (use auto, cpu, cuda or cuda:N)" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_ablate_checks_device_before_skipping_scored_configs(tmp_path: Path, capsys) -> None:
    argv = ["--grid", REPO / "configs" / "ablations", "--output-dir", tmp_path, "--evaluate"]
    line = refused(ablate.main, [*argv, "--device", "cuda"], "--device=cuda", capsys)
    assert "CUDA is not available" in line


@pytest.mark.parametrize("only", [",", "baim_n1,baim_n1"])
def test_ablate_only_needs_distinct_names(tmp_path: Path, capsys, only: str) -> None:
    # "," ran nothing and still wrote the (empty) tables; a repeated name ran its row twice.
    line = refused(ablate.main, [*ABLATE[:3], tmp_path / "o", "--only", only], "--only", capsys)
    assert repr(only) in line
    assert not (tmp_path / "o").exists()


# --- python -m pmgsam.data.synthetic: bounded, so a typo cannot fill the disk or memory ---
@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--seed", "-1", "must be at least 0"),
        ("--size", "99999999x99999999", "at most 4096x4096"),
        ("--size", "48x5000", "at most 4096x4096"),
        ("--num", "99999999999999999999", "at most 100000"),
        ("--num", "100001", "at most 100000"),
    ],  # fmt: skip
)
def test_synthetic_bounds(tmp_path: Path, capsys, option: str, value: str, words: str) -> None:
    argv = ["--layout", "cod10k", "--out", tmp_path / "d", "--no-progress", option, value]
    assert words in refused(synthetic.main, argv, option, capsys)
    assert not (tmp_path / "d").exists()


def test_generate_refuses_a_negative_seed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed must be non-negative"):
        synthetic.generate("dis5k", tmp_path, num=2, seed=-1)


# --- evaluate.py --baseline: the model side the SAM / SAM2 backbones can take ---
@pytest.mark.parametrize(
    "baseline, side, step",
    [
        ("sam-box", 7, 16),
        ("sam-auto", 40, 16),
        ("esam", 8, 16),
        ("sam2-box", 48, 32),
        ("sam2-auto", 80, 32),
    ],  # fmt: skip
)
def test_baseline_model_image_size(capsys, baseline: str, side: int, step: int) -> None:
    argv = ["--baseline", baseline, *BENCH, "--model-image-size", side]
    line = refused(evaluate.main, argv, "--model-image-size", capsys)
    assert f"multiple of {step}" in line and f"got {side}" in line


# --- evaluate.py: --ske-dir must exist; --splits non-empty, no repeats, all known up front ---
def test_evaluate_missing_ske_dir(tmp_path: Path, capsys) -> None:
    for name in ("pred", "gt"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.png").write_bytes(b"")  # never read: refused before scoring
    out = tmp_path / "m.json"
    argv = ["--pred-dir", tmp_path / "pred", "--gt-dir", tmp_path / "gt", "--out", out]
    line = refused(evaluate.main, [*argv, "--ske-dir", tmp_path / "nope"], "--ske-dir", capsys)
    assert "does not exist" in line and not out.exists()
    (tmp_path / "file").write_text("x")
    line = refused(evaluate.main, [*argv, "--ske-dir", tmp_path / "file"], "--ske-dir", capsys)
    assert "is not a folder" in line


@pytest.mark.parametrize(
    "splits, words",
    [
        (",", "no name in ','"),
        (" , ,", "no name"),
        ("DIS-VD,DIS-VD", "DIS-VD given more than once"),
    ],  # fmt: skip
)
def test_benchmark_split_lists(tmp_path: Path, capsys, splits: str, words: str) -> None:
    argv = [*BENCH[:-1], splits, "--output-dir", tmp_path / "run"]
    assert words in refused(evaluate.main, argv, "--splits", capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("splits", ["DIS-TE1+DIS-XX", "DIS-TE1,DIS-XX", "DIS-TE1,DIS-TE2+DIS-XX"])
def test_benchmark_checks_every_split_before_predicting(
    tmp_path: Path, dis5k_root: Path, monkeypatch, capsys, splits: str
) -> None:
    predicted: List[str] = []
    monkeypatch.setattr(inference, "predict_split", lambda *a, **k: predicted.append(a[2]))
    argv = [*BENCH[:-1], splits, "--output-dir", tmp_path / "run", "--data-root", dis5k_root]
    argv.append(f"data.split_dir={tmp_path / 'splits'}")
    assert "DIS-XX" in refused(evaluate.main, argv, "DIS-XX", capsys)
    assert predicted == [] and not (tmp_path / "run").exists()


# --- python -m pmgsam.report: no two rows that look the same, no empty --splits ---
def _run(folder: Path, method: str | None) -> Path:
    folder.mkdir(parents=True)
    data = {"dis": {"DIS-TE1": {"maxFm": 0.5}}, **({"method": method} if method else {})}
    (folder / "run.json").write_text(json.dumps(data))
    return folder


def test_report_refuses_rows_that_look_the_same(tmp_path: Path, capsys) -> None:
    a, b = _run(tmp_path / "a", "Ours"), _run(tmp_path / "b", "Ours")
    line = refused(report.main, [a, b, "--out", tmp_path / "t"], str(a), capsys)
    assert str(b) in line and "both have the method name 'Ours'" in line and "rename" in line
    line = refused(report.main, [a, a / "run.json", "--out", tmp_path / "t"], str(a), capsys)
    assert "are the same run" in line
    same = _run(tmp_path / "x" / "Ours", None)  # the folder name is the method
    line = refused(report.main, [a, same, "--out", tmp_path / "t"], str(same), capsys)
    assert "method name 'Ours'" in line
    assert not (tmp_path / "t").exists()
    other = _run(tmp_path / "c", "Other")
    assert exit_status(report.main, [a, other, "--out", tmp_path / "t"]) == 0


@pytest.mark.parametrize("splits", [",", "DIS-TE1,DIS-TE1"])
def test_report_split_list(tmp_path: Path, capsys, splits: str) -> None:
    argv = [_run(tmp_path / "a", "Ours"), "--out", tmp_path / "t", "--splits", splits]
    refused(report.main, argv, "--splits", capsys)
    assert not (tmp_path / "t").exists()


def test_report_names_the_splits_no_run_has(tmp_path: Path, capsys) -> None:
    a = _run(tmp_path / "a", "Ours")  # DIS-TE1 only
    argv = [a, "--out", tmp_path / "t", "--splits", "DIS-TE5"]
    line = refused(report.main, argv, "--splits", capsys)
    assert "no run has DIS-TE5; the runs have DIS-TE1" in line and str(a) in line
    # One missing group among scored ones is named too (it used to vanish from the table).
    argv[-1] = "DIS-TE1,DIS-VD"
    assert "no run has DIS-VD; the runs have DIS-TE1" in refused(
        report.main, argv, "--splits", capsys
    )
    assert not (tmp_path / "t").exists()
    argv[-1] = "DIS-TE1"
    assert exit_status(report.main, argv) == 0
