"""The four DIS test subsets scored as one set carry one name in every tool: ``DIS-TE1-4``, as
evaluate.py and pmgsam.ablate store it (metrics/DIS-TE1-4.json) and the paper's ablations call
it, whether the split was given as ``DIS-TE`` or as its four parts joined by '+'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from test_analysis import DEMO, _fake_run

from pmgsam.analysis import figures
from pmgsam.analysis.__main__ import main

PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _run_of_all_parts(tmp_path: Path, dis5k_root: Path) -> Path:
    for part in PARTS:
        stems = {p.stem for p in (dis5k_root / part / "gt").glob("*.png")}
        run = _fake_run(tmp_path, dis5k_root, part, "Ours", stems)
    return run


def _data(tmp_path: Path, dis5k_root: Path) -> List[str]:
    return [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}", "--quiet"]


@pytest.mark.parametrize("split", ["DIS-TE", "+".join(PARTS)])
def test_premask_names_the_set_as_ablate_and_evaluate_do(
    tmp_path, dis5k_root, monkeypatch, split
) -> None:
    from pmgsam.analysis import plots

    monkeypatch.setattr(plots, "quality_scatter", lambda *a, **k: None)  # not under test
    run = _run_of_all_parts(tmp_path, dis5k_root)
    args = ["premask", "--run", str(run), "--config", str(DEMO), "--split", split]
    assert main(args + _data(tmp_path, dis5k_root)) == 0
    # It used to be premask_DIS-TE/, titled "(DIS-TE)", beside ablate's "DIS-TE1-4".
    out = run / "analysis" / "premask_DIS-TE1-4"
    assert json.loads((out / "summary.json").read_text())["split"] == "DIS-TE1-4"
    assert "Prior and final mask quality (DIS-TE1-4)" in (out / "table5.md").read_text()
    assert "(DIS-TE1-4)" in (out / "table5.tex").read_text()


def test_figures_name_their_files_after_the_set(tmp_path, dis5k_root, monkeypatch) -> None:
    monkeypatch.setattr(figures, "draw_grid", lambda rows, headers, path, *a, **k: path)
    run = _run_of_all_parts(tmp_path, dis5k_root)
    args = ["figures", "--runs", str(run), "--worst", "1", "--num", "1", "--split", "DIS-TE"]
    args += ["--config", str(DEMO), "--out", str(tmp_path / "figs")]
    assert main(args + _data(tmp_path, dis5k_root)) == 0
    assert (tmp_path / "figs" / "failures_DIS-TE1-4_iou.txt").is_file()
    written = json.loads((tmp_path / "figs" / ".pmgsam-outputs.json").read_text())
    assert "qualitative_DIS-TE1-4.png" in json.dumps(written)
