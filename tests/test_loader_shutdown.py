"""An error in a DataLoader worker stops the loader's workers at once (``utils/loaders.py``), in
prediction, validation, training and SAM fine-tuning: before, the failed iterator lived on in
the traceback's reference cycle, and freeing it waited torch's 5 s worker-join timeout per
worker."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

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

# Below one 5 s join timeout, which a shutdown whose message the workers never got would wait
# before killing them; the call takes ~0.25 s on a loaded 2-core machine, worker start included.
PROMPT_S = 4.0


class WorkerBug(Dataset):
    """Two named samples whose reading fails with an unexpected error (not a DataError, which
    prediction hands back by name), so the worker's exception reaches the loop."""

    names = ["a", "b"]

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Dict[str, Any]:
        raise RuntimeError(f"bug reading sample {index}")


def _assert_fails_and_stops_workers(call: Callable[[], Any], monkeypatch) -> None:
    workers: List[multiprocessing.process.BaseProcess] = []
    start_process = multiprocessing.process.BaseProcess.start

    def recorded_start(process: multiprocessing.process.BaseProcess) -> None:
        workers.append(process)
        start_process(process)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", recorded_start)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="bug reading sample"):
        call()
    seconds = time.perf_counter() - start
    # No gc.collect(), which ended the workers before the fix (after a join timeout each): a
    # timed one took 0.5-1 s of a loaded machine on this file's heap alone, more after others.
    assert workers, "the loader started no worker processes: nothing was tested"
    assert not [w for w in workers if w.is_alive()], "the failed loader's workers still run"
    assert seconds < PROMPT_S


def test_prediction_error_in_a_worker_stops_the_workers(tmp_path: Path, monkeypatch) -> None:
    model = torch.nn.Identity()  # never run: the first batch fails
    model.config = SimpleNamespace(image_size=64)
    predictor = Predictor(model, device="cpu", amp="none")
    _assert_fails_and_stops_workers(
        lambda: predictor.predict_dataset(
            WorkerBug(), tmp_path / "pred", batch_size=1, num_workers=2, progress=False
        ),
        monkeypatch,
    )


def test_validation_error_in_a_worker_stops_the_workers(monkeypatch) -> None:
    loader = DataLoader(WorkerBug(), batch_size=1, num_workers=2)
    _assert_fails_and_stops_workers(
        lambda: run_validation(
            torch.nn.Identity(), loader, None, torch.device("cpu"), None, SimpleNamespace()
        ),
        monkeypatch,
    )


def test_fine_tuning_error_in_a_worker_stops_the_workers(monkeypatch) -> None:
    sam = SimpleNamespace(mask_decoder=torch.nn.Identity())
    _assert_fails_and_stops_workers(
        lambda: run_epoch(
            sam, WorkerBug(), FinetuneConfig(), torch.device("cpu"), workers=2, progress=False
        ),
        monkeypatch,
    )


@pytest.mark.usefixtures("one_thread", "small_branches")
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
    _assert_fails_and_stops_workers(trainer.fit, monkeypatch)
    # A later iteration starts new workers rather than reusing the stopped ones.
    assert trainer.train_loader._iterator is None
