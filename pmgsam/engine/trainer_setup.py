"""The set-up and checkpoint plumbing of :class:`~pmgsam.engine.trainer.Trainer`.

Opening the run folder (its lock, train.log, the state to resume), the loaders, the optimiser,
schedule and early stop, the DDP wrapper, the start of the training log, the saved training
state, and closing it all. :class:`TrainerSetup` is the base class; ``Trainer.__init__``
decides what is built (the model, the runtime) and sets the attributes annotated below.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import torch
from torch.nn.parallel import DistributedDataParallel

from pmgsam.engine import distributed as D
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.losses import SegmentationLoss
from pmgsam.engine.performance import adamw_fused
from pmgsam.engine.resume_checks import (
    check_frozen_files,
    check_not_a_rewind,
    check_resume_config,
    check_world_size,
)
from pmgsam.engine.run_lock import RunLock
from pmgsam.engine.schedulers import (
    EarlyStopping,
    WarmupSchedule,
    build_optimizer,
    load_optimizer_state,
)
from pmgsam.engine.state import (
    check_new_run_folder,
    checkpoint_dir,
    load_training_state,
    remove_run_temporaries,
    rng_state,
    run_dir_of,
    save_checkpoint,
    write_config,
)
from pmgsam.engine.train_data import build_training_data, warn_shared_images
from pmgsam.engine.training_log import TrainingLog, attach_run_log, truncate_metrics
from pmgsam.modeling.checkpoint import CHECKPOINTS
from pmgsam.utils.cli import same_on_every_process
from pmgsam.utils.config import to_dict
from pmgsam.utils.loaders import stop_workers

# Records under the trainer's name, as before the split: train.log and tests read them so.
logger = logging.getLogger("pmgsam.engine.trainer")
#: How the saved run drew its augmentations (states without it drew them from the random
#: state of the process loading each sample).
AUGMENTATION_DRAWS = "seed-epoch-index"


class TrainerSetup:
    """Run folder, loaders, optimisation, logging and saved state of a training run."""

    config: ExperimentConfig
    dist: D.DistInfo
    device: torch.device
    is_main: bool
    out: Path
    perf: Any
    amp_dtype: Optional[torch.dtype]
    model: Any  # the PMG-SAM model (trainable_parameters, load_trainable_state_dict)
    _lock: RunLock
    _detach_log: Optional[Callable[[], None]]
    _log: Optional[TrainingLog]
    _branch_digests: Dict[str, str]
    data_sample_fingerprint: str  # of the training and validation files (train_data)
    _buffers_train: bool

    def _open_run(self, resume: Optional[Union[str, Path]]) -> Optional[Dict[str, Any]]:
        """Check the run folder (and the state to resume), take its lock, attach train.log;
        returns the training state to continue, if any."""
        config = self.config
        continuing = resume is not None and run_dir_of(resume).resolve() == self.out.resolve()
        if continuing and self.is_main and (self.out / CHECKPOINTS).is_dir():
            self._lock.acquire()  # a running process may be rewriting the state read here
        # Each rank reads the same state and files and refuses alike: said once per node.
        with same_on_every_process():
            resumed = load_training_state(resume) if resume is not None else None
            if resumed is not None:
                check_resume_config(resumed["config"], config, resumed["path"])
                check_frozen_files(config, resumed["path"])
                check_world_size(resumed, self.dist.world_size)
                if continuing:
                    check_not_a_rewind(resumed, self.out)
        # Rank 0 alone: it creates the folder and its lock right after, which another rank
        # checking then would take for a foreign folder. If it refuses, it exits before the
        # barrier in _build_data and torchrun stops the other ranks.
        if not continuing and self.is_main:
            check_new_run_folder(self.out)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()  # before anything in the folder is written
            self._detach_log = attach_run_log(self.out)
            remove_run_temporaries(self.out)
            if resumed is None:  # a resumed run's config is written once its data is checked
                write_config(self.out, config)
        return resumed

    def _build_optimisation(self) -> None:
        config = self.config
        # The trainer checks each batch's mask on the host (a check on the GPU would wait for it).
        self.loss_fn = SegmentationLoss(config.loss, check_device_targets=False)
        self.optimizer = build_optimizer(
            self.model, config.optim, fused=adamw_fused(self.perf, self.device)
        )
        self.schedule = WarmupSchedule(
            self.optimizer, config.optim.lr, config.schedule, len(self.train_loader)
        )
        self.early_stop = EarlyStopping(
            config.schedule.early_stop_patience, config.schedule.early_stop_min_delta
        )
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.epoch = 0  # completed epochs
        self._saved_epoch = 0  # the epoch `last` holds
        self.lr = 0.0
        self.global_step = 0

    def _wrap_distributed(self) -> torch.nn.Module:
        if not self.dist.distributed:
            return self.model
        # Frozen branches hold no trainable parameters, so DDP syncs gradients of the
        # trainable parts only; every trainable parameter is used in each forward.
        ids = [self.device.index] if self.device.type == "cuda" else None
        sync = D.buffer_sync_kwargs(self._buffers_train)
        # Where buffers are synced at each forward (a trainable BatchNorm), not the derived
        # ones (the U²-Net's folded weights): their sources are synced, and they follow.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self.model, D.derived_buffer_names(self.model)
        )
        return DistributedDataParallel(self.model, device_ids=ids, **sync)

    def _start_log(self, fresh: bool) -> None:
        config = self.config
        self._log = TrainingLog(self.out, self.global_step, config.schedule.epochs)
        if fresh:
            truncate_metrics(self.out, 0)
            # An interruption during the first epoch must still leave a loadable `last`.
            self._save("last")
        n_train = sum(p.numel() for p in self.model.trainable_parameters())
        amp = config.train.amp if self.amp_dtype is not None else "none"
        logger.info(
            f"run folder {self.out.resolve()} | device {self.device} x"
            f"{self.dist.world_size} | {len(self.train_set)} train / {len(self.val_set)} val "
            f"images | {n_train:,} trainable parameters | amp {amp}"
        )

    def _build_data(self) -> None:
        data = build_training_data(self.config, self.dist, self.device)
        self.train_set, self.val_set, self.sampler = data.train_set, data.val_set, data.sampler
        self.train_loader, self.val_loader = data.train_loader, data.val_loader
        if self.is_main:  # every rank lists the same splits: said once
            warn_shared_images(self.config.data, self.train_set, self.val_set)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """Training state (without the weights, which :func:`save_checkpoint` adds)."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "early_stop": self.early_stop.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),  # not restored (fit() seeds each epoch); older pmgsam does
            "augmentation_draws": AUGMENTATION_DRAWS,
            "config": to_dict(self.config),
            "data_sample_fingerprint": self.data_sample_fingerprint,
            "frozen_sha256": self._branch_digests,
            "world_size": self.dist.world_size,
        }

    def _load_state(self, state: Dict[str, Any]) -> None:
        self.model.load_trainable_state_dict(state["model"], source=state["path"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.early_stop.load_state_dict(state["early_stop"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = self._saved_epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        if self.is_main and self.epoch > 0 and "augmentation_draws" not in state:
            logger.warning(
                "%s was saved by an older pmgsam, which drew each sample's augmentation from "
                "the random state of the process loading it; from epoch %d on this run draws "
                "them from (train.seed, epoch, sample index), so it goes on as a run started "
                "now would, not as the older one would have",
                state["path"],
                self.epoch + 1,
            )
        if self.is_main:
            truncate_metrics(self.out, self.epoch)
            logger.info(
                "resumed from %s at epoch %d (step %d)", state["path"], self.epoch, self.global_step
            )

    def _save(self, which: str) -> None:
        state = self.state_dict()
        save_checkpoint(checkpoint_dir(self.out, which), self.model, state, self._branch_digests)
        if which == "last":
            self._saved_epoch = self.epoch

    def close(self) -> None:
        """Flush TensorBoard, detach the log handlers, stop the loaders' persistent workers
        and leave the process group."""
        # Not left idle until the trainer is freed (pmgsam.ablate trains variants in turn).
        for loader in (getattr(self, "train_loader", None), getattr(self, "val_loader", None)):
            iterator = getattr(loader, "_iterator", None)
            if iterator is not None:
                stop_workers(loader, iterator)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._detach_log is not None:
            self._detach_log()
            self._detach_log = None
        D.cleanup_distributed(self.dist)
        self._lock.release()
