"""The reason ``pmgsam.ablate`` gives for a row or plot point without scores names only what
applies to this call: a step it ran (``--train``, ``--evaluate``) is not suggested again, and a
variant ``--only`` left out says so. Nothing is trained or predicted here."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from ablate_cases import write_grid

import pmgsam.ablate as ablate
from pmgsam.utils.cli import exit_status

GRID = """
splits: DIS-TE
table:
  rows:
    - {config: one, label: One}
    - {config: two, label: Two}
    - {config: three, label: Three}
plots:
  - name: blocks
    title: Blocks
    key: model.drfm_blocks
    xlabel: k
    series: [{label: DRFM, configs: [one, two, three]}]
"""
NAMES = ("one", "two", "three")
CONFIGS = {name: f"model:\n  drfm_blocks: {k}\n" for k, name in enumerate(NAMES, 1)}


def _train(path: Path, run_dir: Path, overrides) -> None:
    """Stands in for training: only the done file, which is all the reasons look at."""
    (run_dir / "train").mkdir(parents=True, exist_ok=True)
    (run_dir / "train" / ablate.DONE_FILE).write_text("{}")


def _reasons(out: Path) -> str:
    return next(
        line for line in (out / "ablation.md").read_text().splitlines() if "Not scored" in line
    )


@pytest.fixture
def grid(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(ablate, "train_variant", _train)
    return write_grid(tmp_path / "grid", GRID, CONFIGS)


def test_train_with_only_does_not_say_run_with_train(grid, tmp_path, caplog) -> None:
    out = tmp_path / "out"
    args = ["--grid", grid, "--output-dir", out, "--train", "--only", "one"]
    with caplog.at_level(logging.WARNING, logger="pmgsam.ablate"):
        assert exit_status(ablate.main, args) == 0
    note = _reasons(out)
    assert "One (trained, not scored: run with --evaluate)" in note
    assert "Two (no finished training; left out by --only)" in note
    assert "Three (no finished training; left out by --only)" in note
    assert "run with --train" not in note
    points = [r.getMessage() for r in caplog.records if "no point for" in r.getMessage()]
    assert len(points) == 3
    assert (
        "no point for two in series 'DRFM' (no finished training; left out by --only)"
        in (points[1])
    )
    assert not any("run with --train" in p for p in points)


def test_without_the_step_both_reasons_apply(grid, tmp_path) -> None:
    out = tmp_path / "out"
    _train(grid / "one.yaml", out / "one", [])
    # Neither step given: the left-out variants need --train and a place in --only.
    args = ["--grid", grid, "--output-dir", out, "--only", "one"]
    assert exit_status(ablate.main, args) == 0
    note = _reasons(out)
    assert "One (trained, not scored: run with --evaluate)" in note
    assert "Two (no finished training: run with --train; left out by --only)" in note
