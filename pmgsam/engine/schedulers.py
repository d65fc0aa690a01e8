"""AdamW parameter groups, learning-rate schedule (linear warm-up, then step decay or
reduce-on-plateau) and early stopping.

The schedule and the early stop keep their state in plain numbers so that training checkpoints
stay loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch
from torch import nn

from pmgsam.engine.config import OptimConfig, ScheduleConfig

# Top-level modules of PMGSAM that belong to the guided decoder; every other trainable
# parameter (FPN neck, fusion, refiner) is part of the Pre-Mask generator.
DECODER_PREFIXES = ("decoder.",)


def _no_decay_ids(model: nn.Module) -> set:
    # Norm weights and biases are 1-D; learned tokens live in nn.Embedding tables. Decaying
    # them pulls scales/offsets towards 0, which only hurts.
    ids = {id(p) for p in model.parameters() if p.ndim <= 1}
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            ids.update(id(p) for p in module.parameters(recurse=False))
    return ids


def build_optimizer(
    model: nn.Module, config: OptimConfig, fused: Optional[bool] = None
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, in up to four groups.

    ``fused=True`` selects AdamW's single-kernel CUDA implementation (same update rule).

    Groups are ``decoder`` / ``premask`` crossed with decay / ``_no_decay``; each carries
    ``name``, ``lr_mult`` (read by :class:`WarmupSchedule`) and its weight decay. Frozen
    parameters (``requires_grad=False``) are left out.
    """
    no_decay = _no_decay_ids(model)
    groups: Dict[str, Dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "decoder" if name.startswith(DECODER_PREFIXES) else "premask"
        settings = getattr(config, part)
        decays = id(param) not in no_decay
        key = part if decays else f"{part}_no_decay"
        if key not in groups:
            wd = settings.weight_decay if settings.weight_decay is not None else config.weight_decay
            groups[key] = {
                "name": key,
                "params": [],
                "lr": config.lr * settings.lr_mult,
                "lr_mult": settings.lr_mult,
                "weight_decay": wd if decays else 0.0,
            }
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    betas = (float(config.betas[0]), float(config.betas[1]))
    return torch.optim.AdamW(
        list(groups.values()), lr=config.lr, betas=betas, eps=config.eps, fused=fused
    )


# AdamW's choice of kernel, which belongs to this process (its device and
# performance.fused_optimizer), not to the run that saved the state.
KERNEL_KEYS = ("fused", "foreach")


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: Dict[str, Any]) -> None:
    """Load ``saved`` into ``optimizer`` keeping ``optimizer``'s kernel choice.

    ``Optimizer.load_state_dict`` takes every group setting from ``saved``: a state saved
    unfused (on a CPU, or with ``performance.fused_optimizer: false``) and resumed fused would
    step unfused, and under fp16 loss scaling fail at the first step, the GradScaler handing
    the optimiser built fused a scale the unfused kernel refuses. Loading with the kernel
    settings replaced also puts AdamW's step counts where that kernel keeps them.
    """
    current = {key: optimizer.defaults.get(key) for key in KERNEL_KEYS}
    groups = [{**group, **current} for group in saved["param_groups"]]
    optimizer.load_state_dict({**saved, "param_groups": groups})


class WarmupSchedule:
    """Sets the learning rate of every parameter group before each optimiser step.

    The base learning rate at iteration ``it`` of epoch ``epoch`` (both 0-based) is
    :meth:`base_lr`; a parameter group gets ``base_lr * group["lr_mult"]`` (``lr_mult`` is 1
    when the group does not define it).

    Arguments:
      optimizer (torch.optim.Optimizer): the optimiser whose groups are driven.
      lr (float): base learning rate reached at the end of the warm-up (``optim.lr``).
      config (ScheduleConfig): warm-up, decay kind and plateau settings.
      iters_per_epoch (int): optimiser steps per epoch (warm-up granularity).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr: float,
        config: ScheduleConfig,
        iters_per_epoch: int,
    ) -> None:
        if iters_per_epoch <= 0:
            raise ValueError(f"iters_per_epoch must be positive, got {iters_per_epoch}")
        self.optimizer = optimizer
        self.lr = lr
        self.config = config
        self.iters_per_epoch = iters_per_epoch
        self.plateau_scale = 1.0
        self.plateau_best = math.inf
        self.plateau_bad = 0

    def base_lr(self, epoch: int, iteration: int = 0) -> float:
        """Base learning rate at ``iteration`` (0-based) of ``epoch`` (0-based)."""
        c = self.config
        warmup_iters = c.warmup_epochs * self.iters_per_epoch
        step = epoch * self.iters_per_epoch + iteration
        if step < warmup_iters:
            # Starting at lr / warmup_iters rather than 0 so that the first step does something.
            return self.lr * (step + 1) / warmup_iters
        if c.kind == "step":
            factor = c.step_gamma ** ((epoch - c.warmup_epochs) // c.step_every)
        else:
            factor = self.plateau_scale
        return max(self.lr * factor, c.min_lr)

    def step(self, epoch: int, iteration: int) -> float:
        """Apply the learning rate of (``epoch``, ``iteration``) to the optimiser; returns it."""
        lr = self.base_lr(epoch, iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        return lr

    def on_validation(self, epoch: int, val_loss: float) -> bool:
        """Feed the validation loss measured after ``epoch`` (0-based); True if lr was reduced.

        Only the plateau schedule reacts, and only after the warm-up: like
        ``torch.optim.lr_scheduler.ReduceLROnPlateau``, the rate is reduced when more than
        ``plateau_patience`` validations in a row fail to improve the best loss by the relative
        ``plateau_threshold``.
        """
        c = self.config
        if c.kind != "plateau" or epoch + 1 <= c.warmup_epochs:
            return False
        if val_loss < self.plateau_best * (1.0 - c.plateau_threshold):
            self.plateau_best = val_loss
            self.plateau_bad = 0
            return False
        self.plateau_bad += 1
        if self.plateau_bad <= c.plateau_patience:
            return False
        self.plateau_bad = 0
        floor = c.min_lr / self.lr
        new_scale = max(self.plateau_scale * c.plateau_factor, floor)
        reduced = new_scale < self.plateau_scale
        self.plateau_scale = new_scale
        return reduced

    def state_dict(self) -> Dict[str, Any]:
        return {
            "plateau_scale": self.plateau_scale,
            "plateau_best": self.plateau_best,
            "plateau_bad": self.plateau_bad,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.plateau_scale = float(state["plateau_scale"])
        self.plateau_best = float(state["plateau_best"])
        self.plateau_bad = int(state["plateau_bad"])


class EarlyStopping:
    """Tracks the best validation loss and says when to stop.

    Arguments:
      patience (int, optional): validations without improvement before stopping; ``None`` or 0
        never stops.
      min_delta (float): an improvement must lower the best loss by more than this.
    """

    def __init__(self, patience: Optional[int], min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_epoch = -1
        self.bad = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record the loss measured after ``epoch``; True if it is a new best."""
        if val_loss < self.best - self.min_delta:
            self.best = val_loss
            self.best_epoch = epoch
            self.bad = 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.bad >= self.patience

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad = int(state["bad"])
