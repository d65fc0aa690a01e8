"""Out-of-range options are refused up front with one error naming the option (no NaN, no
ZeroDivisionError, no traceback from deep inside a library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

import evaluate
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.utils.cli import exit_status

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "configs" / "demo.yaml"


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


@pytest.mark.parametrize("images", [",", " , ", ""])
def test_figures_empty_image_list(tmp_path: Path, dis5k_root: Path, capsys, images) -> None:
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["figures", "--runs", tmp_path, "--out", tmp_path / "o", "--images", images]
    argv += ["--config", DEMO, "--split", "DIS-TE1", *data]
    line = refused(analysis_main, argv, "--images", capsys)
    assert "no image name" in line
    assert not (tmp_path / "o").exists()
