"""The efficiency report's speed flags: the ``performance`` fields a timing may override.

Each is None unless given, so a timing starts from the ``--config``'s ``performance`` section
(else the package defaults) and the flags given replace their fields both ways.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Optional

from pmgsam.engine.performance_config import COMPILE_MODES, COMPILE_SCOPES, PerformanceConfig


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """The ``performance`` fields as flags, each None unless given (:func:`speed_options`)."""
    base = "--config's performance section, else the package default"
    default = PerformanceConfig()
    on = {True: "on", False: "off"}
    compiled = parser.add_mutually_exclusive_group()
    compiled.add_argument(
        "--compile",
        nargs="?",
        const="model",
        choices=COMPILE_SCOPES,
        help="torch.compile the whole model (no value, or 'model') or each repeated block "
        f"('regional': a shorter first call); default: {base} ({on[default.compile]})",
    )
    compiled.add_argument(
        "--no-compile",
        dest="compile",
        action="store_const",
        const=False,
        help="time the model uncompiled even where --config's performance.compile is true",
    )
    parser.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        help=f"torch.compile mode (needs compile on); default: {base} ('{default.compile_mode}')",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last memory format (model and input); default: "
        f"{base} ({on[default.channels_last]})",
    )
    parser.add_argument(
        "--cudnn-benchmark",
        action=argparse.BooleanOptionalAction,
        help="let cuDNN time its convolution algorithms during the warm-up (CUDA only); "
        f"default: {base} ({on[default.cudnn_benchmark]})",
    )
    parser.add_argument(
        "--bn-fold",
        action=argparse.BooleanOptionalAction,
        help="run the frozen U²-Net's BatchNorms folded into their convolutions "
        f"(performance.fold_frozen_batchnorm); default: {base} "
        f"({on[default.fold_frozen_batchnorm]})",
    )
    parser.add_argument(
        "--bf16-group-norm",
        action=argparse.BooleanOptionalAction,
        help="compute the fusion's GroupNorms (and their GELUs) in bf16 under autocast, not "
        f"float32 (performance.bf16_group_norm); default: {base} "
        f"({on[default.bf16_group_norm]})",
    )
    parser.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        help="replay the inference forward as a CUDA graph per input shape (CUDA only; "
        f"performance.cuda_graphs); default: {base} ({on[default.cuda_graphs]})",
    )
    parser.add_argument(
        "--hiera-attention",
        choices=["window", "package"],
        help="window-batched 4-D attention or hiera-transformer's 5-D forward "
        f"(performance.hiera_window_attention); default: {base} "
        f"({'window' if default.hiera_window_attention else 'package'})",
    )


def speed_options(
    args: argparse.Namespace, base: Optional[PerformanceConfig] = None
) -> PerformanceConfig:
    """The speed options to time: ``base`` (the --config's ``performance`` section; None: the
    package defaults, ``PerformanceConfig()``) with each flag given in place of its field, so
    that the report times what a run of that config (or with the defaults) would do. Fields no
    flag sets (``tf32``, ``fused_optimizer``) stay the base's."""
    perf = replace(base or PerformanceConfig())
    if args.hiera_attention is not None:
        perf.hiera_window_attention = args.hiera_attention == "window"
    if args.channels_last is not None:
        perf.channels_last = args.channels_last
    if args.cudnn_benchmark is not None:
        perf.cudnn_benchmark = args.cudnn_benchmark
    if args.bn_fold is not None:
        perf.fold_frozen_batchnorm = args.bn_fold
    if args.cuda_graphs is not None:
        perf.cuda_graphs = args.cuda_graphs
    if args.bf16_group_norm is not None:
        perf.bf16_group_norm = args.bf16_group_norm
    if args.compile is False:  # --no-compile
        perf.compile = False
    elif args.compile is not None:
        perf.compile, perf.compile_scope = True, args.compile
    if args.compile_mode is not None:
        perf.compile_mode = args.compile_mode
    return perf


def refuse_uncompiled_mode(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    base: Optional[PerformanceConfig] = None,
    config: Optional[str] = None,
) -> None:
    """Usage error for a --compile-mode that the timing would ignore: compile stays off (from
    ``base``, the ``config`` file's section, or --no-compile) and the mode is not the base's
    own anyway."""
    base = base or PerformanceConfig()
    mode = args.compile_mode
    if mode is None or mode == base.compile_mode or speed_options(args, base).compile:
        return
    if args.compile is False:
        parser.error(
            f"--compile-mode {mode} sets how the model is compiled, and --no-compile times it "
            "uncompiled: leave one of them out"
        )
    unset = f" (nor does --config {config} set performance.compile: true)" if config else ""
    parser.error(
        f"--compile-mode {mode} sets how --compile compiles, which is not given{unset}: add "
        "--compile (or --compile regional) or leave it out"
    )
