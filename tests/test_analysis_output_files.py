"""The analyses' tables, figures and summaries never replace a file the user put where they
go: refused before any work, allowed with --overwrite, and a re-run replaces its own files
(CPU, hand-made data; helpers from test_analysis and test_ablate_grid)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ablate_cases import write_grid
from test_ablate_grid import CONFIGS, GRID
from test_analysis import DEMO, _coco_with_cases, _fake_run

import pmgsam.ablate as ablate
from pmgsam.analysis.__main__ import main
from pmgsam.analysis.output_files import check_output_files, record_output_files
from pmgsam.utils.outputs import OutputError

MINE = b"my own hand-edited file"


def _refused_then_replaced(run_main, argv: list, out: Path, name: str) -> None:
    """``name`` of the user's in ``out`` is refused (kept, byte for byte, with a file of another
    name beside it), replaced with --overwrite; a re-run then needs no flag."""
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(MINE)
    (out / "notes.txt").write_bytes(MINE)
    with pytest.raises(OutputError, match=rf"already holds 1 file\(s\) .*did not write \({name}\)"):
        run_main(argv)
    assert (out / name).read_bytes() == MINE
    assert run_main(argv + ["--overwrite"]) == 0
    assert (out / name).read_bytes() != MINE and (out / "notes.txt").read_bytes() == MINE
    assert run_main(argv) == 0  # its own files now


def test_figures_and_premask_keep_the_users_files(tmp_path, dis5k_root) -> None:
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    common = ["--config", str(DEMO), "--split", "DIS-TE1", f"data.root={dis5k_root}"]
    common += [f"data.split_dir={tmp_path / 'splits'}"]
    figs = tmp_path / "paper_figures"
    argv = ["figures", "--runs", str(run), "--out", str(figs), "--dpi", "50"] + common
    _refused_then_replaced(main, argv, figs, "qualitative_DIS-TE1.png")
    out = tmp_path / "premask_out"
    _refused_then_replaced(main, ["premask", "--run", str(run), "--out", str(out)] + common,
                           out, "summary.json")  # fmt: skip


def test_overlap_keeps_the_users_files(tmp_path) -> None:
    gt = tmp_path / "data" / "gt.json"
    gt.parent.mkdir()
    gt.write_text(json.dumps(_coco_with_cases()))
    out = tmp_path / "overlap"
    argv = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--out", str(out)]
    _refused_then_replaced(main, argv, out, "overlap_summary.json")


def test_ablation_table_keeps_the_users_files(tmp_path) -> None:
    grid = write_grid(tmp_path / "grid", GRID, CONFIGS)
    out = tmp_path / "results"
    argv = ["--grid", str(grid), "--output-dir", str(out)]
    _refused_then_replaced(ablate.main, argv, out, "ablation.md")


def test_a_folder_remembers_the_files_of_every_analysis_written_there(tmp_path) -> None:
    # Two analyses into one folder: the second's record must not make the first's files look
    # like the user's (its re-run would be refused without --overwrite).
    out = tmp_path / "paper"
    for names, tool in ((["fig.png"], "figures"), (["table5.md"], "premask")):
        check_output_files(out, names)
        record_output_files(out, names, tool)
        for name in names:
            (out / name).write_text(tool)
    check_output_files(out, ["fig.png", "table5.md"])  # both pmgsam's: no error
    (out / "mine.png").write_bytes(MINE)
    with pytest.raises(OutputError, match=r"did not write \(mine.png\)"):
        check_output_files(out, ["fig.png", "mine.png"])
