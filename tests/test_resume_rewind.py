"""``--resume RUN/checkpoints/best`` when ``last`` is later is refused: the run would go back to
the best epoch, drop the later epochs' metrics lines at set-up and overwrite ``last``, where a
resume continues where the run stopped. A ``best`` of the last epoch, and ``last``, resume."""

from __future__ import annotations

import copy
import json

import pytest
from training_cases import two_epoch_config

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.resume_checks import check_not_a_rewind
from pmgsam.engine.state import load_training_state, save_checkpoint
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import ConfigError

# The frozen Hiera is conftest's small one (small_tiny_model, small_branches for any build): nothing
# here depends on its size, and Hiera-T's 27 M weights were copied and digested per trainer.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


def _run(tmp_path, small_tiny_model, best: int, last: int):
    run = tmp_path / "run"
    for which, epoch in (("best", best), ("last", last)):
        save_checkpoint(
            run / "checkpoints" / which, small_tiny_model, {"epoch": epoch, "world_size": 1}
        )
    return run


def test_resuming_from_a_best_older_than_last_is_refused_naming_both(tmp_path, small_tiny_model):
    run = _run(tmp_path, small_tiny_model, best=2, last=5)
    best = load_training_state(run / "checkpoints" / "best")
    with pytest.raises(ConfigError) as err:
        check_not_a_rewind(best, run)
    text = str(err.value)
    assert "holds epoch 2, but the run's last checkpoint" in text and "holds epoch 5" in text
    assert "dropping epochs 3-5 from metrics.jsonl" in text
    assert f"python train.py --resume {run}" in text and "train.init_from=" in text
    # `last` itself, and a best as recent as last, continue the run.
    check_not_a_rewind(load_training_state(run), run)
    same = _run(tmp_path / "same", small_tiny_model, best=5, last=5)
    check_not_a_rewind(load_training_state(same / "checkpoints" / "best"), same)


def test_the_trainer_refuses_the_rewind_before_touching_the_runs_metrics(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
):
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    first = Trainer(cfg)  # a real training state (its optimiser, fingerprints), epoch 0
    state = first.state_dict()
    first.close()
    run = tmp_path / "run"
    lines = [json.dumps({"epoch": e, "val_loss": 1.0 / e}) for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(f"{line}\n" for line in lines))
    for which, epoch in (("best", 1), ("last", 2)):
        save_checkpoint(run / "checkpoints" / which, first.model, {**state, "epoch": epoch})
    with pytest.raises(ConfigError, match="would go back to epoch 1"):
        Trainer(cfg, resume=run / "checkpoints" / "best")
    # Without the check the set-up cut metrics.jsonl to epoch 1 at once.
    assert (run / "metrics.jsonl").read_text().splitlines() == lines
