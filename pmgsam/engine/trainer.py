"""The training loop: AdamW + warm-up/decay schedule, AMP, DDP, checkpoints, early stop.

``Trainer(config).fit()`` trains from scratch (or from ``train.init_from``);
``Trainer(config, resume=run_dir).fit()`` continues a run exactly where its ``last`` checkpoint
left it. Under ``torchrun`` every process runs the same code; rank 0 alone writes files.
The run folder, optimisation, logging and saved state come from
:mod:`pmgsam.engine.trainer_setup`, the loaders from :mod:`pmgsam.engine.train_data`,
validation from :mod:`pmgsam.engine.validation`, and what a run reports from
:mod:`pmgsam.engine.training_log`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from tqdm import tqdm

from pmgsam.engine import distributed as D
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.epoch_stats import EpochLosses, NonFiniteWatch, loader_wait_warning
from pmgsam.engine.losses import check_target_range
from pmgsam.engine.performance import (
    configure_backends,
    maybe_compile,
    prepare_model,
    to_memory_format,
)
from pmgsam.engine.resume_checks import check_moved_inputs, inputs_found, resume_command
from pmgsam.engine.run_lock import RunLock
from pmgsam.engine.state import LOG_FILE, seed_everything, write_config
from pmgsam.engine.train_data import data_fingerprint, paths_fingerprint, sizes_fingerprint
from pmgsam.engine.trainer_setup import TrainerSetup
from pmgsam.engine.training_log import (
    append_metrics,
    early_stop_line,
    epoch_record,
    fit_summary,
    interruption_message,
)
from pmgsam.engine.validation import run_validation
from pmgsam.modeling.build import build_model, warn_other_frozen_weights
from pmgsam.modeling.checkpoint import (
    branch_digests,
    check_loaded,
    hash_weights,
    load_model_weights,
)
from pmgsam.modeling.pmgsam import PMGSAM
from pmgsam.utils.cpus import cpu_share
from pmgsam.utils.loaders import TimedBatches, loader_batches
from pmgsam.utils.messages import one_line

logger = logging.getLogger(__name__)


class Trainer(TrainerSetup):
    """Trains a PMG-SAM model as described by an :class:`ExperimentConfig`.

    Arguments:
      config (ExperimentConfig): the experiment; ``config.output_dir`` is the run folder.
      resume (str or Path, optional): a run folder (or checkpoint folder) whose ``last`` state
        is continued (its ``best``, when older than ``last``, is refused: it would rewind the
        run); the config must equal the saved one up to
        :data:`~pmgsam.engine.config.RESUMABLE_CHANGES`, and the dataset and frozen-branch
        paths of :data:`~pmgsam.engine.resume_checks.MOVABLE` where they hold the run's files.
      progress (bool): show the epoch's progress bar (on a terminal, on the main process);
        ``train.py --quiet`` turns it off. The logged lines are the same either way.

    Building one takes the run folder's lock and sends the package's log to its ``train.log``
    and stdout; :meth:`fit` gives both back when it ends, however it ends. A trainer built but
    not fitted keeps them until its ``close()`` (another one built meanwhile prints each line
    twice); ``with Trainer(config) as trainer:`` closes it on leaving the block.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        resume: Optional[Union[str, Path]] = None,
        progress: bool = True,
    ) -> None:
        config.validate_training()
        self.config = config
        self.progress = progress
        self.dist, self.device = D.init_distributed(config.train.device)
        self.is_main = self.dist.is_main
        self.out = Path(config.output_dir)
        # Before the set-up's barrier, which no rank passes before rank 0 reaches it: the
        # lines another rank's failure adds to train.log come later.
        self._log_start = D.log_size(self.out / LOG_FILE)
        self._detach_log = None
        self._log = None
        self._warned_loader_wait = False  # said once per run (a slow loader stays slow)
        self._fit_started: Optional[tuple] = None  # (perf_counter, epoch) when fit() began
        self._lock = RunLock(self.out)
        try:
            # Every rank sets up alike: rank 0 alone says so (its warnings reach train.log).
            with D.said_once(self.is_main):
                self._setup(resume)
        except BaseException as err:
            # Ranks add no set-up error to train.log: the failing one's is on the console.
            lost = D.other_process_failure(err, self.dist.world_size)
            if self._detach_log is not None:  # the run's train.log is attached: say why there
                said = lost or err
                logger.error(f"set-up failed ({type(said).__name__}: {one_line(said)})")
            self.close()
            if lost is not None:
                raise lost from err
            raise

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # idempotent: after fit() it has nothing left to give back

    def _setup(self, resume: Optional[Union[str, Path]]) -> None:
        config = self.config
        resumed = self._open_run(resume)
        self._configure_runtime()
        loaded = "train.init_from's weights" if config.train.init_from else None
        model = self._build_model("the run's saved weights" if resumed is not None else loaded)
        self._branch_digests = branch_digests(model)  # frozen: hashed once, saved each time
        self.model = prepare_model(model.to(self.device), self.perf)
        # BatchNorm statistics that training updates (the residual fusion ablation's) are
        # kept one across processes: synced in DDP's forward and before validation.
        self._buffers_train = D.buffers_change_in_training(self.model)
        if config.train.init_from and resumed is None:
            # Hashed: a run folder's best (the file a folder means) changes as that run goes
            # on, so the log says which weights it held when this run started from it.
            weights = hash_weights(config.train.init_from)
            load_model_weights(self.model, weights.path)
            check_loaded(weights)
            logger.info("initial weights from %s (SHA-256 %s)", weights.path, weights.sha256)
            digest_of = self._branch_digests.__getitem__
            warn_other_frozen_weights(weights.path, config.model, digest_of)
        self._build_data()
        splits = (self.train_set, self.val_set)
        self.data_sample_fingerprint = data_fingerprint(config.data.root, *splits)
        if resumed is not None:
            found = inputs_found(
                resumed,
                self.data_sample_fingerprint,
                model,
                self._branch_digests,
                lambda: paths_fingerprint(config.data.root, *splits),
                lambda: sizes_fingerprint(config.data.root, *splits),
            )
            check_moved_inputs(resumed, config, found)
            if self.is_main:
                write_config(self.out, config)
        self._build_optimisation()
        if resumed is not None:
            self._load_state(resumed)
        self._nonfinite = NonFiniteWatch(self.device)
        self.net = maybe_compile(self._wrap_distributed(), self.perf)
        if self.is_main:
            self._start_log(resumed is None)

    def _build_model(self, loaded: Optional[str]) -> PMGSAM:
        """The run's model. ``loaded``: what every trainable weight is loaded from next (a
        resumed run's state, ``train.init_from``), if anything: then a SAM file that would
        initialise the decoder is not read, nor needed where it is gone or moved (a resume
        may not change its path)."""
        config = self.config.model
        if not (loaded and config.sam_checkpoint):
            return build_model(config)
        logger.info(
            "model.sam_checkpoint '%s' not read: %s replace the decoder it would initialise",
            config.sam_checkpoint,
            loaded,
        )
        model = build_model(dataclasses.replace(config, sam_checkpoint=None))
        model.config = config  # what the run's checkpoints record, as when it started
        return model

    def _configure_runtime(self) -> None:
        config = self.config
        self.amp_dtype = D.resolve_amp(config.train.amp, self.device)
        if config.train.num_threads:
            torch.set_num_threads(config.train.num_threads)
        self.perf = config.performance
        configure_backends(self.perf, self.device)
        # Both ways, as configure_backends: a later run of the process (ablate, a notebook)
        # must not keep an earlier run's slower deterministic kernels.
        torch.use_deterministic_algorithms(config.train.deterministic, warn_only=True)
        if config.train.deterministic:
            # After configure_backends, which sets it from performance.cudnn_benchmark.
            torch.backends.cudnn.benchmark = False
        seed_everything(config.train.seed)

    # ----------------------------------------------------------------- loop
    def fit(self) -> Dict[str, Any]:
        """Train until ``schedule.epochs`` or early stopping; returns a summary dict
        (``best_val_loss`` and ``best_epoch`` are None when no validation loss was finite)."""
        # SIGTERM (torchrun stopping the other processes when one fails, a preempted job)
        # stops the run as Ctrl-C does: the checkpoint being written dropped, rank 0 saying so.
        with D.sigterm_interrupts():
            return self._fit()

    def _fit(self) -> Dict[str, Any]:
        cfg = self.config
        stopped_early = self.early_stop.should_stop  # a resumed run that had stopped early
        self._fit_started = (time.perf_counter(), self.epoch)
        try:
            while self.epoch < cfg.schedule.epochs and not stopped_early:
                epoch = self.epoch
                # Augmentation and sample order follow (train.seed, epoch, index) through the
                # sampler, whatever the loader workers' own seeds (persistent workers keep
                # theirs); the rest of the epoch's randomness (the model's) is seeded per epoch
                # and rank, so a run resumed at an epoch boundary (the only kind) repeats an
                # uninterrupted one on every rank.
                seed_everything(cfg.train.seed + 1009 * epoch + 7919 * self.dist.rank)
                train_stats = self.train_one_epoch(epoch)
                val_stats: Dict[str, float] = {}
                last = epoch + 1 == cfg.schedule.epochs
                if (epoch + 1) % cfg.train.val_every == 0 or last:
                    val_stats = self.validate(epoch)
                self._end_epoch(epoch, train_stats, val_stats)
                stopped_early = D.broadcast_flag(self.early_stop.should_stop, self.device)
        except BaseException as err:
            # Neither gloo's lost connection nor torchrun's SIGTERM is the cause: the failing
            # rank's own error is.
            lost = D.other_process_failure(
                err, self.dist.world_size, self.out / LOG_FILE, self._log_start
            )
            if self.is_main:
                how = resume_command(self.out, self.dist.world_size)
                logger.error(interruption_message(lost or err, self._saved_epoch, self.out, how))
            elif not isinstance(err, KeyboardInterrupt) and lost is None:
                D.append_rank_error(self.out / LOG_FILE, self.dist.rank, err)
            self.close()
            if lost is not None:
                raise lost from err
            raise
        summary = fit_summary(self.out, self.epoch, self.global_step, self.early_stop)
        if stopped_early and self.is_main:
            logger.info(early_stop_line(self.early_stop))
        summary["stopped_early"] = stopped_early
        self.close()
        return summary

    @property
    def finished(self) -> bool:
        """True when :meth:`fit` has nothing left to train (all epochs done, or stopped early)."""
        return self.epoch >= self.config.schedule.epochs or self.early_stop.should_stop

    def _train_step(self, batch: Dict[str, Any], epoch: int, iteration: int) -> Dict[str, Any]:
        """One optimiser step; returns the loss components (tensors) and the batch size."""
        images = batch["image"].to(self.device, non_blocking=True)
        # On the host, before the copy: on the device the check would wait for the GPU.
        check_target_range(batch["mask"], "the training batch's 'mask'")
        masks = batch["mask"].to(self.device, non_blocking=True)
        images = to_memory_format(images, self.perf)
        self.lr = self.schedule.step(epoch, iteration)
        with D.autocast(self.device, self.amp_dtype):
            outputs = self.net(images)
        loss, parts = self.loss_fn(outputs, masks)
        self._nonfinite.record(loss, self.global_step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = self.config.train.grad_clip
        if clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(list(self.model.trainable_parameters()), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.global_step += 1
        return {"loss": loss.detach(), **parts, "n": images.shape[0]}

    def train_one_epoch(self, epoch: int) -> Dict[str, float]:
        """One pass over the training split; returns image-weighted mean losses (all ranks)."""
        self.net.train()
        self.sampler.set_epoch(epoch)
        losses = EpochLosses(self.device, self.dist.world_size)
        bar = tqdm(
            total=len(self.train_loader),
            desc=f"epoch {epoch + 1}/{self.config.schedule.epochs}",
            # None: shown on a terminal only (not in a batch job's log file).
            disable=None if self.is_main and self.progress else True,
            leave=False,
            dynamic_ncols=True,
        )
        with loader_batches(self.train_loader) as batches:
            timed = TimedBatches(batches)
            for it, batch in enumerate(timed):
                out = self._train_step(batch, epoch, it)
                n = out.pop("n")
                losses.add(out, n)
                bar.update()
                # Reading a loss value waits for the GPU, so it happens at logging steps only.
                if self.global_step % self.config.train.log_every == 0:
                    self._nonfinite.check(epoch)
                    out = self._global_batch_means(out)
                    speed = losses.images_per_s()
                    bar.set_postfix(loss=f"{out['loss'].item():.4f}", img_s=f"{speed:.1f}")
                    if self._log is not None:
                        n_iter = len(self.train_loader)
                        self._log.step(epoch, it, n_iter, self.global_step, out, self.lr, speed)
        bar.close()
        self._nonfinite.check(epoch)
        stats = losses.means()
        stats["data_wait_s"] = timed.wait_s  # this process's
        if self.is_main and not self._warned_loader_wait:
            workers, decode = self.train_loader.num_workers, self.config.data.reduced_decode
            warning = loader_wait_warning(epoch + 1, stats, workers, cpu_share(), decode)
            if warning is not None:
                logger.warning(warning)
                self._warned_loader_wait = True
        return stats

    def _global_batch_means(self, parts: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """A step's loss components over all ranks' batches, as one process given the global
        batch would log them (each rank's batch holds as many images): rank 0's own half-batch
        made the logged and TensorBoard step losses of a DDP run noisier than, and unlike, those
        of the same run on one process. Every rank calls it, at the same logging steps."""
        if not self.dist.distributed:
            return parts
        keys = sorted(parts)
        totals = D.all_reduce_sum(torch.stack([parts[k].detach().float() for k in keys]))
        return dict(zip(keys, (totals / self.dist.world_size).unbind()))

    def validate(self, epoch: int) -> Dict[str, float]:
        """Loss, MAE, IoU and Fβ on the validation split (means over all images, all ranks)."""
        want = self.config.train.preview_images if self._preview_due(epoch) else 0
        # The bare model, not the DDP wrapper: ranks may hold different numbers of batches.
        # Running statistics updated in training are rank 0's everywhere (those it saves).
        if self.dist.distributed and self._buffers_train:
            D.broadcast_buffers(self.model)
        start = time.perf_counter()
        stats, grid = run_validation(
            self.model, self.val_loader, self.loss_fn, self.device, self.amp_dtype, self.perf, want
        )
        # Read after the sums came back to the host, so the device's work is in it.
        stats["time_s"] = time.perf_counter() - start
        if grid is not None and self._log is not None:
            self._log.preview(grid, epoch + 1)
        return stats

    def _preview_due(self, epoch: int) -> bool:
        every = self.config.train.preview_every
        return self.is_main and every > 0 and (epoch + 1) % every == 0

    def _seconds_per_epoch(self) -> Optional[float]:
        """Wall time per epoch since fit() began (training, validation and saving; None
        outside fit)."""
        if self._fit_started is None:
            return None
        start, first_epoch = self._fit_started
        return (time.perf_counter() - start) / max(1, self.epoch - first_epoch)

    def _end_epoch(self, epoch: int, train: Dict[str, float], val: Dict[str, float]) -> None:
        improved = False
        # The epoch's last lr, read before a plateau reduction (which applies to the next epoch).
        lr = self.schedule.base_lr(epoch, len(self.train_loader) - 1)
        if val:
            reduced = self.schedule.on_validation(epoch, val["loss"])
            improved = self.early_stop.update(epoch, val["loss"])
            if reduced and self.is_main:
                new = self.schedule.base_lr(epoch + 1)
                logger.info(f"validation loss on a plateau: base lr now {new:.3g}")
        self.epoch = epoch + 1
        if not self.is_main:
            return
        record = epoch_record(
            self.epoch, self.global_step, lr, train, val, improved, self.early_stop.bad
        )
        # The line first: a crash before `last` is saved repeats the epoch, and the resumed
        # run drops this line (truncate_metrics), so each finished epoch keeps exactly one.
        append_metrics(self.out, record)
        # TensorBoard's epoch scalars too (written to disk): once `last` holds the epoch, the
        # resumed run starts at the next one and would never log them. A crash before `last`
        # is saved logs them again at the same step, which TensorBoard's default loader takes
        # in place of the first (its legacy Python loader shows both).
        if self._log is not None:
            self._log.epoch_end(self.epoch, train, val, lr, improved, self._seconds_per_epoch())
        if improved:
            self._save("best")
        self._save("last")
