"""Trainer runs on CPU (tiny model with a small Hiera at S=32, 8+2 images): training steps,
early stopping, checkpoints, resume, the command line and DDP (schedules:
tests/test_schedulers.py, validation: tests/test_validation.py, per-epoch augmentation:
tests/test_train_seeding.py and tests/test_augmentation_draws.py)."""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch
import yaml
from cli_cases import train_main
from conftest import data_configs_in
from free_port_ranks import start_ranks_on_a_free_port
from small_branches import use_small_branches
from training_cases import crash_at_step, tiny_dis5k_values

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import checkpoint_dir, load_training_state, resolve_weights
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.checkpoint import branch_digests, load_model_weights
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES, PMGSAM
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError, from_dict, to_dict

REPO = Path(__file__).resolve().parents[1]


# Every model here has conftest's small frozen branches, built by the trainer, at S=32: no
# property of this file depends on the frozen branches' size or on the side, and Hiera-T's
# 27 M weights took seconds per run to build or copy, digest and run.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


def _config(
    out: Path, dis5k_root: Path, data_config: Callable[..., Any], name: str = "run", **sections: Any
) -> ExperimentConfig:
    values = tiny_dis5k_values(out / name, dis5k_root, data_config, image_size=32)
    values["optim"] = {"lr": 1e-3}
    values["schedule"] = {"epochs": 2, "warmup_epochs": 1, "step_every": 1, "step_gamma": 0.5}
    values["train"].update(log_every=1, preview_images=2)
    for key, value in sections.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return from_dict(ExperimentConfig, values)


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    def make(name: str = "run", **sections: Dict[str, Any]) -> ExperimentConfig:
        return _config(tmp_path, dis5k_root, data_config, name, **sections)

    return make


@pytest.fixture(scope="module")
def straight(
    tmp_path_factory: pytest.TempPathFactory, dis5k_root: Path, one_thread_module: None
) -> Trainer:
    """The uninterrupted run of make_config's defaults, which the resume tests must equal,
    trained once for the module (read-only: tests copy its model). With or without loader
    workers the runs are bit-identical (each augmentation is drawn from seed, epoch, index)."""
    tmp = tmp_path_factory.mktemp("straight")
    data_config = data_configs_in(tmp / "splits")  # conftest's data_config is per test
    with pytest.MonkeyPatch.context() as mp:
        use_small_branches(mp)
        trainer = Trainer(_config(tmp, dis5k_root, data_config, "straight"))
        trainer.fit()
    return trainer


def _trainable(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.trainable_state_dict().items()}


def _assert_same_weights(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> None:
    # Same seeds, same order of operations: bit-identical, so no tolerance to hide a drift.
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --------------------------------------------------------------------------- training steps
def test_steps_lower_loss_and_keep_frozen_branches(make_config) -> None:
    trainer = Trainer(make_config(schedule={"warmup_epochs": 0, "step_every": 100}))
    model = trainer.model
    frozen = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(("hiera.", "u2net."))
    }
    batch = next(iter(trainer.train_loader))
    trainer.net.train()
    assert not model.hiera.training and not model.u2net.training and model.decoder.training
    losses = []
    for it in range(8):
        losses.append(trainer._train_step(batch, epoch=0, iteration=it)["loss"].item())
        if it == 0:
            for name, p in model.named_parameters():
                if p.requires_grad:
                    assert p.grad is not None, f"{name} got no gradient (DDP would hang)"
                else:
                    assert p.grad is None, f"frozen {name} got a gradient"
    trainer.close()
    assert losses[-1] < losses[0] - 0.05, losses
    # Frozen weights and BatchNorm statistics are bit-identical after training steps.
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())


def test_set_up_hashes_each_frozen_branch_once(make_config, monkeypatch) -> None:
    # Hashing Hiera-B+ and U2-Net takes seconds: once per branch, for the state and checkpoints.
    counts: Counter = Counter()
    original = PMGSAM.frozen_digest

    def counted(self: PMGSAM, branches: Any = FROZEN_BRANCHES) -> str:
        counts.update(branches)
        return original(self, branches)

    monkeypatch.setattr(PMGSAM, "frozen_digest", counted)
    trainer = Trainer(make_config())
    trainer.close()
    assert counts == Counter(FROZEN_BRANCHES)  # {hiera: 1, u2net: 1}
    monkeypatch.setattr(PMGSAM, "frozen_digest", original)  # the digests, counted no more
    assert trainer.state_dict()["frozen_sha256"] == branch_digests(trainer.model)


# --------------------------------------------------------------------------- whole runs
def test_early_stop_run_writes_outputs(make_config, tmp_path) -> None:
    # lr_mult 0 freezes the weights, so the validation loss never improves after epoch 1.
    cfg = make_config(
        optim={"decoder": {"lr_mult": 0.0}, "premask": {"lr_mult": 0.0}},
        schedule={"epochs": 5, "early_stop_patience": 1},
        train={"amp": "bf16"},
    )
    trainer = Trainer(cfg)  # bf16 on the CPU: float32 (tests/test_distributed.py)
    assert trainer.amp_dtype is None
    summary = trainer.fit()
    assert summary["stopped_early"] and summary["epochs_completed"] == 2
    out = Path(cfg.output_dir)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and lines[0]["best"] and not lines[1]["best"]
    assert lines[0]["val_loss"] == pytest.approx(lines[1]["val_loss"])
    assert lines[0]["val_images"] == 2 and 0.0 <= lines[0]["val_mae"] <= 1.0
    assert "epoch 2/5" in (out / "train.log").read_text()
    # Resuming an early-stopped run trains no further epoch (it trained one more before).
    resumed = Trainer(cfg, resume=out)
    assert resumed.finished
    again = resumed.fit()
    assert again["stopped_early"] and again["epochs_completed"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert from_dict(ExperimentConfig, yaml.safe_load((out / "config.yaml").read_text())) == cfg
    # A run folder given as init_from means its best weights.
    best = resolve_weights(out)
    assert best == checkpoint_dir(out, "best") / "model.safetensors"
    init = Trainer(make_config("init", train={"init_from": str(out)}))
    init.close()
    _assert_same_weights(_trainable(init.model), _trainable(trainer.model))


def test_run_without_a_finite_validation_loss_claims_no_best(make_config, monkeypatch) -> None:
    # What a diverged run (optim.lr=inf, before floats had to be finite) measured.
    nan = float("nan")
    stats = {"loss": nan, "mae": nan, "iou": nan, "f": nan, "images": 2}
    monkeypatch.setattr(Trainer, "validate", lambda self, epoch: dict(stats))
    cfg = make_config(schedule={"epochs": 1, "warmup_epochs": 0})
    summary = Trainer(cfg).fit()
    assert summary["best_val_loss"] is None and summary["best_epoch"] is None
    assert not checkpoint_dir(cfg.output_dir, "best").exists()
    record = json.loads((Path(cfg.output_dir) / "metrics.jsonl").read_text())
    assert record["val_loss"] is None and record["best"] is False


# --------------------------------------------------------------------------- checkpoints
def test_resume_after_interruption_equals_straight_run(make_config, monkeypatch, straight) -> None:
    cfg = make_config("interrupted")
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)  # the second epoch's first step

    run = Path(cfg.output_dir)
    state = load_training_state(run)
    assert state["epoch"] == 1 and state["global_step"] == 2
    assert not list(run.rglob("*.tmp"))  # no half-written file left behind
    load_model_weights(
        copy.deepcopy(straight.model), checkpoint_dir(run, "last") / "model.safetensors"
    )
    assert "--resume" in (run / "train.log").read_text()

    with pytest.raises(ConfigError, match=r"optim\.lr"):
        Trainer(make_config("interrupted", optim={"lr": 5e-4}), resume=run)
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg)  # a fresh start must not overwrite the interrupted run

    resumed = Trainer(cfg, resume=run)
    assert resumed.epoch == 1
    summary = resumed.fit()
    assert summary["epochs_completed"] == 2
    _assert_same_weights(_trainable(resumed.model), _trainable(straight.model))
    a = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    b = [
        json.loads(x)
        for x in (Path(straight.config.output_dir) / "metrics.jsonl").read_text().splitlines()
    ]
    assert [x["epoch"] for x in a] == [1, 2]
    assert a[1]["val_loss"] == b[1]["val_loss"]


def test_resume_with_persistent_loader_workers_equals_straight_run(
    make_config, monkeypatch, straight
) -> None:
    # Augmentations are drawn in worker processes, which persistent workers (the default)
    # keep, with their RNG, from one epoch to the next; the resumed run starts new ones. Each
    # sample's draw depends on (seed, epoch, index) alone, so the resumed run equals exactly
    # the straight run, which loads in-process (so do runs without persistent workers:
    # test_augmentation_draws.py).
    data = {"num_workers": 2}
    perf = {"persistent_workers": True}
    cfg = make_config("interrupted_w", data=data, performance=perf)
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=1)  # after the second epoch's first step
    resumed = Trainer(cfg, resume=Path(cfg.output_dir))
    assert resumed.epoch == 1
    workers = []
    original_close = Trainer.close

    def close(self: Trainer) -> None:
        for loader in (self.train_loader, self.val_loader):
            workers.extend(loader._iterator._workers if loader._iterator is not None else [])
        original_close(self)

    monkeypatch.setattr(Trainer, "close", close)
    resumed.fit()
    monkeypatch.setattr(Trainer, "close", original_close)
    # Persistent workers stop when the run ends, not when the trainer object is freed.
    assert len(workers) == 4 and not any(w.is_alive() for w in workers)
    _assert_same_weights(_trainable(resumed.model), _trainable(straight.model))


def test_interrupt_in_first_epoch_leaves_loadable_last(make_config, monkeypatch) -> None:
    def interrupt(self: Trainer, *args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_step", interrupt)
    cfg = make_config("first")
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg).fit()
    state = load_training_state(cfg.output_dir)
    assert state["epoch"] == 0 and state["global_step"] == 0 and state["config"] == to_dict(cfg)
    assert state["optimizer"]["state"] == {}  # saved before any step
    fresh = trainer_mod.build_model(cfg.model)
    load_model_weights(fresh, checkpoint_dir(cfg.output_dir, "last") / "model.safetensors")


def test_cli_reports_bad_keys(capsys: pytest.CaptureFixture) -> None:
    assert exit_status(train_main, ["--config", REPO / "configs/demo.yaml", "optim.lrr=1"]) == 2
    assert "optim.lrr" in capsys.readouterr().err
    assert exit_status(train_main, ["--config", REPO / "configs/demo.yaml", "train.amp=fp8"]) == 2
    assert "train.amp" in capsys.readouterr().err
    assert exit_status(train_main, []) == 2
    assert "--config" in capsys.readouterr().err


# --------------------------------------------------------------------------- DDP
def _step_losses(run: Path) -> list:
    """The loss of each step line of ``run``'s train.log."""
    lines = (run / "train.log").read_text().splitlines()
    return [float(line.split("| loss ")[1].split()[0]) for line in lines if "| loss " in line]


def _ddp_worker(rank: int, world: int, port: int, cfg_dict: Dict[str, Any], out: str) -> None:
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    # Before any op: a forked process must not use the parent's OpenMP thread pool.
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    trainer = Trainer(from_dict(ExperimentConfig, cfg_dict))
    trainer.fit()
    torch.save(_trainable(trainer.model), Path(out) / f"rank{rank}.pt")


def test_ddp_two_processes_equal_one_process_at_same_global_batch(make_config, tmp_path) -> None:
    # Both runs see the same images per step: DistributedSampler gives rank r the shuffled
    # indices r::2, i.e. the single process's batch of 4 split in two, each augmented as
    # (seed, epoch, index) says whichever process loads it, and the DDP gradient average
    # equals the batch-of-4 mean; only summation order differs.
    # AdamW's eps is raised to 1 so that its update is ~lr·gradient: with the usual 1e-8,
    # parameters whose gradient is zero in exact arithmetic (attention key biases, conv biases
    # before a norm) turn rounding noise into ±lr steps that no tolerance could tell apart.
    common = {"optim": {"lr": 0.05, "eps": 1.0}}
    schedule = {"epochs": 1, "warmup_epochs": 0}
    single = Trainer(make_config("single", schedule=schedule, train={"batch_size": 4}, **common))
    before = _trainable(single.model)
    single.fit()
    after = _trainable(single.model)
    assert single.global_step == 2

    cfg = make_config("ddp", schedule=schedule, train={"batch_size": 2}, **common)
    # Forked, not spawned: the ranks inherit this process's modules (importing hiera pulls in
    # timm, torchvision and torch._dynamo, seconds in each new process; the single run above
    # has imported them) and the small_branches patch. They meet through env://, as torchrun's
    # do: a port taken before rank 0 bound it starts them again, on another, in a new folder.
    start_ranks_on_a_free_port(
        _ddp_worker,
        2,
        (to_dict(cfg), str(tmp_path)),
        before_retry=lambda: shutil.rmtree(cfg.output_dir, ignore_errors=True),
    )
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
    state = load_training_state(cfg.output_dir)
    _assert_same_weights(state["model"], w0)
    # 8 images, 2 per rank and step -> 2 steps; validation all-reduced over both shards.
    assert state["global_step"] == 2 and state["world_size"] == 2
    # One process would halve the global batch: refused, naming the command that fits.
    with pytest.raises(ConfigError, match="resume with torchrun --nproc_per_node 2 train.py"):
        Trainer(cfg, resume=cfg.output_dir)
    record = json.loads((Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()[0])
    assert record["val_images"] == 2
    # Each step's logged loss is the global batch's, as the single process logs it (rank 0's
    # own half-batch differs by ~0.1; the printed values have 4 decimals).
    ddp_steps, single_steps = (_step_losses(Path(c.output_dir)) for c in (cfg, single.config))
    assert len(ddp_steps) == 2
    assert ddp_steps == pytest.approx(single_steps, abs=2e-4)

    # Updates (~1e-3) agree to float32 rounding of the weights (~1e-8); a sum instead of a mean
    # over ranks, or a rank training on its own unsynchronised gradient, is off by ~100 %.
    moved = 0
    for key in w0:
        update_ddp, update_single = w0[key] - before[key], after[key] - before[key]
        moved += int(update_single.abs().max() > 1e-5)
        torch.testing.assert_close(update_ddp, update_single, rtol=1e-3, atol=1e-7, msg=key)
    assert moved > len(w0) // 2


def test_an_epochs_lr_is_logged_before_the_plateau_reduction_after_it(make_config) -> None:
    # Threshold 0.99: no validation after the first counts as better; patience 0: epoch 2's
    # validation halves the lr for epoch 3. Epoch 2 itself trained at the full lr.
    schedule = {"kind": "plateau", "epochs": 2, "warmup_epochs": 0, "plateau_patience": 0,
                "plateau_threshold": 0.99, "plateau_factor": 0.5}  # fmt: skip
    trainer = Trainer(make_config("plateau", schedule=schedule))
    trainer.fit()
    run = Path(trainer.config.output_dir)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in records] == [pytest.approx(1e-3), pytest.approx(1e-3)]
    assert "base lr now 0.0005" in (run / "train.log").read_text()
