"""The ``performance`` section of the experiment config: speed options.

They change how fast the same numbers are computed, not the model or the data, so a run may
resume with other ones (:data:`~pmgsam.engine.config.RESUMABLE_CHANGES`);
:mod:`pmgsam.engine.performance` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmgsam.utils.config import ConfigError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILE_SCOPES = ("model", "regional")
# torch.compile modes whose compiled code replays CUDA graphs of its own.
GRAPHING_COMPILE_MODES = ("reduce-overhead", "max-autotune")


@dataclass
class PerformanceConfig:
    """How fast the same numbers are computed (see BENCHMARKS.md for what each option buys).

    None of these changes the model or the data, and results agree with the options off up to
    floating-point rounding (TF32 rounds matmul inputs to 10 mantissa bits on CUDA);
    ``persistent_workers`` changes nothing computed (each sample's augmentation follows
    ``train.seed``, the epoch and its index alone), so a run resumed with it on is exact.

    Arguments:
      hiera_window_attention (bool): run Hiera's mask-unit attention with the windows folded
        into the batch (4-D inputs that PyTorch's fused attention kernels accept).
      channels_last (bool): keep the model's convolutions and inputs in channels-last memory
        format. An H200 (bf16, S=1024) measured training steps 24 % faster (batch 4) but eager
        inference 7 % slower (batch 8); no gain on CPU. Off by default (it also applies on a
        CPU); the GPU training configs turn it on.
      fold_frozen_batchnorm (bool): run each conv → BatchNorm → ReLU unit of the frozen U²-Net
        branch as one convolution with the BatchNorm folded into its weight and bias (module
        structure and state dict unchanged; the fold follows later weight loads). An H200
        (bf16, channels-last, S=1024, batch 8) measured the branch at 87.2 → 74.9 ms per batch
        (1.16×); the outputs differ by rounding only (fp32: ~1e-6; bf16: 3.9e-3 at most). Not
        applied to a U²-Net with trainable parameters, nor inside ``torch.compile``, which
        fuses the BatchNorm itself.
      compile (bool): ``torch.compile`` the model (first call takes minutes at S=1024).
      compile_scope (str): what ``compile`` compiles: ``model`` (the whole model as one graph)
        or ``regional`` (each repeated block on its own: Hiera blocks, U²-Net RSUs, fusion
        SRBs, the FPN neck, the FeatRefiner and the decoder; blocks of the same shape share
        one compiled graph, so the first call compiles far less; the glue between blocks
        stays eager).
      compile_mode (str): ``torch.compile`` mode.
      cuda_graphs (bool): run prediction (the Predictor, the efficiency report's inference
        timing) as CUDA graphs replayed per input shape
        (:class:`~pmgsam.engine.cuda_graphs.GraphedInference`): the ~1,700 operators of an
        eager ``pmgsam_hiera_b+`` forward are launched by one call instead of one by one from
        Python. CUDA only; not for training; each kept shape holds one forward's activations.
        Not with the compile modes that capture graphs themselves (``reduce-overhead``,
        ``max-autotune``). Off until an H100/H200 measures it.
      tf32 (bool): allow TF32 matmuls and convolutions on CUDA (no effect on CPU).
      bf16_group_norm (bool): under bf16 autocast, compute the fusion's and the FeatRefiner's
        GroupNorms (and the GELUs after them) in bf16, statistics accumulated in float32
        (:class:`~pmgsam.modeling.common.InputDtypeGroupNorm`). CUDA autocast computes
        group_norm in float32: a full-resolution map is cast up, normalised and cast back, about
        three times the memory traffic. No effect in float32, nor on a CPU (whose autocast
        keeps group_norm in bf16 already). Off until a GPU measures it.
      cudnn_benchmark (bool): let cuDNN time its convolution algorithms on the first call of
        each input shape and keep the fastest (every shape is fixed at S; CUDA only). On: an
        H200 (bf16, S=1024) measured training steps 12 % faster (batch 4) and inference equal
        (batch 8), with the same peak memory; the first call of each shape takes seconds
        longer (BENCHMARKS.md).
      fused_optimizer (bool): AdamW's fused CUDA kernel (no effect on CPU).
      persistent_workers (bool): keep the DataLoader workers (``data.num_workers`` > 0) alive
        between epochs rather than starting them again for each epoch's training and each
        validation: 0.2–0.25 s an epoch with ``fork`` (Linux), 8–14 s with ``spawn`` (macOS,
        Windows) for 2 workers per loader on a 2-core CPU (BENCHMARKS.md). The cost: the
        training and validation loaders' workers stay alive together, idle in turn; forked,
        they share pages, so in BENCHMARKS.md's tiny run 4 live workers held ~115–140 MiB
        each (proportional set size, ~565 MiB together) against ~230 MiB each for 2 (~465
        MiB); a spawned worker holds ~370 MB of its own.
    """

    hiera_window_attention: bool = True
    channels_last: bool = False
    fold_frozen_batchnorm: bool = True
    compile: bool = False
    compile_scope: str = "model"
    compile_mode: str = "default"
    cuda_graphs: bool = False
    tf32: bool = True
    bf16_group_norm: bool = False
    cudnn_benchmark: bool = True
    fused_optimizer: bool = True
    persistent_workers: bool = True

    def validate(self) -> None:
        if self.compile_scope not in COMPILE_SCOPES:
            raise ConfigError(
                f"config key 'performance.compile_scope' must be one of {list(COMPILE_SCOPES)}, "
                f"got {self.compile_scope!r}"
            )
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"config key 'performance.compile_mode' must be one of {list(COMPILE_MODES)}, "
                f"got {self.compile_mode!r}"
            )
        if self.cuda_graphs and self.compile and self.compile_mode in GRAPHING_COMPILE_MODES:
            raise ConfigError(
                "config keys 'performance.cuda_graphs' and 'performance.compile_mode' "
                f"{self.compile_mode!r} both capture CUDA graphs: turn cuda_graphs off, or use "
                "compile_mode 'default' or 'max-autotune-no-cudagraphs'"
            )
