"""``pmgsam.ablate --evaluate`` on a grid where only some variants finished training: the
trained ones are scored, the table names the rows still missing, and one error at the end names
every untrained variant. Nothing is trained or predicted here (tests/test_ablate.py runs the
whole CLI once)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import List

import pytest
from ablate_cases import write_grid

import pmgsam.ablate as ablate
import pmgsam.ablation.scoring as scoring
from pmgsam.utils.cli import exit_status

GRID = """
splits: DIS-TE
table:
  title: "Partly trained"
  rows:
    - {config: zeta, label: "(z) Zeta"}
    - {config: alpha, label: "(a) Alpha"}
    - {config: beta, label: "(b) Beta"}
    - {config: gamma, label: "(g) Gamma"}
"""
CONFIGS = {
    "zeta": "model:\n  fusion: none\n",
    "alpha": "model:\n  drfm_blocks: 1\n",
    "beta": "model:\n  drfm_blocks: 5\n",
    "gamma": "model:\n  srb_iterations: 2\n",
}
SCORES = {"maxFm": 0.9, "wFmeasure": 0.8, "MAE": 0.05, "Smeasure": 0.85, "meanEm": 0.9}


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_grid(tmp_path / "grid", GRID, CONFIGS)


def _finished(out: Path, name: str) -> None:
    """A variant marked as trained (its done file); no saved config, so nothing to compare."""
    train_dir = out / name / "train"
    train_dir.mkdir(parents=True)
    (train_dir / ablate.DONE_FILE).write_text("{}")


def test_untrained_variants_do_not_stop_the_trained_ones(grid, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    _finished(out, "alpha")  # trained: scored by this call
    _finished(out, "gamma")  # trained, left unscored with --only below
    scored: List[str] = []

    def evaluate_variant(path, run_dir, label, splits, overrides, opts):
        if not (run_dir / "train" / ablate.DONE_FILE).is_file():
            # The real check: an untrained variant raises before loading anything.
            return scoring.evaluate_variant(path, run_dir, label, splits, overrides, opts)
        scored.append(path.stem)
        dis = {"DIS-TE1-4": SCORES}
        (run_dir / "run.json").write_text(json.dumps({"method": label, "dis": dis}))

    monkeypatch.setattr(ablate, "evaluate_variant", evaluate_variant)
    args = ["--grid", grid, "--output-dir", out, "--evaluate", "--device", "cpu"]
    # zeta, the first row, is untrained: it used to stop the call before alpha was scored.
    assert exit_status(ablate.main, args + ["--only", "zeta,alpha,beta"]) == 2
    assert scored == ["alpha"]
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "no finished training" in errors[0] and "zeta, beta; run with --train" in errors[0]
    with (out / "ablation.csv").open() as fh:
        rows = {r["method"]: r for r in csv.DictReader(fh)}
    mae = next(k for k in rows["(a) Alpha"] if "MAE" in k)
    assert float(rows["(a) Alpha"][mae]) == pytest.approx(0.05)
    assert rows["(z) Zeta"][mae] == rows["(b) Beta"][mae] == rows["(g) Gamma"][mae] == ""
    # Every row without scores is named under the table, with why, not only shown as dashes.
    note = next(line for line in (out / "ablation.md").read_text().splitlines() if "Not" in line)
    assert "(z) Zeta (no finished training: run with --train)" in note
    assert "(b) Beta (no finished training: run with --train)" in note
    # gamma was left out by --only: "run with --evaluate" would tell a user who gave it to
    # give it again.
    assert "(g) Gamma (trained, not scored; left out by --only)" in note
    assert "(a) Alpha" not in note
    assert note in printed.out  # the table printed before the error

    # Once all are scored: exit 0 and no note.
    for name in ("zeta", "beta"):
        _finished(out, name)
    assert exit_status(ablate.main, args) == 0
    assert "Not scored yet" not in (out / "ablation.md").read_text()


def test_no_variant_trained_claims_no_others_scored(grid, tmp_path, capsys) -> None:
    args = ["--grid", grid, "--output-dir", tmp_path / "out", "--evaluate", "--device", "cpu"]
    assert exit_status(ablate.main, args + ["--only", "zeta"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith("zeta; run with --train to train them")  # no others to speak of
