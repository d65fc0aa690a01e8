"""Speed settings of training and their records change how fast, never what: steps read nothing
back from the device outside logging steps, deterministic training keeps cuDNN's algorithm
timing off, the efficiency report's train mode writes sane records, and the benchmark table is
rendered from them (the numerical equivalence of speed options: test_performance_equivalence.py).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Iterator, List

import pytest
import torch

import pmgsam
from pmgsam.engine import losses as losses_mod
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.build import model_config
from pmgsam.utils.config import from_dict, to_dict

# --------------------------------------------------------------------------- training loop
# Tensor methods that copy a value to the host, i.e. wait for the GPU on CUDA.
HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")


# The models here have conftest's small frozen branches (small_tiny_model, small_branches):
# what is read back, which backend flags are set and what a record holds do not depend on the
# branches' size, and Hiera-T's copies, digests and steps took most of this file's time.
@pytest.fixture
def tiny_trainer(tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch):
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))
    made = []

    def make(log_every: int, device: str = "cpu", **perf: Any) -> Trainer:
        values = {
            "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
            "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0)),
            "schedule": {"epochs": 1, "warmup_epochs": 0},
            "train": {"batch_size": 2, "device": device, "log_every": log_every},
            "performance": perf,
            "output_dir": str(tmp_path / f"run{len(made)}"),
        }
        made.append(Trainer(from_dict(ExperimentConfig, values)))
        return made[-1]

    yield make
    for trainer in made:
        trainer.close()


def _stand_in(name: str, loader: Any, batches: Callable[[], Iterator[Any]]) -> Any:
    """A loader that iterates ``batches()`` and otherwise reads as ``loader`` does (its length
    and worker count, which the trainer's loader-wait check names)."""
    attributes = {"__iter__": lambda s: batches(), "__len__": lambda s: len(loader)}
    return type(name, (), {**attributes, "num_workers": loader.num_workers})()


def _steps_only(trainer: Trainer, inside: List[bool]) -> None:
    """Flag ``inside`` while the loop body runs (not while the loader prepares a batch)."""
    loader = trainer.train_loader

    def body_flagged() -> Iterator[Any]:
        for batch in loader:
            inside[0] = True
            yield batch
            inside[0] = False

    trainer.train_loader = _stand_in("Flagged", loader, body_flagged)


def test_training_steps_read_nothing_back_outside_logging_steps_and_flag_nan(
    tiny_trainer, monkeypatch
):
    trainer = tiny_trainer(log_every=3)
    inside, reads, checking, checked = [False], [], [False], []
    # AdamW (capturable=False) keeps its step counters on the host even when training on CUDA,
    # so its reads of them never wait for the GPU; every other read would.
    state = trainer.optimizer.state
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            step_counter = any(self is st.get("step") for st in state.values())
            if inside[0] and not step_counter and not checking[0]:
                reads.append((trainer.global_step, _name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    # The batch's mask is range-checked on the host before its copy (on CUDA too, where the
    # loss then checks nothing): its reads are the CPU's. The CUDA test below proves it there.
    real_check = losses_mod.check_target_range

    def host_check(target, what="the loss target"):
        checking[0] = True
        checked.append(trainer.global_step)
        try:
            real_check(target, what)
        finally:
            checking[0] = False

    monkeypatch.setattr(trainer_mod, "check_target_range", host_check)
    monkeypatch.setattr(losses_mod, "check_target_range", host_check)
    _steps_only(trainer, inside)
    trainer.train_one_epoch(0)
    steps = trainer.global_step
    assert steps >= 3
    assert set(checked) == set(range(steps))  # every step checked its batch
    # The loss is read (and finiteness checked) at logging steps, and only there.
    assert {s for s, _ in reads} == {s for s in range(1, steps + 1) if s % 3 == 0}, reads

    # A non-finite loss is reported at the next logging step, naming the first bad step.
    loss_fn = trainer.loss_fn

    def nan_loss(outputs, masks):
        loss, parts = loss_fn(outputs, masks)
        return loss * float("nan"), parts

    monkeypatch.setattr(trainer, "loss_fn", nan_loss)
    inside[0] = False
    with pytest.raises(FloatingPointError, match=f"non-finite loss at global step {steps + 1} "):
        trainer.train_one_epoch(1)
    assert trainer.global_step == 3 * ((steps + 1) // 3 + 1)


def _strict(loader: Any) -> Any:
    """``loader`` whose batches' loop bodies run in CUDA's sync debug mode "error"."""

    def strict_steps() -> Iterator[Any]:
        for batch in loader:
            torch.cuda.set_sync_debug_mode("error")
            try:
                yield batch
            finally:
                torch.cuda.set_sync_debug_mode("default")

    return _stand_in("Strict", loader, strict_steps)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (sync debug mode)")
def test_training_steps_and_validation_batches_do_not_synchronise_cuda(tiny_trainer):
    trainer = tiny_trainer(log_every=1000, device="cuda")
    trainer.train_loader = _strict(trainer.train_loader)
    trainer.train_one_epoch(0)
    assert trainer.global_step >= 2
    # Validation reads its sums back once, after its batches; previews (off here) copy their
    # few images to the host by design.
    trainer.config.train.preview_every = 0
    trainer.val_loader = _strict(trainer.val_loader)
    assert trainer.validate(0)["images"] == len(trainer.val_set)


def test_deterministic_training_keeps_cudnn_benchmark_off(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
):
    # configure_backends sets the process-wide CUDA flags for a CUDA device only (they need no
    # GPU to be set): its CUDA branch runs here for a CPU trainer, so the order shows.
    real = trainer_mod.configure_backends
    monkeypatch.setattr(
        trainer_mod, "configure_backends", lambda perf, _dev: real(perf, torch.device("cuda"))
    )
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))
    values = {
        "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
        "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0)),
        "train": {"batch_size": 2, "device": "cpu", "deterministic": True},
        "performance": {"cudnn_benchmark": True},
        "output_dir": str(tmp_path / "run"),
    }
    before = (
        torch.get_float32_matmul_precision(),
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        Trainer(from_dict(ExperimentConfig, values)).close()
        # train.deterministic wins over performance.cudnn_benchmark (algorithm timing may pick
        # different convolution algorithms from one run to the next).
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is False
        # A later run of the same process without it (ablate's next variant) gets torch's
        # fast kernels and the algorithm timing it asks for again.
        values["train"]["deterministic"] = False
        values["output_dir"] = str(tmp_path / "run2")
        Trainer(from_dict(ExperimentConfig, values)).close()
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.benchmark = before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


# --------------------------------------------------------------------------- efficiency report
def test_efficiency_train_mode_writes_sane_records(tmp_path, capsys, small_branches):
    from pmgsam.efficiency import RECORD_KEYS, main

    out = tmp_path / "results" / "train.json"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--batch", "2", "--iters", "2",
         "--warmup", "1", "--device", "cpu", "--train", "--channels-last", "--cudnn-benchmark",
         "--json", str(out)]
    )  # fmt: skip
    [record] = json.loads(out.read_text())
    assert record["channels_last"] is True and record["cudnn_benchmark"] is True
    assert torch.backends.cudnn.benchmark is False  # a CUDA-only switch: untouched on CPU
    assert set(RECORD_KEYS) <= set(record)
    assert record["mode"] == "train" and record["device"] == "cpu"
    assert record["model"] == "pmgsam_tiny" and record["dtype"] == "fp32"
    assert (record["batch"], record["image_size"], record["compile"]) == (2, 64, False)
    assert record["torch"] == torch.__version__
    assert record["commit"] == "unknown" or len(record["commit"]) == 40
    # What traces a record made by an installed release, which has no checkout to name.
    assert record["pmgsam"] == pmgsam.__version__
    assert record["peak_memory_mb"] is None  # no CUDA allocator on CPU
    # Two images per step: throughput and latency describe the same timing.
    assert record["images_per_s"] > 0
    assert record["images_per_s"] == pytest.approx(2000.0 / record["latency_ms"])
    assert "train" in capsys.readouterr().out


def test_benchmark_table_is_rendered_from_the_records(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "render_table.py"
    spec = importlib.util.spec_from_file_location("render_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rec = {"device": "cpu", "mode": "train", "model": "m", "dtype": "fp32", "batch": 2,
           "image_size": 64, "compile": False, "images_per_s": 1.25, "latency_ms": 1600.0,
           "peak_memory_mb": None, "torch": "2.x", "commit": "0123456789abcdef"}  # fmt: skip
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_text(json.dumps([rec, {**rec, "mode": "sam_amg"}]))
    doc = tmp_path / "B.md"
    doc.write_text(f"intro\n{module.START}\nold table\n{module.END}\noutro\n")
    module.main(["--results", str(results), "--doc", str(doc)])
    lines = doc.read_text().splitlines()
    assert lines[0] == "intro" and lines[-1] == "outro" and "old table" not in lines
    rows = [ln for ln in lines if ln.startswith("| cpu")]
    assert rows[0] == (
        "| cpu | – | train | m | fp32 | 2 | 64 | False | – | 1.25 | 1600.0 | – | – | – | 2.x "
        "| 01234567 | a.json |"
    )
    assert "| sam_amg |" in rows[1]
    # A record with its first (compiling) call and speed options fills those columns; older
    # ones show "–". (A GPU's: cuDNN's timing is named on a GPU record only.)
    opts = {"channels_last": True, "cudnn_benchmark": True, "first_call_ms": 95000.0}
    opts["device"] = "NVIDIA H200"
    opts["flops_per_image"] = 2.6e12  # shown in GFLOPs
    (results / "c.json").write_text(json.dumps({**rec, "compile": "regional", **opts}))
    module.main(["--results", str(results), "--doc", str(doc)])
    row = [ln for ln in doc.read_text().splitlines() if "c.json" in ln][0]
    assert "| regional | channels-last, cudnn-benchmark | 1.25 | 1600.0 | 95000.0 | – |" in row
    assert "| 95000.0 | – | 2600.0 | 2.x |" in row
    # CPU timings name their torch thread count; a GPU's does not depend on it: "–".
    (results / "d.json").write_text(json.dumps([{**rec, "threads": 2}, {**rec, "threads": 1}]))
    (results / "e.json").write_text(json.dumps({**rec, "device": "NVIDIA H200", "threads": 8}))
    module.main(["--results", str(results), "--doc", str(doc)])
    lines = doc.read_text().splitlines()
    assert lines[lines.index(module.START) + 1].startswith("| device | threads | mode |")
    cpu = [ln for ln in lines if "d.json" in ln]
    assert [ln.startswith("| cpu | 2 | train |") for ln in cpu] == [True, False]
    assert cpu[1].startswith("| cpu | 1 | train |")
    assert [ln for ln in lines if "e.json" in ln][0].startswith("| NVIDIA H200 | – | train |")
    (results / "b.json").write_text(json.dumps({"device": "cpu"}))
    with pytest.raises(ValueError, match="b.json: record without key"):
        module.load_records(results)
