"""Which row a Pre-Mask analysis score lands in: Table 5 lists the priors, then the Pre-Mask,
then the final mask (the paper's order, prior -> Pre-Mask -> result), whatever order the sources
are given in, each with its own scores; per_image.csv's rows pair names and maps by position."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.analysis.premask import FINAL, PREMASK, analyse


def _write(folder: Path, image: np.ndarray) -> list:
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), image)
    return [folder / "a.png"]


def test_table5_lists_priors_then_the_premask_then_the_final_mask(tmp_path) -> None:
    # GT: the left 4 of 8 columns. Final map covers all 4 (IoU 1), the prior 3 (IoU 0.75),
    # the Pre-Mask 2 (IoU 0.5).
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    prior, pre = np.zeros_like(gt), np.zeros_like(gt)
    prior[:, :3] = 255
    pre[:, :2] = 255
    gts = _write(tmp_path / "gt", gt)
    # Given final first and the prior between the model's maps.
    sources = {
        FINAL: _write(tmp_path / "final", gt),
        "CLIPSeg": _write(tmp_path / "prior", prior),
        PREMASK: _write(tmp_path / "pre", pre),
    }
    summary = analyse(["a"], gts, sources, tmp_path / "out", figure_size=(1, 1), progress=False)
    assert list(summary["means"]) == ["CLIPSeg", PREMASK, FINAL]
    with (tmp_path / "out" / "table5.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["method", "IoU↑"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("CLIPSeg", "0.750"),
        (PREMASK, "0.500"),
        (FINAL, "1.000"),
    ]
    md = (tmp_path / "out" / "table5.md").read_text(encoding="utf-8")
    methods = [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("| ")]
    assert methods == ["Method", "CLIPSeg", PREMASK, FINAL]


def test_a_name_list_other_than_the_gts_is_refused_not_cut_short(tmp_path) -> None:
    # Rows pair names and scores by position: one name short would drop the last image's row
    # from per_image.csv while the means still count it.
    gt = np.zeros((4, 8), np.uint8)
    gts = _write(tmp_path / "gt", gt) * 2
    maps = _write(tmp_path / "m", gt) * 2
    with pytest.raises(ValueError, match="^1 image names for 2 GT masks$"):
        analyse(["a"], gts, {PREMASK: maps, FINAL: maps}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_prior_without_a_name_or_folder_is_refused(tmp_path, monkeypatch) -> None:
    from pmgsam.analysis.premask import parse_prior
    from pmgsam.utils.config import ConfigError

    monkeypatch.chdir(tmp_path)  # "clip=" must not read the current folder as the prior's
    for text in ("clip=", "=maps", " =maps"):
        with pytest.raises(ConfigError, match=rf"^--prior-dir '{text}': expected NAME=DIR or DIR"):
            parse_prior(text)
    # A folder whose path holds '=' is still a folder, named after itself.
    (tmp_path / "run=3" / "maps").mkdir(parents=True)
    assert parse_prior(str(tmp_path / "run=3" / "maps")) == ("maps", tmp_path / "run=3" / "maps")
    assert parse_prior(f"c={tmp_path / 'run=3'}") == ("c", tmp_path / "run=3")
