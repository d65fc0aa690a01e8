"""A SAM file (``model.sam_checkpoint``) initialises a new run's decoder only: a resumed run and
a ``train.init_from`` fine-tune load every trainable weight from elsewhere, so they neither read
it nor need it (gone, or moved: a resume may not change its path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Tuple

import pytest
import torch
from safetensors import safe_open
from training_cases import crash_at_step, two_epoch_config

from pmgsam.engine.state import checkpoint_dir
from pmgsam.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def sam_file(small_model_file: Tuple[Path, Any], tmp_path: Path) -> Path:
    """A stand-in segment-anything file whose mask-decoder transformer fits the tiny decoder
    (other values than its init: a decoder built from it differs from one built without)."""
    decoder = small_model_file[1].decoder.state_dict()
    state = {
        f"mask_decoder.{k}": v + 0.5 for k, v in decoder.items() if k.startswith("transformer.")
    }
    torch.save(state, tmp_path / "sam_stand_in.pth")
    return tmp_path / "sam_stand_in.pth"


def _recorded_sam(weights: Path) -> Any:
    with safe_open(str(weights), framework="pt") as f:
        return json.loads(f.metadata()["config"])["sam_checkpoint"]


def test_a_run_started_from_a_sam_file_resumes_without_it(
    tmp_path, dis5k_root, data_config, sam_file, monkeypatch
) -> None:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    cfg.model.sam_checkpoint = str(sam_file)
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)
    sam_file.unlink()  # the run goes on elsewhere, or the file was cleaned up
    summary = Trainer(cfg, resume=cfg.output_dir, progress=False).fit()
    assert summary["epochs_completed"] == 2
    log = (Path(cfg.output_dir) / "train.log").read_text(encoding="utf-8")
    assert f"model.sam_checkpoint '{sam_file}' not read: the run's saved weights" in log
    # Its checkpoints still record how the run began, as those written before the resume.
    assert _recorded_sam(checkpoint_dir(cfg.output_dir, "last") / "model.safetensors") == str(
        sam_file
    )


def test_a_fine_tune_reads_no_sam_file(
    tmp_path, dis5k_root, data_config, small_model_file, sam_file
) -> None:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    cfg.model.sam_checkpoint = str(sam_file)
    cfg.train.init_from = str(small_model_file[0])
    trainer = Trainer(cfg, progress=False)
    trainer.close()
    own = trainer.model.trainable_state_dict()
    assert all(
        torch.equal(v, own[k]) for k, v in small_model_file[1].trainable_state_dict().items()
    )
    log = (Path(cfg.output_dir) / "train.log").read_text(encoding="utf-8")
    assert "not read: train.init_from's weights replace the decoder" in log
    assert "decoder initialised from SAM" not in log
