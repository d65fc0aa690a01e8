"""Training helpers shared by the trainer's test modules."""

from __future__ import annotations

from typing import Any

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer


def crash_at_step(
    monkeypatch: pytest.MonkeyPatch, cfg: ExperimentConfig, epoch: int, iteration: int
) -> None:
    """Train ``cfg`` until a simulated crash at step ``iteration`` of ``epoch`` (both 0-based)."""
    original = Trainer._train_step

    def failing_step(self: Trainer, batch: Any, ep: int, it: int) -> Any:
        if (ep, it) == (epoch, iteration):
            raise RuntimeError("simulated crash")
        return original(self, batch, ep, it)

    monkeypatch.setattr(Trainer, "_train_step", failing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Trainer(cfg).fit()
    monkeypatch.setattr(Trainer, "_train_step", original)
