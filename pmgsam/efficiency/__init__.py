"""Efficiency report: parameters, FLOPs per image, latency/throughput and peak memory.

    python -m pmgsam.efficiency [--model pmgsam_hiera_b+ | --config experiment.yaml]
        [--size 1024] [--batch 1] [--device auto|cpu|cuda|cuda:N] [--dtype bf16|fp32]
        [--iters 10] [--warmup 3] [--threads N] [--json out.json [--overwrite]] [--train]
        [--compile [model|regional] | --no-compile] [--compile-mode MODE]
        [--channels-last | --no-channels-last] [--cudnn-benchmark | --no-cudnn-benchmark]
        [--bn-fold | --no-bn-fold] [--cuda-graphs | --no-cuda-graphs]
        [--bf16-group-norm | --no-bf16-group-norm]
        [--hiera-attention window|package]
        [--compare sam_vit_b [--sam-points-per-side 32]]
        [--run-dir results/<run> [--method NAME]] [--quiet]

The speed options timed are what a run would use: the ``--config``'s ``performance`` section,
else the package defaults (``PerformanceConfig()``: cuDNN's algorithm timing on, the U²-Net's
BatchNorms folded, channels-last, compile, CUDA graphs and bf16 GroupNorms off), with each
flag given overriding its field (``--no-channels-last``, ``--no-compile`` and so on turn one
off; ``tf32`` and ``fused_optimizer``, which no flag sets, stay the base's).

``--model`` and ``--config`` are refused together (each names the model to measure), as are
``--compile-mode`` where compile stays off (neither ``--compile`` nor the config's
``performance.compile``; a mode equal to the base's passes), CUDA graphs with ``--train`` (training
steps run eagerly) or with a compile mode that captures graphs of its own (``reduce-overhead``,
``max-autotune``), ``--sam-points-per-side`` without
``--compare``, and a ``--json`` that names a folder (``effdir/``, or an existing folder).

``--device auto`` (the default) takes CUDA where there is one. ``--threads N`` measures on N
torch intra-op threads (default: torch's own count, which
``OMP_NUM_THREADS`` sets); records, report and run.json name the count (``threads``).
``--train`` times full training steps (forward, loss, backward, AdamW step) instead of
inference; ``--compile`` compiles the whole model (``--compile regional``: each repeated block
on its own, a shorter first call); ``--compare sam_vit_b`` (or ``sam_vit_l|h``,
``sam2_tiny|small|base_plus|large``) also times that model's automatic mask generator (the
package's default settings, randomly initialised weights) on the same images in the same
process (inference only: not with ``--train``). ``--run-dir`` adds the inference figures to
an evaluated run's row (not with ``--train`` either). ``--json`` writes a list of records (see
:data:`RECORD_KEYS`), the format of ``benchmarks/results/*.json``; ``pmgsam`` names the
package version (what traces a record where ``commit`` is ``unknown``); a record's ``compile`` is
``false``, ``"model"`` or ``"regional"`` (``compile_mode`` its mode), ``channels_last`` and
``cudnn_benchmark`` the other speed options, ``tf32`` whether TF32 was allowed, ``cuda_graphs``
(inference records) whether predictions were replayed as CUDA graphs (their ``peak_memory_mb``
then leaves out the graph's pool, which ``peak_reserved_mb`` holds), ``fused_optimizer``
(training records) whether AdamW ran fused, ``bf16_group_norm`` whether the fusion's
GroupNorms ran in bf16 (with hiera-transformer's 5-D attention, e.g.
``--hiera-attention package``, also ``hiera_attention``), ``fold_frozen_batchnorm`` whether the
frozen U²-Net's BatchNorms ran folded (records made before the option lack it and ran
unfolded), ``first_call_ms`` holds the first (compiling, warm-up) call, and
``flops_per_image`` the FLOPs of one prediction per image (PMG-SAM's forward pass; a whole
``generate`` for the generator, whose ``encoder_flops_per_image`` is its image encoder's part;
``masks_kept`` how many masks the generator returned for the first image), and a record timed
with compile or CUDA graphs ``vs_eager``: its path against the eager forward on an untimed
batch (:mod:`~pmgsam.efficiency.agreement`).

Modules: :mod:`~pmgsam.efficiency.flops` (parameter and FLOP counts),
:mod:`~pmgsam.efficiency.timing` (synchronised timings), :mod:`~pmgsam.efficiency.report`
(records and the printed report), :mod:`~pmgsam.efficiency.agreement` (a fast path against
the eager forward), :mod:`~pmgsam.efficiency.cli` (the command line),
:mod:`~pmgsam.efficiency.kernel_table` (the profiled kernels and operators of
``benchmarks/component_times.py --kernels``), :mod:`~pmgsam.efficiency.traffic` (bytes and
FLOPs per operator on the meta device: ``benchmarks/traffic_floor.py``),
:mod:`~pmgsam.efficiency.method_wraps` (a component's method wrapped while it is counted or
timed). Each name
below is imported on first use (PEP 562), so that ``python -m pmgsam.efficiency --help`` does
not import torch.
"""

from __future__ import annotations

from pmgsam.utils.lazy import lazy_exports

_WHERE = {
    "RECORD_KEYS": "report",
    "count_flops": "flops",
    "count_parameters": "flops",
    "efficiency_report": "report",
    "format_report": "report",
    "git_commit": "report",
    "main": "cli",
    "make_record": "report",
    "measure_amg": "timing",
    "measure_speed": "timing",
    "measure_training": "timing",
    "write_records": "report",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
