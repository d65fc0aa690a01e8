"""TensorBoard after a crash at the end of an epoch: a run stopped just after its ``last``
checkpoint took the epoch keeps that epoch's scalars (the resumed run starts at the next epoch
and never logs them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_trainer_resume_audit21 import VAL_LOSSES, _scalars, make_config  # noqa: F401

from pmgsam.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


def test_a_crash_just_after_last_is_saved_keeps_the_epoch_s_scalars(
    make_config,  # noqa: F811
    monkeypatch,
) -> None:
    cfg = make_config("resumed")
    save = Trainer._save

    def save_then_crash(self: Trainer, which: str) -> None:
        save(self, which)
        if which == "last" and self.epoch == 2:  # epoch 2 is kept: the resume starts at 3
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, progress=False).fit()
    monkeypatch.setattr(Trainer, "_save", save)
    run = Path(cfg.output_dir)
    resumed = Trainer(cfg, resume=run, progress=False)
    assert resumed.epoch == 2
    resumed.fit()
    scalars = _scalars(run)
    # Every epoch once, at its number, with the validation loss the harness gives it; and
    # every training step once, at its global step (one step an epoch).
    assert scalars["val/loss"] == [(e + 1, pytest.approx(v)) for e, v in VAL_LOSSES.items()]
    for tag in ("epoch/train_loss", "epoch/lr", "val/mae", "train/loss"):
        assert [step for step, _ in scalars[tag]] == [1, 2, 3], tag
