"""An error in a DataLoader worker stops the loader's workers at once (``utils/loaders.py``), in
prediction, validation, training and SAM fine-tuning: before, the failed iterator lived on in
the traceback's reference cycle, and freeing it waited torch's 5 s worker-join timeout per
worker."""

from __future__ import annotations

import gc
import multiprocessing
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from pmgsam.baselines.finetune_recipe import FinetuneConfig, run_epoch
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.predictor import Predictor
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.validation import run_validation
from pmgsam.modeling.build import model_config
from pmgsam.utils.config import from_dict, to_dict

# Far below the 5 s join timeout the workers waited for, far above a prompt shutdown (~0.1 s)
# on a loaded 2-core machine.
PROMPT_S = 2.5


class WorkerBug(Dataset):
    """Two named samples whose reading fails with an unexpected error (not a DataError, which
    prediction hands back by name), so the worker's exception reaches the loop."""

    names = ["a", "b"]

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Dict[str, Any]:
        raise RuntimeError(f"bug reading sample {index}")


def _assert_fails_and_stops_workers(call: Callable[[], Any]) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="bug reading sample"):
        call()
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    gc.collect()  # what ended the workers before, after the join timeout
    seconds = time.perf_counter() - start
    assert not left, "the failed loader's worker processes are still running"
    assert seconds < PROMPT_S


def test_prediction_error_in_a_worker_stops_the_workers(tmp_path: Path) -> None:
    model = torch.nn.Identity()  # never run: the first batch fails
    model.config = SimpleNamespace(image_size=64)
    predictor = Predictor(model, device="cpu", amp="none")
    _assert_fails_and_stops_workers(
        lambda: predictor.predict_dataset(
            WorkerBug(), tmp_path / "pred", batch_size=1, num_workers=2, progress=False
        )
    )


def test_validation_error_in_a_worker_stops_the_workers() -> None:
    loader = DataLoader(WorkerBug(), batch_size=1, num_workers=2)
    _assert_fails_and_stops_workers(
        lambda: run_validation(
            torch.nn.Identity(), loader, None, torch.device("cpu"), None, SimpleNamespace()
        )
    )


def test_fine_tuning_error_in_a_worker_stops_the_workers() -> None:
    sam = SimpleNamespace(mask_decoder=torch.nn.Identity())
    _assert_fails_and_stops_workers(
        lambda: run_epoch(
            sam, WorkerBug(), FinetuneConfig(), torch.device("cpu"), workers=2, progress=False
        )
    )


@pytest.mark.usefixtures("one_thread", "small_hiera")
def test_training_error_in_a_persistent_worker_stops_it_for_good(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any], monkeypatch
) -> None:
    # Persistent workers outlive the loop in the loader itself, whatever the traceback does.
    values = {
        "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
        "data": to_dict(data_config("dis5k", dis5k_root, num_workers=1)),
        "performance": {"persistent_workers": True},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"batch_size": 4, "device": "cpu"},
        "output_dir": str(tmp_path / "run"),
    }
    trainer = Trainer(from_dict(ExperimentConfig, values))
    assert trainer.train_loader.persistent_workers
    monkeypatch.setattr(type(trainer.train_set), "__getitem__", WorkerBug.__getitem__)
    _assert_fails_and_stops_workers(trainer.fit)
    # A later iteration starts new workers rather than reusing the stopped ones.
    assert trainer.train_loader._iterator is None
