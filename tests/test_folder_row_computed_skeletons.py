"""A folder-scored DIS row (``evaluate.py --pred-dir --gt-dir --run``) whose HCE used skeletons
computed from the masks (no ``--ske-dir``) records them as benchmark mode does
(:data:`~pmgsam.evaluation.table_gt.COMPUTED_SKELETONS`), so that it is refused beside a row of
the same masks scored against skeleton files (the official ``ske/``): the two HCEs differ. A
``--no-hce`` row records no skeletons (no HCE to check)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.evaluation.run_json import load_runs
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import build_tables
from tests.cli_cases import evaluate_main

ZERO = "0" * 64  # the sum modulo 2**256 of no skeleton file's digest


def _folder(path: Path, value: int) -> Path:
    path.mkdir(parents=True)
    for i in range(2):
        image = np.zeros((16, 16), np.uint8)
        image[2 : 9 + i, 3:12] = value
        cv2.imwrite(str(path / f"a{i}.png"), image)
    return path


def _score(tmp_path: Path, name: str, *extra: object) -> dict:
    run = tmp_path / name
    argv = ["--pred-dir", tmp_path / "pred", "--gt-dir", tmp_path / "gt",
            "--out", run / "metrics" / "DIS-TE1.json", "--workers", 1, "--quiet",
            "--run", run, "--split", "DIS-TE1", "--method", name, *extra]  # fmt: skip
    assert evaluate_main(argv) == 0
    return load_runs([run])[0]


def test_computed_skeletons_are_recorded_and_refused_beside_official_ones(tmp_path) -> None:
    _folder(tmp_path / "pred", 200)
    _folder(tmp_path / "gt", 255)
    ske = _folder(tmp_path / "ske", 255)  # skeleton files, as DIS5K's ske/
    computed = _score(tmp_path, "Computed")
    official = _score(tmp_path, "Official", "--ske-dir", ske)
    no_hce = _score(tmp_path, "NoHCE", "--no-hce")
    records = [r["dis"]["DIS-TE1"]["ground_truth"] for r in (computed, official, no_hce)]
    assert records[0]["skeletons"] == ZERO
    assert records[1]["skeletons"] != ZERO
    assert "skeletons" not in records[2]
    assert len({r["fingerprint"] for r in records}) == 1  # the same masks
    with pytest.raises(EvaluationInputError, match="different GT skeletons") as err:
        build_tables([computed, official])
    assert "Computed" in str(err.value) and "Official" in str(err.value)
    # Without HCE a row has nothing to differ in: it shares the column with either.
    build_tables([computed, no_hce])
    build_tables([official, no_hce])
