"""After a bad-file stop, only a run that kept no epoch is started again: one that kept epoch 1
already holds weights worth training on (train.init_from), as any later one does."""

from __future__ import annotations

from pmgsam.data.errors import DataError
from pmgsam.engine.training_log import interruption_message


def test_a_run_that_kept_its_first_epoch_trains_on_from_it(tmp_path) -> None:
    bad = DataError("mask 'm.png' cannot be read")
    line = interruption_message(bad, 1, tmp_path, f"python train.py --resume {tmp_path}")
    assert "training interrupted during epoch 2 (DataError: mask 'm.png' cannot be read)" in line
    last = tmp_path / "checkpoints" / "last"
    assert line.endswith(f"train on from these weights in a new run (train.init_from={last})")
    assert "start it again" not in line and "start the run again" not in line
