"""What train.py says and returns around the training itself (replaced by a stand-in here):
where the outputs go, a finished run that has nothing left to train, the summary, exit status
0, rank 0 alone printing, and a resume given the run's own config.yaml as --config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_cases import train_main

from pmgsam.engine import state, trainer
from pmgsam.utils.cli import exit_status

REPO = Path(__file__).resolve().parents[1]


class _Trainer:
    """Stands in for Trainer: a run folder whose checkpoint holds ``epoch`` epochs."""

    epoch, finished, made = 3, False, []

    def __init__(self, config, resume=None, progress=True) -> None:
        self.config = config
        _Trainer.made.append(resume)

    def fit(self) -> dict:
        return {
            "output_dir": self.config.output_dir,
            "epochs_completed": self.epoch,
            "global_step": 30,
            "best_val_loss": 0.125,
            "best_epoch": 2,
        }


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / state.CONFIG_FILE).write_text("output_dir: run\n")
    config = SimpleNamespace(output_dir=str(run))
    monkeypatch.setattr(state, "experiment_config", lambda *args: config)
    monkeypatch.setattr(trainer, "Trainer", _Trainer)
    monkeypatch.setattr(_Trainer, "made", [])
    monkeypatch.delenv("RANK", raising=False)
    return run


def test_a_run_says_where_its_outputs_go_and_its_best_epoch(stand_ins, capsys):
    argv = ["--config", str(REPO / "configs/demo.yaml"), "--output-dir", str(stand_ins)]
    assert exit_status(train_main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"pmgsam train: outputs go to {stand_ins}",
        "pmgsam train: 3 epochs, best validation loss 0.12500 after epoch 2; weights in "
        f"{stand_ins / 'checkpoints' / 'best'}",
    ]


def test_a_finished_run_says_there_is_nothing_to_train(stand_ins, capsys, monkeypatch):
    monkeypatch.setattr(_Trainer, "finished", True)
    assert exit_status(train_main, ["--resume", str(stand_ins)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "pmgsam train: the run ended after epoch 3 (schedule.epochs or early stopping); "
        "nothing to train"
    )


def test_only_global_rank_zero_prints(stand_ins, capsys, monkeypatch):
    # The first process of a second node: local rank 0, global rank 1.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert train_main(["--resume", str(stand_ins)]) == 0
    assert capsys.readouterr().out == ""


def test_a_resume_may_name_the_runs_own_config_file(stand_ins, capsys):
    # Only a new run would write over --config; a resume reads it (and its legacy fields).
    argv = ["--resume", str(stand_ins), "--config", str(stand_ins / state.CONFIG_FILE)]
    assert exit_status(train_main, argv) == 0, capsys.readouterr().err
    assert _Trainer.made == [str(stand_ins)]
