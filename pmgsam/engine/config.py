"""The experiment config: model + data + loss + optimiser + schedule + training loop settings.

Load one with ``load_config(ExperimentConfig, "configs/pmgsam_dis5k.yaml", ["optim.lr=5e-5"])``
(see :mod:`pmgsam.utils.config`); unknown keys and wrong types are errors naming the dotted key.

Loading checks the values that any use of the config needs (``model``, ``data`` but its
``augment``, ``performance``, ``train.num_threads``). The values only a run that trains reads
(``loss``, ``optim``, ``schedule``, the rest of ``train``, ``data.augment``, ``output_dir``) are
checked by :meth:`ExperimentConfig.validate_training`, which ``train.py`` (new, fine-tuned or
resumed runs) and the :class:`~pmgsam.engine.trainer.Trainer` call: prediction, evaluation and
benchmarking read a saved run's config for its model and data, and a run saved before a
training check was added or tightened (``optim.lr`` at most 1, say) must stay usable there.
An empty or blank path (``output_dir`` too) is refused wherever the config loads
(:func:`pmgsam.utils.config.non_blank_field`): no run was ever saved with an empty
``output_dir``, and the paths a run may hold empty read as None
(:mod:`pmgsam.engine.saved_config`, also for a run's config.yaml given as ``--config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import List, Optional

from pmgsam.data.config import DataConfig
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.saved_config import read_experiment_file
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.config import ConfigError, check_positive, check_seed, non_blank_field

SCHEDULE_KINDS = ("step", "plateau")
AMP_MODES = ("none", "bf16", "fp16")

# Keys that may differ between a run and its resumption: they change where things go or how
# often the loop reports, never the numbers it computes (where the data and frozen weights are
# read from may change too, when the files there are the run's: resume_checks.MOVABLE).
RESUMABLE_CHANGES = (
    "output_dir",
    "data.num_workers",
    "data.check_files",
    "train.num_threads",
    "train.log_every",
    "train.preview_every",
    "train.preview_images",
)


@dataclass
class LossConfig:
    """Weights of the segmentation loss (see :mod:`pmgsam.engine.losses`).

    Arguments:
      bce_weight (float): weight of binary cross-entropy on the final mask (paper: 1).
      dice_weight (float): weight of the Dice loss (paper: 1).
      iou_weight (float): weight of the soft IoU loss (paper: 10).
      aux_premask_weight (float): weight of the same loss applied to the Pre-Mask; 0 turns the
        auxiliary loss off (the paper supervises only the final mask).
      smooth (float): additive smoothing of the Dice and IoU ratios (keeps empty masks finite).
    """

    bce_weight: float = 1.0
    dice_weight: float = 1.0
    iou_weight: float = 10.0
    aux_premask_weight: float = 0.0
    smooth: float = 1.0

    def validate_training(self) -> None:
        for name in ("bce_weight", "dice_weight", "iou_weight", "aux_premask_weight"):
            check_positive(f"loss.{name}", getattr(self, name), allow_zero=True)
        if self.bce_weight + self.dice_weight + self.iou_weight <= 0:
            raise ConfigError("config keys 'loss.*_weight': at least one weight must be > 0")
        check_positive("loss.smooth", self.smooth, allow_zero=True)


@dataclass
class ParamGroupConfig:
    """Optimiser settings of one part of the model, relative to the ``optim`` section.

    Arguments:
      lr_mult (float): this part's learning rate is ``optim.lr * lr_mult``.
      weight_decay (float, optional): weight decay of this part's weights; ``None`` uses
        ``optim.weight_decay``. Norm weights, biases and embeddings never decay.
    """

    lr_mult: float = 1.0
    weight_decay: Optional[float] = None


@dataclass
class OptimConfig:
    """AdamW and its parameter groups.

    The trainable model splits into the guided mask ``decoder`` and the Pre-Mask generator
    ``premask`` (FPN neck, fusion, refiner: everything trainable outside the decoder).

    Arguments:
      lr (float): base learning rate (the paper's value was lost; 1e-4 is the DIS default).
      weight_decay (float): AdamW weight decay of weight matrices / kernels.
      betas (list of float): AdamW (beta1, beta2).
      eps (float): AdamW epsilon.
      decoder (ParamGroupConfig): settings of the guided mask decoder.
      premask (ParamGroupConfig): settings of the Pre-Mask generator.
    """

    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    decoder: ParamGroupConfig = field(default_factory=ParamGroupConfig)
    premask: ParamGroupConfig = field(default_factory=ParamGroupConfig)

    def validate_training(self) -> None:
        # AdamW moves each weight by about lr per step: above 1 a run diverges at once, and
        # beyond float32's range torch's update itself overflows.
        check_positive("optim.lr", self.lr, at_most=1.0)
        check_positive("optim.weight_decay", self.weight_decay, allow_zero=True)
        check_positive("optim.eps", self.eps)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"config key 'optim.betas' needs two values in [0, 1): {self.betas}")
        # Checked here rather than in ParamGroupConfig so that errors carry the full key.
        for name in ("decoder", "premask"):
            group = getattr(self, name)
            check_positive(f"optim.{name}.lr_mult", group.lr_mult, allow_zero=True)
            if group.weight_decay is not None:
                check_positive(f"optim.{name}.weight_decay", group.weight_decay, allow_zero=True)


@dataclass
class ScheduleConfig:
    """Epochs, learning-rate schedule and early stopping.

    The learning rate rises linearly over the first ``warmup_epochs`` (per iteration, from
    ``lr / warmup_iterations`` to ``lr``), then follows ``kind``:

    * ``step``: multiplied by ``step_gamma`` every ``step_every`` epochs counted from the end of
      the warm-up (DIS5K schedule);
    * ``plateau``: multiplied by ``plateau_factor`` when the validation loss has not improved
      (relative ``plateau_threshold``) for more than ``plateau_patience`` validations after
      the warm-up (as ``ReduceLROnPlateau`` counts)
      (fine-tuning schedule).

    In both cases the base learning rate never goes below ``min_lr`` after the warm-up (each
    parameter group keeps its ``lr_mult`` on top).

    Arguments:
      epochs (int): maximum number of epochs.
      warmup_epochs (int): linear warm-up length (0 = none); below ``epochs``.
      kind (str): ``step`` or ``plateau``.
      step_every (int): epochs between two step decays.
      step_gamma (float): step-decay factor (the paper's value was lost; 0.5 is chosen).
      plateau_factor (float): ReduceLROnPlateau factor.
      plateau_patience (int): validations without improvement before a reduction.
      plateau_threshold (float): relative improvement that counts for the plateau test.
      min_lr (float): lower bound of the base learning rate after the warm-up; at most
        ``optim.lr`` (checked where a run trains:
        :meth:`ExperimentConfig.validate_training`).
      early_stop_patience (int, optional): stop when the validation loss has not improved for
        this many validations; ``None`` or 0 disables early stopping.
      early_stop_min_delta (float): an improvement must lower the best loss by more than this.
    """

    epochs: int = 300
    warmup_epochs: int = 10
    kind: str = "step"
    step_every: int = 40
    step_gamma: float = 0.5
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    plateau_threshold: float = 1e-4
    min_lr: float = 0.0
    early_stop_patience: Optional[int] = 40
    early_stop_min_delta: float = 0.0

    def validate_training(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ConfigError(
                f"config key 'schedule.kind' must be one of {list(SCHEDULE_KINDS)}, "
                f"got {self.kind!r}"
            )
        check_positive("schedule.epochs", self.epochs)
        check_positive("schedule.warmup_epochs", self.warmup_epochs, allow_zero=True)
        # The rate reaches optim.lr only at the warm-up's last step: a warm-up as long as the
        # run never trains at the rate asked for, nor decays, nor lets the plateau act.
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"config key 'schedule.warmup_epochs' ({self.warmup_epochs}) must be below "
                f"'schedule.epochs' ({self.epochs}): the run would end inside its linear "
                "warm-up; lower schedule.warmup_epochs (0 = no warm-up) or raise schedule.epochs"
            )
        check_positive("schedule.step_every", self.step_every)
        for name in ("step_gamma", "plateau_factor"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"config key 'schedule.{name}' must be in (0, 1], got {value}")
        check_positive("schedule.plateau_patience", self.plateau_patience, allow_zero=True)
        check_positive("schedule.plateau_threshold", self.plateau_threshold, allow_zero=True)
        if self.plateau_threshold >= 1:  # a loss can never improve by 100 % of itself
            raise ConfigError(
                f"config key 'schedule.plateau_threshold' (a relative improvement) must be below "
                f"1, got {self.plateau_threshold}"
            )
        check_positive("schedule.min_lr", self.min_lr, allow_zero=True)
        if self.early_stop_patience is not None:
            check_positive(
                "schedule.early_stop_patience", self.early_stop_patience, allow_zero=True
            )
        check_positive("schedule.early_stop_min_delta", self.early_stop_min_delta, allow_zero=True)


@dataclass
class TrainConfig:
    """The training loop.

    Arguments:
      batch_size (int): images per process and iteration (the effective batch is
        ``batch_size * world_size`` under DDP; paper: 4 on one GPU).
      val_batch_size (int, optional): validation batch size; ``None`` uses ``batch_size``.
      grad_clip (float, optional): clip the global gradient norm to this; ``None``/0 disables.
      amp (str): ``none``, ``bf16`` or ``fp16`` (GradScaler); CUDA only, CPU falls back to fp32
        with a warning.
      device (str): ``auto`` (CUDA when available, ``cuda:LOCAL_RANK`` under DDP), ``cpu``,
        ``cuda`` or ``cuda:N``.
      num_threads (int, optional): CPU threads of torch's intra-op pool, in training and in
        prediction (benchmark mode, baseline mode, ablation scoring, the Pre-Mask analysis).
        ``None`` keeps torch's default in training; prediction on the CPU then uses the CPUs
        left beside ``data.num_workers`` (baseline mode, which reads its images in process:
        all of them; :func:`~pmgsam.engine.predictor.prediction_threads`). 1 is much faster on
        CPUs shared with other busy processes. Timing (``python -m pmgsam.efficiency``, a
        baseline row's ``--speed-iters``) ignores it: it runs on torch's own count.
      seed (int): seed of python, numpy and torch (model init, shuffling, augmentation).
      deterministic (bool): ask torch for deterministic algorithms (slower on CUDA).
      log_every (int): iterations between two log lines / TensorBoard loss points.
      preview_every (int): epochs between two TensorBoard image previews (0 = never).
      preview_images (int): validation images shown in a preview.
      init_from (str, optional): PMG-SAM weights to start from (fine-tuning): a ``.safetensors``
        file, a checkpoint folder, or a training run folder (its best weights).
      val_every (int): epochs between two validations, plus one after the last epoch (the
        schedule and early stopping count validations).
    """

    batch_size: int = 4
    val_batch_size: Optional[int] = None
    grad_clip: Optional[float] = 1.0
    amp: str = "none"
    device: str = "auto"
    num_threads: Optional[int] = None
    seed: int = 0
    deterministic: bool = False
    log_every: int = 50
    preview_every: int = 1
    preview_images: int = 4
    init_from: Optional[str] = non_blank_field(
        "PMG-SAM weights (a .safetensors file, a checkpoint folder or a run folder)", default=None
    )
    val_every: int = 1

    def validate(self) -> None:
        # Prediction and evaluation run on train.num_threads; the rest only trains.
        if self.num_threads is not None:
            check_positive("train.num_threads", self.num_threads)

    def validate_training(self) -> None:
        if self.amp not in AMP_MODES:
            raise ConfigError(
                f"config key 'train.amp' must be one of {list(AMP_MODES)}, got {self.amp!r}"
            )
        if self.device != "auto" and self.device.split(":")[0] not in ("cpu", "cuda"):
            raise ConfigError(
                f"config key 'train.device' must be auto, cpu, cuda or cuda:N, got {self.device!r}"
            )
        check_positive("train.batch_size", self.batch_size)
        if self.val_batch_size is not None:
            check_positive("train.val_batch_size", self.val_batch_size)
        if self.grad_clip is not None:
            check_positive("train.grad_clip", self.grad_clip, allow_zero=True)
        check_seed("train.seed", self.seed)
        check_positive("train.log_every", self.log_every)
        check_positive("train.preview_every", self.preview_every, allow_zero=True)
        check_positive("train.preview_images", self.preview_images, allow_zero=True)
        check_positive("train.val_every", self.val_every)


# Speed options change how fast, not what, is computed, so a run may resume with other ones.
RESUMABLE_CHANGES += ("performance",) + tuple(
    f"performance.{f.name}" for f in fields(PerformanceConfig)
)


@dataclass
class ExperimentConfig:
    """A whole training or fine-tuning experiment.

    Arguments:
      model (ModelConfig): the architecture (and where its frozen weights come from).
      data (DataConfig): dataset, splits, loader and augmentation.
      loss (LossConfig): loss weights.
      optim (OptimConfig): AdamW and its parameter groups.
      schedule (ScheduleConfig): epochs, warm-up, decay, early stopping.
      train (TrainConfig): batch size, AMP, device, seed, logging, initial weights.
      performance (PerformanceConfig): speed options (attention kernel, memory format,
        compilation, TF32, fused optimiser, persistent workers).
      output_dir (str): run folder (config.yaml, checkpoints/, metrics.jsonl, train.log, tb/).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    output_dir: str = non_blank_field("the run folder", default="runs/pmgsam")
    # How load_config reads its files: a run's saved config.yaml as the run meant it.
    read_file = staticmethod(read_experiment_file)

    def validate(self) -> None:
        """The checks any use of the config needs (its model and data, how fast it runs);
        :func:`~pmgsam.utils.config.from_dict` runs them section by section as it loads a file,
        this covers configs made in code."""
        for section in (self.model, self.data, self.train, self.performance):
            section.validate()

    def validate_training(self) -> None:
        """:meth:`validate`, plus the checks that matter only to a run that trains (new,
        resumed or fine-tuned): the loss, optimiser, schedule, training loop and augmentation
        sections and the run folder. Prediction and evaluation read a saved run's config for
        its model and data, and a run saved before such a check existed (or was tightened)
        must still be usable there."""
        self.validate()
        for section in (self.loss, self.optim, self.schedule, self.train, self.data.augment):
            section.validate_training()
        if not self.output_dir:
            raise ConfigError("config key 'output_dir' must name the run folder")
        # The schedule floors the base rate at min_lr after the warm-up: a floor above lr
        # would silently train at min_lr, not at the rate asked for.
        if self.schedule.min_lr > self.optim.lr:
            raise ConfigError(
                f"config key 'schedule.min_lr' ({self.schedule.min_lr:g}) is above 'optim.lr' "
                f"({self.optim.lr:g}): after the warm-up the learning rate would rise to it; "
                "lower schedule.min_lr or raise optim.lr"
            )
