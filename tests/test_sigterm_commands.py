"""SIGTERM stops inference, benchmark mode and the SAM fine-tune as Ctrl-C does.

Python's default ended the command at once: exit status -15 (143 in a shell) and no word of
it, while training said "interrupted" (exit status 130). A SIGTERM sent to the whole job
(Slurm's preemption, ``kill -TERM -PGID``) also killed the DataLoader workers, and torch
then raised "DataLoader worker ... is killed by signal: Terminated" in the command, which
stopped as a crash (a traceback) instead."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict

import numpy as np
import pytest
import torch
from PIL import Image
from sigterm_cases import (
    CRASHED,
    INTERRUPTED,
    LoaderMade,
    Numbers,
    ending_of,
    job_sigterm_ending,
    record_loader,
    sigterm_now,
)

from pmgsam.baselines import finetune_recipe, finetune_sam
from pmgsam.baselines.finetune_recipe import FinetuneConfig
from pmgsam.engine import inference, predictor
from pmgsam.evaluation import benchmark
from pmgsam.utils.cli import EXIT_INTERRUPTED, exit_status


class NamedNumbers(Numbers):
    names = [f"n{i}" for i in range(6)]


def test_a_worker_killed_by_the_jobs_sigterm_is_a_crash_without_the_quiet_init() -> None:
    # The case the tests below rely on: torch's own worker set-up crashes the loop.
    assert job_sigterm_ending(None) == CRASHED


def test_prediction_workers_end_quietly_on_the_jobs_sigterm(tmp_path: Path, monkeypatch) -> None:
    seen: Dict[str, Any] = {}
    monkeypatch.setattr(predictor, "DataLoader", record_loader(seen))
    stand_in = predictor.Predictor.__new__(predictor.Predictor)
    stand_in.device = torch.device("cpu")
    with pytest.raises(LoaderMade):
        stand_in.predict_dataset(NamedNumbers(), tmp_path, num_workers=1, progress=False)
    assert job_sigterm_ending(seen["worker_init_fn"]) == INTERRUPTED


def test_finetune_epoch_workers_end_quietly_on_the_jobs_sigterm(monkeypatch) -> None:
    seen: Dict[str, Any] = {}
    monkeypatch.setattr(finetune_recipe, "DataLoader", record_loader(seen))
    with pytest.raises(LoaderMade):
        finetune_recipe.run_epoch(None, Numbers(), FinetuneConfig(), torch.device("cpu"), None, 1)
    assert job_sigterm_ending(seen["worker_init_fn"]) == INTERRUPTED


def test_finetune_embedding_workers_end_quietly_on_the_jobs_sigterm(monkeypatch) -> None:
    seen: Dict[str, Any] = {}
    monkeypatch.setattr(finetune_sam, "DataLoader", record_loader(seen))
    run = SimpleNamespace(
        cfg=SimpleNamespace(finetune=FinetuneConfig(embedding_cache="memory")),
        args=SimpleNamespace(model_type="vit_b", quiet=True),
        side=64,
        source_sha="0" * 64,
        device=torch.device("cpu"),
        sam=None,
        splits=["train", "val"],
        counts={"train": 6, "val": 6},
        items=lambda split, order, seed: Numbers(),
        workers=1,
    )
    with pytest.raises(LoaderMade):
        finetune_sam.make_embedder(run)
    assert job_sigterm_ending(seen["worker_init_fn"]) == INTERRUPTED


def test_sigterm_stops_inference_as_an_interruption(
    tmp_path: Path, small_model_file, stubbed_prediction, monkeypatch
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "a.png")
    monkeypatch.setattr(predictor.Predictor, "predict_dataset", lambda *a, **k: sigterm_now())
    argv = ["--checkpoint", small_model_file[0], "--input", images, "--out", tmp_path / "out"]
    argv += ["--quiet"]
    assert ending_of(lambda: exit_status(inference.main, argv)) == EXIT_INTERRUPTED


def test_sigterm_stops_benchmark_mode_as_an_interruption(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(benchmark, "data_overrides", lambda args: sigterm_now())
    args = argparse.Namespace(output_dir=str(tmp_path / "out"), config="c.yaml")
    run = lambda argv: benchmark.run_benchmark(args)  # noqa: E731 (as evaluate.py runs it)
    assert ending_of(lambda: exit_status(run, [])) == EXIT_INTERRUPTED


def test_sigterm_stops_the_sam_fine_tune_as_an_interruption(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(finetune_sam, "finetune", lambda args: sigterm_now())
    argv = ["--model-type", "vit_b", "--checkpoint", tmp_path / "sam.pth"]
    argv += ["--config", tmp_path / "ft.yaml", "--output", tmp_path / "out.pth"]
    assert ending_of(lambda: exit_status(finetune_sam.main, argv)) == EXIT_INTERRUPTED
