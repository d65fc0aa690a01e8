"""``pmgsam.ablate --train`` keeps one output folder's variants on one training set: a variant
finished on other data (the dataset regenerated or edited in place, or another ``data.root``)
beside one about to be trained refuses the call before anything trains, though their configs
agree; a finished variant's done file records the data it learned from. Training is stubbed
(tests/test_ablate.py trains for real once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from ablate_cases import write_grid

import pmgsam.ablate as ablate
from pmgsam.ablation.data import DATA_KEY, training_data_fingerprint
from pmgsam.engine import trainer
from pmgsam.utils.cli import exit_status

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
GRID = """
splits: DIS-TE
table:
  title: "Two variants"
  rows:
    - {config: alpha, label: "(a) Alpha"}
    - {config: beta, label: "(b) Beta"}
"""


@pytest.fixture
def setup(tmp_path, dis5k_root, monkeypatch):
    """(grid folder, output folder, overrides, the configs the stub trainer was built with)."""
    configs = {
        "alpha": f"base: {DEMO}\nmodel:\n  drfm_blocks: 2\n",
        "beta": f"base: {DEMO}\nmodel:\n  srb_iterations: 3\n",
    }
    grid = write_grid(tmp_path / "grid", GRID, configs)
    trained: List[str] = []
    overrides = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]

    class StubTrainer:
        def __init__(self, cfg, resume=None):
            trained.append(Path(cfg.output_dir).parent.name)
            Path(cfg.output_dir).mkdir(parents=True)  # the run folder a real one makes
            # What the real one computes over its training and validation sets, as its
            # state records it.
            self.data_sample_fingerprint = training_data_fingerprint(
                DEMO, overrides, cfg.output_dir
            )

        def fit(self):
            return {"best_epoch": 1}

    monkeypatch.setattr(trainer, "Trainer", StubTrainer)
    return grid, tmp_path / "out", overrides, trained


def _finished(out: Path, name: str, fingerprint: str) -> None:
    train_dir = out / name / "train"
    train_dir.mkdir(parents=True)
    (train_dir / ablate.DONE_FILE).write_text(json.dumps({DATA_KEY: fingerprint}))


def test_a_variant_is_not_trained_beside_one_finished_on_other_data(setup, capsys) -> None:
    grid, out, overrides, trained = setup
    _finished(out, "alpha", "0" * 64)  # learned from files that are not there any more
    args = ["--grid", str(grid), "--output-dir", str(out), "--train", "--only", "beta"]
    assert exit_status(ablate.main, args + overrides) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "did not all learn from the same training and validation images" in err
    assert "beta (to be trained now) on other files than alpha" in err
    assert trained == [] and not (out / "beta").exists()


def test_the_same_data_trains_and_its_fingerprint_is_recorded(setup) -> None:
    grid, out, overrides, trained = setup
    now = training_data_fingerprint(grid / "beta.yaml", overrides, out / "beta" / "train")
    _finished(out, "alpha", now)
    args = ["--grid", str(grid), "--output-dir", str(out), "--train", "--only", "beta"]
    assert exit_status(ablate.main, args + overrides) == 0
    assert trained == ["beta"]
    done = json.loads((out / "beta" / "train" / ablate.DONE_FILE).read_text())
    assert done == {"best_epoch": 1, DATA_KEY: now}
