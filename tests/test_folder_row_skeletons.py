"""A folder-scored DIS row (``evaluate.py --pred-dir --gt-dir --ske-dir --run``) records its
HCE skeleton files in the ``ground_truth`` record, as benchmark mode does, so two rows of the
same masks whose HCE was measured against other skeletons cannot share a column."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.evaluation.run_json import load_runs
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import build_tables
from tests.cli_cases import evaluate_main


def _folder(path: Path, value: int, top: int = 2) -> Path:
    path.mkdir(parents=True)
    for i in range(2):
        image = np.zeros((16, 16), np.uint8)
        image[top : 9 + i, 3:12] = value
        cv2.imwrite(str(path / f"a{i}.png"), image)
    return path


def _score(tmp_path: Path, run: Path, ske: Path) -> None:
    argv = ["--pred-dir", tmp_path / "pred", "--gt-dir", tmp_path / "gt", "--ske-dir", ske,
            "--out", run / "metrics" / "DIS-TE1.json", "--workers", 1, "--quiet",
            "--run", run, "--split", "DIS-TE1", "--method", run.name]  # fmt: skip
    assert evaluate_main(argv) == 0


def test_a_folder_row_records_its_skeletons_and_other_skeletons_are_refused(tmp_path):
    _folder(tmp_path / "pred", 200)
    _folder(tmp_path / "gt", 255)
    ske_a = _folder(tmp_path / "ske_a", 255)
    ske_b = _folder(tmp_path / "ske_b", 255, top=5)  # other skeletons, same masks
    _score(tmp_path, tmp_path / "A", ske_a)
    _score(tmp_path, tmp_path / "B", ske_b)
    runs = load_runs([tmp_path / "A", tmp_path / "B"])
    record = runs[0]["dis"]["DIS-TE1"]["ground_truth"]
    by_hand = sum(
        int.from_bytes(hashlib.sha256(f"a{i}".encode() + b"\0" + p.read_bytes()).digest(), "big")
        for i, p in enumerate(sorted(ske_a.iterdir()))
    )
    assert record["skeletons"] == f"{by_hand % 2**256:064x}"
    with pytest.raises(EvaluationInputError, match="different GT skeletons"):
        build_tables(runs)
