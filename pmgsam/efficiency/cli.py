"""Command line of the efficiency report (``python -m pmgsam.efficiency``).

Torch is imported after the arguments are parsed, so that ``--help`` and usage errors answer
at once (as ``train.py``'s and ``evaluate.py``'s do)."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence, Union

import pmgsam.efficiency as package
from pmgsam.baselines.settings import AMG_MODELS
from pmgsam.efficiency.speed_flags import add_speed_options, refuse_uncompiled_mode, speed_options
from pmgsam.engine.performance_config import GRAPHING_COMPILE_MODES
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
    add_speed_options(parser)
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
    from pmgsam.ablation.checks import DONE_FILE
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
    if args.train and args.cuda_graphs:  # training steps run eagerly (autograd)
        parser.error(
            "--cuda-graphs replays inference forwards; --train times training steps, which "
            "run without them: leave one of them out"
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
    if perf.cuda_graphs and perf.compile and perf.compile_mode in GRAPHING_COMPILE_MODES:
        parser.error(
            f"CUDA graphs (--cuda-graphs or the config's performance.cuda_graphs) and compile "
            f"mode {perf.compile_mode} both capture graphs: give --no-cuda-graphs or another "
            "--compile-mode"
        )

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
