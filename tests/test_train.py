"""Trainer, schedules, checkpoints, resume and DDP on CPU (tiny model at S=64, 8+2 images)."""

from __future__ import annotations

import copy
import importlib.util
import json
import socket
import warnings
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig, OptimConfig, PerformanceConfig, ScheduleConfig
from pmgsam.engine.schedulers import EarlyStopping, WarmupSchedule, build_optimizer
from pmgsam.engine.state import checkpoint_dir, load_training_state, resolve_weights
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.validation import run_validation
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import load_model_weights
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError, from_dict, to_dict

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cached_build(monkeypatch: pytest.MonkeyPatch, tiny_model: torch.nn.Module) -> None:
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(tiny_model))


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    def make(name: str = "run", **sections: Dict[str, Any]) -> ExperimentConfig:
        data = to_dict(data_config("dis5k", dis5k_root, num_workers=0))
        values: Dict[str, Any] = {
            "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
            "data": data,
            "optim": {"lr": 1e-3},
            "schedule": {"epochs": 2, "warmup_epochs": 1, "step_every": 1, "step_gamma": 0.5},
            "train": {"batch_size": 4, "device": "cpu", "log_every": 1, "preview_images": 2},
            "output_dir": str(tmp_path / name),
        }
        for key, value in sections.items():
            values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
        return from_dict(ExperimentConfig, values)

    return make


def _trainable(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.trainable_state_dict().items()}


def _assert_same_weights(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> None:
    # Same seeds, same order of operations: bit-identical, so no tolerance to hide a drift.
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --------------------------------------------------------------------------- optimisation
def test_steps_lower_loss_and_keep_frozen_branches(make_config, cached_build) -> None:
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


def test_param_groups(tiny_model) -> None:
    cfg = from_dict(
        OptimConfig,
        {"lr": 1e-3, "weight_decay": 0.05, "decoder": {"lr_mult": 0.5, "weight_decay": 0.1}},
    )
    opt = build_optimizer(tiny_model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"decoder", "decoder_no_decay", "premask", "premask_no_decay"}
    assert (
        groups["decoder"]["lr"] == pytest.approx(5e-4) and groups["decoder"]["weight_decay"] == 0.1
    )
    assert (
        groups["premask"]["lr"] == pytest.approx(1e-3) and groups["premask"]["weight_decay"] == 0.05
    )
    assert groups["premask_no_decay"]["weight_decay"] == 0.0
    names = {id(p): n for n, p in tiny_model.named_parameters()}
    seen = [names[id(p)] for g in opt.param_groups for p in g["params"]]
    trainable = [n for n, p in tiny_model.named_parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable)  # each trainable parameter once, no frozen one
    no_decay = {
        names[id(p)] for g in opt.param_groups if "no_decay" in g["name"] for p in g["params"]
    }
    assert "decoder.output_token.weight" in no_decay  # an nn.Embedding
    assert all(tiny_model.get_parameter(n).ndim <= 1 or "output_token" in n for n in no_decay)
    for name, group in groups.items():
        in_decoder = {names[id(p)].startswith("decoder.") for p in group["params"]}
        assert in_decoder == {name.startswith("decoder")}, name


def test_param_groups_follow_top_level_prefix_and_adamw_settings() -> None:
    # Only the top-level "decoder." module is the guided decoder: a Pre-Mask submodule whose
    # name merely contains "decoder" stays in the premask groups.
    model = torch.nn.ModuleDict(
        {
            "decoder": torch.nn.Linear(2, 2),
            "refiner": torch.nn.ModuleDict({"decoder_like": torch.nn.Linear(2, 2)}),
        }
    )
    cfg = from_dict(
        OptimConfig,
        {"lr": 1e-3, "betas": [0.8, 0.95], "eps": 1e-6, "decoder": {"lr_mult": 0.1}},
    )
    opt = build_optimizer(model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert [id(p) for p in groups["premask"]["params"]] == [
        id(model["refiner"]["decoder_like"].weight)
    ]
    assert groups["premask"]["lr"] == pytest.approx(1e-3)
    assert groups["decoder"]["lr"] == pytest.approx(1e-4)
    for group in opt.param_groups:  # AdamW settings from the config, in order
        assert group["betas"] == (0.8, 0.95) and group["eps"] == 1e-6


# --------------------------------------------------------------------------- schedules
def _schedule(**kw: Any) -> tuple:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW(
        [
            {"params": [param], "lr_mult": 1.0},
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr_mult": 0.5},
        ],
        lr=1e-3,
    )
    cfg = from_dict(ScheduleConfig, {"epochs": 30, **kw})
    return WarmupSchedule(opt, 1e-3, cfg, iters_per_epoch=5), opt


def test_warmup_then_step_decay() -> None:
    sched, opt = _schedule(warmup_epochs=2, kind="step", step_every=3, step_gamma=0.5)
    expected = {
        (0, 0): 1e-4,  # (0 + 1) / 10 of the 10 warm-up iterations
        (0, 4): 5e-4,
        (1, 4): 1e-3,
        (2, 0): 1e-3,
        (4, 4): 1e-3,
        (5, 0): 5e-4,  # 3 epochs after the warm-up
        (8, 2): 2.5e-4,
        (11, 0): 1.25e-4,
    }
    for (epoch, it), lr in expected.items():
        assert sched.step(epoch, it) == pytest.approx(lr), (epoch, it)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
        assert opt.param_groups[1]["lr"] == pytest.approx(lr / 2)
    floored, _ = _schedule(warmup_epochs=2, step_every=3, step_gamma=0.5, min_lr=2e-4)
    assert floored.base_lr(11) == pytest.approx(2e-4)
    assert floored.base_lr(0, 0) == pytest.approx(1e-4)  # warm-up ignores the floor


def test_plateau_schedule() -> None:
    sched, _ = _schedule(
        warmup_epochs=1,
        kind="plateau",
        plateau_factor=0.5,
        plateau_patience=2,
        min_lr=3e-4,
        plateau_threshold=0.0,
    )
    losses = [5.0, 1.0, 1.0, 1.1, 1.0, 0.9, 0.95, 0.92, 0.91, 1.0, 1.0, 1.0]
    reduced = [sched.on_validation(epoch, loss) for epoch, loss in enumerate(losses)]
    # epoch 0 is warm-up (ignored); epoch 1 sets best 1.0; epochs 2-4 fail -> reduce at 4;
    # epoch 5 improves; 6-8 fail -> reduce at 8 (floored at min_lr); 9-11 fail, already at floor.
    assert reduced == [False] * 4 + [True] + [False] * 3 + [True] + [False] * 3
    assert sched.base_lr(12) == pytest.approx(3e-4)
    fresh, _ = _schedule(warmup_epochs=1, kind="plateau")
    fresh.load_state_dict(sched.state_dict())
    assert fresh.base_lr(12) == pytest.approx(3e-4) and fresh.plateau_best == 0.9


def test_early_stopping_counts_patience() -> None:
    stop = EarlyStopping(patience=3)
    flags = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.91, 0.9, 0.92]):
        stop.update(epoch, loss)
        flags.append(stop.should_stop)
    assert flags == [False, False, False, False, True, True]  # 0.9 again is no improvement
    assert stop.best == 0.9 and stop.best_epoch == 1
    assert not EarlyStopping(patience=None).should_stop


def test_plateau_schedule_matches_torch_reduce_lr_on_plateau() -> None:
    # Reference: torch's ReduceLROnPlateau (mode min, relative threshold, no cooldown) fed the
    # same losses. Hand trace with patience 2, threshold 0.1 (an improvement must go below
    # 0.9 * best): 10 best; 9.5, 9.5 bad 1, 2 (9.5 is not < 9.0, though it is < 10 - 0.1);
    # 8.0 best (count reset); 8.0, 7.5, 7.5 bad 1, 2, 3 (7.5 is not < 7.2) -> halve at
    # epoch 6 (count reset); 7.5 x3 -> halve at epoch 9; 7.5 x2 -> bad 1, 2. An absolute
    # threshold (best - 0.1) would take 9.5 and 7.5 as improvements and halve at epoch 8 only.
    losses = [10.0, 9.5, 9.5, 8.0, 8.0, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5]
    hand = [1e-3] * 6 + [5e-4] * 3 + [2.5e-4] * 3
    settings = {"plateau_factor": 0.5, "plateau_patience": 2, "plateau_threshold": 0.1}
    sched, _ = _schedule(warmup_epochs=0, kind="plateau", min_lr=1e-6, **settings)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        ref_opt, mode="min", factor=0.5, patience=2, threshold=0.1, threshold_mode="rel",
        cooldown=0, min_lr=1e-6,
    )  # fmt: skip
    ours, theirs = [], []
    for epoch, loss in enumerate(losses):
        sched.on_validation(epoch, loss)
        ref.step(loss)
        ours.append(sched.base_lr(epoch + 1))
        theirs.append(ref_opt.param_groups[0]["lr"])
    assert theirs == pytest.approx(hand)
    assert ours == pytest.approx(hand)


def test_early_stopping_min_delta_and_reset() -> None:
    # min_delta 0.1: 0.95 is lower than 1.0 but not by more than 0.1, so it is no new best.
    stop = EarlyStopping(patience=3, min_delta=0.1)
    assert stop.update(0, 1.0) and not stop.update(1, 0.95)
    assert stop.best == 1.0 and stop.bad == 1
    assert stop.update(2, 0.85)  # 0.85 < 1.0 - 0.1
    # An improvement resets the count: bad, best, bad, bad is not 3 bad validations in a row.
    stop = EarlyStopping(patience=3)
    for epoch, loss in enumerate([1.0, 1.1, 0.8, 0.9, 0.9]):
        stop.update(epoch, loss)
    assert stop.bad == 2 and not stop.should_stop
    # patience 0 disables early stopping, like None.
    never = EarlyStopping(patience=0)
    for epoch in range(5):
        never.update(epoch, 1.0)
    assert not never.should_stop


def test_early_stop_run_writes_outputs(make_config, cached_build, tmp_path) -> None:
    # lr_mult 0 freezes the weights, so the validation loss never improves after epoch 1.
    cfg = make_config(
        optim={"decoder": {"lr_mult": 0.0}, "premask": {"lr_mult": 0.0}},
        schedule={"epochs": 5, "early_stop_patience": 1},
        train={"amp": "bf16"},
    )
    with pytest.warns(UserWarning, match="needs CUDA"):
        trainer = Trainer(cfg)
    assert trainer.amp_dtype is None
    summary = trainer.fit()
    assert summary["stopped_early"] and summary["epochs_completed"] == 2
    out = Path(cfg.output_dir)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and lines[0]["best"] and not lines[1]["best"]
    assert lines[0]["val_loss"] == pytest.approx(lines[1]["val_loss"])
    assert lines[0]["val_images"] == 2 and 0.0 <= lines[0]["val_mae"] <= 1.0
    assert "epoch 2/5" in (out / "train.log").read_text()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert from_dict(ExperimentConfig, yaml.safe_load((out / "config.yaml").read_text())) == cfg
    # A run folder given as init_from means its best weights.
    best = resolve_weights(out)
    assert best == checkpoint_dir(out, "best") / "model.safetensors"
    init = Trainer(make_config("init", train={"init_from": str(out)}))
    init.close()
    _assert_same_weights(_trainable(init.model), _trainable(trainer.model))


def test_run_without_a_finite_validation_loss_claims_no_best(
    make_config, cached_build, monkeypatch
) -> None:
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


# --------------------------------------------------------------------------- validation
class _LogitsInImages(torch.nn.Module):
    """Returns image channel 0 as the mask logits and channel 1 as the Pre-Mask logits."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"mask": x[:, :1], "pre_mask": x[:, 1:2]}


def _fg_fraction_loss(outputs: Dict[str, torch.Tensor], target: torch.Tensor) -> tuple:
    # A stand-in loss whose batch value is known by hand: the GT foreground fraction.
    return target.float().mean(), {}


def test_run_validation_means_over_images_by_hand() -> None:
    s = 4
    gt = torch.zeros(3, 1, s, s)
    gt[0, 0, :2] = 1.0  # image 0: top 2 rows (8 px); image 1 empty; image 2 full
    gt[2] = 1.0
    logits = torch.full((3, 1, s, s), -20.0)
    logits[0, 0, 0] = 20.0  # image 0: row 0 only (4 of the 8 GT pixels)
    logits[2] = 20.0
    images = torch.cat([logits, torch.full_like(logits, -20.0), torch.zeros_like(logits)], 1)
    size = torch.tensor([[s, s]])

    def batch(sl: slice) -> dict:
        return {"image": images[sl], "mask": gt[sl], "orig_size": size.expand(len(gt[sl]), 2)}

    loader = [batch(slice(0, 2)), batch(slice(2, 3))]  # uneven batches: 2 images, then 1
    model = _LogitsInImages().train()
    stats, grid = run_validation(
        model, loader, _fg_fraction_loss, torch.device("cpu"), None, PerformanceConfig(), 2
    )
    assert model.training  # back in train mode for the next epoch
    # Loss: batch values 8/32 and 16/16, weighted by images: (2 * 0.25 + 1 * 1) / 3 = 0.5.
    assert stats["loss"] == pytest.approx(0.5)
    # Final mask (channel 0), not the Pre-Mask (all background, IoU 0, 1, 0).
    # Image 0: IoU 4/8, precision 1, recall 1/2 -> F = 1.3 * 0.5 / (0.3 + 0.5) = 0.8125,
    # MAE 4/16; images 1 and 2 are exact: IoU = F = 1, MAE 0.
    assert stats["iou"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert stats["f"] == pytest.approx((0.8125 + 1 + 1) / 3)
    assert stats["mae"] == pytest.approx(0.25 / 3, abs=1e-6)
    assert stats["images"] == 3.0
    # Two previews asked for: 2 rows (image, GT, Pre-Mask, mask) of 4x4 cells, padding 2.
    assert tuple(grid.shape) == (3, 2 + 2 * (s + 2), 2 + 4 * (s + 2))

    def cell(r: int, c: int) -> torch.Tensor:  # make_grid's cell r, c
        y, x = 2 + r * (s + 2), 2 + c * (s + 2)
        return grid[:, y : y + s, x : x + s]

    torch.testing.assert_close(cell(0, 1), gt[0].expand(3, -1, -1))
    torch.testing.assert_close(cell(0, 2), torch.sigmoid(images[0, 1:2]).expand(3, -1, -1))
    torch.testing.assert_close(cell(0, 3), torch.sigmoid(logits[0]).expand(3, -1, -1))
    # Nothing to validate: zero images, not one.
    empty, none = run_validation(
        model, [], _fg_fraction_loss, torch.device("cpu"), None, PerformanceConfig(), 2
    )
    assert empty["images"] == 0.0 and none is None


# --------------------------------------------------------------------------- checkpoints
def _crash_at_step(
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


def test_resume_after_interruption_equals_straight_run(
    make_config, cached_build, monkeypatch
) -> None:
    straight = Trainer(make_config("straight"))
    straight.fit()

    cfg = make_config("interrupted")
    _crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)  # the second epoch's first step

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


def test_resume_with_loader_workers_equals_straight_run(
    make_config, cached_build, monkeypatch
) -> None:
    # Augmentations are drawn in worker processes, seeded from the main process's RNG at each
    # epoch's iterator: a resumed run must reproduce them exactly too.
    data = {"num_workers": 2}
    straight = Trainer(make_config("straight_w", data=data))
    straight.fit()
    cfg = make_config("interrupted_w", data=data)
    _crash_at_step(monkeypatch, cfg, epoch=1, iteration=1)  # after the second epoch's first step
    resumed = Trainer(cfg, resume=Path(cfg.output_dir))
    assert resumed.epoch == 1
    resumed.fit()
    _assert_same_weights(_trainable(resumed.model), _trainable(straight.model))


def test_interrupt_in_first_epoch_leaves_loadable_last(
    make_config, cached_build, monkeypatch
) -> None:
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
    spec = importlib.util.spec_from_file_location("train_cli", REPO / "train.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert exit_status(cli.main, ["--config", REPO / "configs/demo.yaml", "optim.lrr=1"]) == 2
    assert "optim.lrr" in capsys.readouterr().err
    assert exit_status(cli.main, ["--config", REPO / "configs/demo.yaml", "train.amp=fp8"]) == 2
    assert "train.amp" in capsys.readouterr().err
    assert exit_status(cli.main, []) == 2
    assert "--config" in capsys.readouterr().err


# --------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg_dict: Dict[str, Any], out: str) -> None:
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    trainer = Trainer(from_dict(ExperimentConfig, cfg_dict))
    trainer.fit()
    torch.save(_trainable(trainer.model), Path(out) / f"rank{rank}.pt")


def test_ddp_two_processes_equal_one_process_at_same_global_batch(make_config, tmp_path) -> None:
    # Without augmentation both runs see the same images per step: DistributedSampler gives
    # rank r the shuffled indices r::2, i.e. the single process's batch of 4 split in two, and
    # the DDP gradient average equals the batch-of-4 mean; only summation order differs.
    # AdamW's eps is raised to 1 so that its update is ~lr·gradient: with the usual 1e-8,
    # parameters whose gradient is zero in exact arithmetic (attention key biases, conv biases
    # before a norm) turn rounding noise into ±lr steps that no tolerance could tell apart.
    common = {"data": {"augment": {"enabled": False}}, "optim": {"lr": 0.05, "eps": 1.0}}
    schedule = {"epochs": 1, "warmup_epochs": 0}
    cfg = make_config("ddp", schedule=schedule, train={"batch_size": 2}, **common)
    mp.spawn(_ddp_worker, args=(2, _free_port(), to_dict(cfg), str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
    state = load_training_state(cfg.output_dir)
    _assert_same_weights(state["model"], w0)
    # 8 images, 2 per rank and step -> 2 steps; validation all-reduced over both shards.
    assert state["global_step"] == 2
    record = json.loads((Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()[0])
    assert record["val_images"] == 2

    single = Trainer(make_config("single", schedule=schedule, train={"batch_size": 4}, **common))
    before = _trainable(single.model)
    single.fit()
    after = _trainable(single.model)
    assert single.global_step == 2
    # Updates (~1e-3) agree to float32 rounding of the weights (~1e-8); a sum instead of a mean
    # over ranks, or a rank training on its own unsynchronised gradient, is off by ~100 %.
    moved = 0
    for key in w0:
        update_ddp, update_single = w0[key] - before[key], after[key] - before[key]
        moved += int(update_single.abs().max() > 1e-5)
        torch.testing.assert_close(update_ddp, update_single, rtol=1e-3, atol=1e-7, msg=key)
    assert moved > len(w0) // 2
