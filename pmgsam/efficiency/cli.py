"""Command line of the efficiency report (``python -m pmgsam.efficiency``).

Torch is imported after the arguments are parsed, so that ``--help`` and usage errors answer
at once (as ``train.py``'s and ``evaluate.py``'s do)."""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence, Union

import pmgsam.efficiency as package
from pmgsam.baselines.settings import AMG_MODELS
from pmgsam.engine.performance_config import COMPILE_MODES, COMPILE_SCOPES, PerformanceConfig
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.registry import MODEL_REGISTRY, list_models
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    CommandParser,
    HelpFormatter,
    NonEmpty,
    device_name,
    non_negative_int,
    positive_int,
)
from pmgsam.utils.command_names import command_name

DEFAULT_MODEL = "pmgsam_hiera_b+"


def build_parser() -> argparse.ArgumentParser:
    """The report's arguments (``benchmarks/gpu_speed.sh``'s test parses its commands)."""
    parser = CommandParser(
        prog="python -m pmgsam.efficiency",
        description=package.__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model",
        choices=list_models(),
        help=f"registered model to measure (default: {DEFAULT_MODEL}; not with --config)",
    )
    parser.add_argument(
        "--config",
        type=NonEmpty("an experiment config file"),
        help="measure the model of this experiment YAML (not with --model)",
    )
    parser.add_argument(
        "--size", type=positive_int, default=None, help="input side S (default: model's)"
    )
    parser.add_argument(
        "--batch", "--batch-size", type=positive_int, default=1, help="images per call"
    )
    parser.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    parser.add_argument(
        "--dtype", default="fp32", choices=["fp32", "bf16"], help="fp32, or bf16 autocast"
    )
    parser.add_argument("--iters", type=positive_int, default=10, help="timed calls")
    parser.add_argument(
        "--warmup", type=non_negative_int, default=3, help="untimed calls before the timed ones"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch intra-op threads for the measurement, recorded with it (default: torch's "
        "own count, which OMP_NUM_THREADS sets); on a CPU, rows timed on other counts are "
        "not ranked against each other",
    )
    parser.add_argument("--train", action="store_true", help="time training steps (AdamW)")
    _add_speed_options(parser)
    parser.add_argument(
        "--compare",
        choices=AMG_MODELS,
        help="also time this SAM / SAM2.1 automatic mask generator on the same images "
        "(one image at a time; max(1, ITERS // 2) timed passes over the batch after "
        "min(WARMUP, 1) untimed: a pass takes seconds); inference only: not with --train",
    )
    parser.add_argument(
        "--sam-points-per-side",
        type=positive_int,
        default=32,
        help="prompt grid of the --compare generator (needs --compare; default 32 as in SAM; "
        "fewer only to rehearse)",
    )
    parser.add_argument(
        "--json",
        type=NonEmpty("a JSON file to write"),
        help="also write the timing records (a JSON list) to this file (not a folder); a file "
        "there that pmgsam did not write is refused before timing, unless --overwrite (its own "
        "is replaced)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="let --json replace a file that pmgsam did not write",
    )
    parser.add_argument(
        "--run-dir",
        type=NonEmpty("an evaluated run folder"),
        help=f"add the figures to the run.json of this evaluated run ({command_name('evaluate')} "
        "--output-dir) for python -m pmgsam.report; it must record the same model (inference "
        "only: not with --train)",
    )
    parser.add_argument(
        "--method",
        type=NonEmpty("a row name, e.g. 'PMG-SAM'"),
        help="with --run-dir: rename the run's table row (default: keep its run.json method)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (by default each timing shows one on stderr, outside the timed "
        "calls)",
    )
    return parser


def _add_speed_options(parser: argparse.ArgumentParser) -> None:
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
        "--hiera-attention",
        choices=["window", "package"],
        help="window-batched 4-D attention or hiera-transformer's 5-D forward "
        f"(performance.hiera_window_attention); default: {base} "
        f"({'window' if default.hiera_window_attention else 'package'})",
    )


def config_label(config: ModelConfig, path: str) -> str:
    """The record's ``model`` for a model read from an experiment config: the registered name
    whose architecture it has (the input size is a record field of its own), so that its rows
    compare with those measured by name, else :func:`config_file_name`."""
    from pmgsam.modeling.build import model_config
    from pmgsam.modeling.checkpoint import architecture_diff

    for name in list_models():
        same_size = model_config(MODEL_REGISTRY[name](), image_size=config.image_size)
        if not architecture_diff(same_size, config):
            return name
    return config_file_name(path)


def config_file_name(path: str) -> str:
    """The name of an experiment config file's model: the file's stem, but for the
    ``config.yaml`` a training run saved (every run's is named so) the run folder's name, and
    for a finished ``pmgsam.ablate`` variant's ``NAME/train/config.yaml`` the variant's NAME."""
    from pmgsam.ablate_checks import DONE_FILE
    from pmgsam.engine.saved_config import is_run_config

    if not is_run_config(path):
        return Path(path).stem
    run = Path(path).resolve().parent
    return run.parent.name if (run / DONE_FILE).is_file() else run.name


def check_run_dir(run_dir: str, measured: ModelConfig, config: Optional[str]) -> None:
    """:func:`~pmgsam.evaluation.run_json.check_measured_model`; when an ablation variant's
    folder is refused, the error says to measure the config it was trained with, which holds
    the ``key=value`` overrides that this command does not take."""
    from pmgsam.engine.saved_config import is_run_config
    from pmgsam.evaluation.map_pairs import EvaluationInputError
    from pmgsam.evaluation.run_json import check_measured_model, read_run_file

    try:
        check_measured_model(run_dir, measured)
    except EvaluationInputError as err:
        saved = Path(run_dir) / "train" / "config.yaml"  # pmgsam.ablate's variant layout
        if not is_run_config(saved) or (config and Path(config).resolve() == saved.resolve()):
            raise
        meta = read_run_file(Path(run_dir) / "run.json").get("meta")
        given = f"--config {config}" if config else "--model"
        hint = (
            f"the variant was trained with key=value overrides, which {given} lacks "
            "(python -m pmgsam.efficiency takes none)"
            if isinstance(meta, dict) and meta.get("overrides")
            else "the variant's model is the one it was trained with"
        )
        raise EvaluationInputError(
            f"{err}; {hint}: give its own saved config, --config {saved}"
        ) from None


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


def _refuse_ignored_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors for options this call would ignore without a word, and for a --json that
    names a folder."""
    if args.model and args.config:  # the config's model was measured, --model's dropped
        parser.error(
            f"--model {args.model} and --config {args.config} both name the model to measure: "
            "give one of them (--config measures the experiment config's model)"
        )
    if not args.config:  # else the base is the config's, read in main
        refuse_uncompiled_mode(parser, args)
    if args.sam_points_per_side != parser.get_default("sam_points_per_side") and not args.compare:
        parser.error(
            f"--sam-points-per-side {args.sam_points_per_side} sets the prompt grid of the "
            "--compare generator, which is not given: add --compare (e.g. sam_vit_b) or leave "
            "it out"
        )
    # Path() drops a trailing separator: 'effdir/' would become a file named 'effdir'.
    if args.json and args.json.endswith(("/", os.sep)):
        parser.error(
            f"--json '{args.json}' names a folder; give the path of the file to write, e.g. "
            f"'{args.json}efficiency.json'"
        )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors for option combinations, before anything is loaded or timed (the GPU
    benchmark script's commands are held against this too)."""
    if args.method and not args.run_dir:
        parser.error("--method renames a run's row: it needs --run-dir")
    _refuse_ignored_options(parser, args)
    if args.train and args.compare:  # the speed-up would set training steps against inference
        parser.error(
            "--compare times a generator's inference against PMG-SAM's; --train times training "
            "steps: time the comparison without --train"
        )
    if args.train and args.run_dir:  # its images/s would become the row's (inference) FPS
        parser.error(
            "--run-dir adds inference figures to a run's row (its FPS column); --train times "
            "training steps: keep those with --json"
        )
    if args.overwrite and not args.json:
        parser.error("--overwrite lets --json replace a file: it needs --json")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Measure, print the report, and write it to --json and/or --run-dir's run.json."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    experiment = None
    if args.config:  # its model and speed options are measured; read before torch is imported
        from pmgsam.engine.config import ExperimentConfig
        from pmgsam.utils.config import load_config

        experiment = load_config(ExperimentConfig, args.config)
        refuse_uncompiled_mode(parser, args, experiment.performance, args.config)
    perf = speed_options(args, experiment.performance if experiment else None)

    from pmgsam.efficiency.report import efficiency_report, format_report, write_records
    from pmgsam.engine.distributed import make_current, native_bf16, resolve_device
    from pmgsam.modeling.build import model_config
    from pmgsam.utils.config import ConfigError

    device = resolve_device(args.device, option="--device")
    make_current(device)  # cuda:N: its memory statistics and pinned buffers are that GPU's
    args.device = str(device)
    if args.dtype == "bf16" and device.type == "cuda" and not native_bf16(device):
        import torch

        # The record would time an emulation many times slower than the GPU's fp16 or fp32.
        warnings.warn(
            f"--dtype bf16 on {torch.cuda.get_device_name(device)} ({device}), which has no "
            "native bfloat16 (compute capability 8.0+): its figures time an emulation; "
            "measure with --dtype fp32 there",
            stacklevel=2,
        )
    if args.json:  # before minutes of timing, not after; a file of the user's own stays
        from pmgsam.analysis.output_files import check_output_paths

        check_output_paths([args.json], "--json", args.overwrite)
    model: Union[str, ModelConfig] = experiment.model if experiment else args.model or DEFAULT_MODEL
    label = args.model or DEFAULT_MODEL
    try:
        measured = model_config(model, **({"image_size": args.size} if args.size else {}))
    except ConfigError as err:
        if args.size and "model.image_size" in str(err):  # the user gave --size, not that key
            raise ConfigError(f"--size {args.size}: {err}") from None
        raise
    if args.config:
        label = config_label(measured, args.config)
    if args.run_dir:
        check_run_dir(args.run_dir, measured, args.config)  # before minutes of timing, not after
    report = efficiency_report(
        model,
        args.size,
        args.batch,
        args.device,
        args.dtype,
        args.iters,
        args.warmup,
        train=args.train,
        perf=perf,
        compare=args.compare,
        sam_points_per_side=args.sam_points_per_side,
        label=label,
        threads=args.threads,
        progress=not args.quiet,
    )
    print(format_report(report))
    if args.json:
        from pmgsam.analysis.output_files import record_output_paths

        record_output_paths([args.json], "python -m pmgsam.efficiency")
        write_records(args.json, report["records"])
    if args.run_dir:
        from pmgsam.evaluation.run_efficiency import efficiency_from_report
        from pmgsam.evaluation.run_json import write_run_json

        path = write_run_json(args.run_dir, args.method, efficiency=efficiency_from_report(report))
        print(f"efficiency added to {path}")
