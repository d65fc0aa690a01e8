"""Scoring ``--out`` (with its side file) and ``python -m pmgsam.efficiency --json`` never
replace a file pmgsam did not write, unless ``--overwrite``; a re-run into the same ``--out``
replaces its own files without it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict

import evaluate
from pmgsam.efficiency import cli as efficiency_cli
from pmgsam.efficiency import report as efficiency_report
from pmgsam.utils.outputs import OutputError

S = 16


def _evaluate(argv: list) -> int:
    return evaluate.main([str(a) for a in argv])


def _dis_case(tmp_path: Path) -> list:
    """A perfect map of one GT mask: the DIS scoring arguments, --out left to the caller."""
    mask = np.zeros((S, S), np.uint8)
    mask[4:10, 4:10] = 255
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "a.png"), mask)
    return ["--pred-dir", tmp_path / "pred", "--gt-dir", tmp_path / "gt", "--no-hce", "--quiet"]


def _cos_case(tmp_path: Path) -> list:
    m = np.zeros((S, S), np.uint8)
    m[4:8, 4:8] = 1
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_dict((S, S), [coco_annotation(1, 1, m)])))
    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), m * 255)
    return ["--task", "cos", "--pred-dir", tmp_path / "pred", "--gt-json", gt, "--quiet"]


CASES = {
    "dis": (_dis_case, "scores.per_image.csv"),
    "cos": (_cos_case, "scores.results.json"),
}


@pytest.mark.parametrize("task", CASES)
@pytest.mark.parametrize("mine", ["scores.json", "side"])
def test_scoring_keeps_a_file_of_yours_unless_overwrite(tmp_path: Path, task: str, mine: str):
    make, side = CASES[task]
    args = make(tmp_path)
    out = tmp_path / "res" / "scores.json"
    out.parent.mkdir()
    yours = out.parent / (side if mine == "side" else mine)
    yours.write_text("my notes\n")
    with pytest.raises(OutputError, match="pmgsam did not write them") as err:
        _evaluate([*args, "--out", out])
    assert str(yours) in str(err.value) and "--overwrite" in str(err.value)
    assert yours.read_text() == "my notes\n"
    assert _evaluate([*args, "--out", out, "--overwrite"]) == 0
    assert json.loads(out.read_text())["num_images"] == 1 and yours.read_text() != "my notes\n"


@pytest.mark.parametrize("task", CASES)
def test_scoring_twice_into_one_out_replaces_its_own_files(tmp_path: Path, task: str) -> None:
    make, side = CASES[task]
    args = make(tmp_path)
    out = tmp_path / "scores.json"
    assert _evaluate([*args, "--out", out]) == 0
    (tmp_path / side).write_text("stale\n")  # pmgsam's own side file, from the first run
    assert _evaluate([*args, "--out", out]) == 0
    assert (tmp_path / side).read_text() != "stale\n"


def _fake_timing(monkeypatch) -> list:
    timed: list = []

    def report(*args, **kwargs):
        timed.append(args)
        return {"records": [{"model": "pmgsam_tiny", "images_per_s": 1.0}]}

    monkeypatch.setattr(efficiency_report, "efficiency_report", report)
    monkeypatch.setattr(efficiency_report, "format_report", lambda r: "timed")
    return timed


def test_efficiency_json_keeps_a_file_of_yours_unless_overwrite(tmp_path: Path, monkeypatch):
    timed = _fake_timing(monkeypatch)
    yours = tmp_path / "eff.json"
    yours.write_text("[1, 2]\n")
    argv = ["--model", "pmgsam_tiny", "--device", "cpu", "--json", str(yours)]
    with pytest.raises(OutputError, match="pmgsam did not write them"):
        efficiency_cli.main(argv)
    assert yours.read_text() == "[1, 2]\n" and timed == []  # refused before any timing
    efficiency_cli.main([*argv, "--overwrite"])
    assert json.loads(yours.read_text())[0]["model"] == "pmgsam_tiny"
    efficiency_cli.main(argv)  # now pmgsam's own file: replaced without the flag
    assert len(timed) == 2


def test_a_cos_scoring_refused_claims_no_output_name(tmp_path: Path) -> None:
    # The names were recorded before the maps were read: after a refused scoring the manifest
    # claimed --out and its results file, so a file of the user's put there later was replaced
    # without --overwrite.
    args = _cos_case(tmp_path)
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), np.zeros((S, S + 2), np.uint8))  # wrong size
    out = tmp_path / "res" / "scores.json"
    with pytest.raises(ValueError, match="a.png"):
        _evaluate([*args, "--out", out])
    out.parent.mkdir(exist_ok=True)
    yours = out.parent / "scores.results.json"
    yours.write_text("my notes\n")
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), np.zeros((S, S), np.uint8))
    with pytest.raises(OutputError, match="pmgsam did not write them"):
        _evaluate([*args, "--out", out])
    assert yours.read_text() == "my notes\n"
