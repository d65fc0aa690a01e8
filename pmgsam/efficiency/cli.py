"""Command line of the efficiency report (``python -m pmgsam.efficiency``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Union

import pmgsam.efficiency as package
from pmgsam.efficiency.report import AMG_MODELS, efficiency_report, format_report, write_records
from pmgsam.engine.config import COMPILE_MODES, COMPILE_SCOPES, PerformanceConfig
from pmgsam.engine.distributed import resolve_device
from pmgsam.modeling.build import list_models
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.cli import DEVICE_NAMES, device_name, non_negative_int, positive_int
from pmgsam.utils.outputs import check_output_file


def build_parser() -> argparse.ArgumentParser:
    """The report's arguments (``benchmarks/gpu_speed.sh``'s test parses its commands)."""
    parser = argparse.ArgumentParser(
        prog="python -m pmgsam.efficiency", description=package.__doc__.split("\n\n")[0]
    )
    parser.add_argument("--model", default="pmgsam_hiera_b+", choices=list_models())
    parser.add_argument("--config", help="measure the model of this experiment YAML instead")
    parser.add_argument(
        "--size", type=positive_int, default=None, help="input side S (default: model's)"
    )
    parser.add_argument("--batch", type=positive_int, default=1)
    parser.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--iters", type=positive_int, default=10)
    parser.add_argument("--warmup", type=non_negative_int, default=3)
    parser.add_argument("--train", action="store_true", help="time training steps (AdamW)")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="model",
        choices=COMPILE_SCOPES,
        help="torch.compile the whole model (no value, or 'model') or each repeated block "
        "('regional': a shorter first call)",
    )
    parser.add_argument("--compile-mode", default="default", choices=COMPILE_MODES)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="let cuDNN time its convolution algorithms during the warm-up (CUDA only)",
    )
    parser.add_argument(
        "--hiera-attention",
        default="window",
        choices=["window", "package"],
        help="window-batched 4-D attention (default) or hiera-transformer's 5-D forward",
    )
    parser.add_argument(
        "--compare",
        choices=AMG_MODELS,
        help="also time this SAM / SAM2.1 automatic mask generator on the same images",
    )
    parser.add_argument(
        "--sam-points-per-side",
        type=positive_int,
        default=32,
        help="prompt grid of the compared AMG (default 32 as in SAM; fewer only to rehearse)",
    )
    parser.add_argument(
        "--json", default=None, help="also write the timing records (a JSON list) here"
    )
    parser.add_argument(
        "--run-dir", help="add the figures to <run-dir>/run.json for python -m pmgsam.report"
    )
    parser.add_argument("--method", help="method name in run.json (default: the run dir name)")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.device = str(resolve_device(args.device, option="--device"))
    if args.json:
        check_output_file(args.json, "--json")  # before minutes of timing, not after
    model: Union[str, ModelConfig] = args.model
    if args.config:
        from pmgsam.engine.config import ExperimentConfig
        from pmgsam.utils.config import load_config

        model = load_config(ExperimentConfig, args.config).model
    from pmgsam.utils.config import ConfigError

    perf = PerformanceConfig(
        hiera_window_attention=args.hiera_attention == "window",
        channels_last=args.channels_last,
        cudnn_benchmark=args.cudnn_benchmark,
        compile=args.compile is not None,
        compile_scope=args.compile or "model",
        compile_mode=args.compile_mode,
    )
    try:
        perf.validate()
    except ConfigError as err:
        parser.error(str(err))
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
    )
    if args.config:
        report["model"] = args.config
    print(format_report(report))
    if args.json:
        write_records(args.json, report["records"])
    if args.run_dir:
        from pmgsam.evaluation.tables import efficiency_from_report, write_run_json

        method = args.method or Path(args.run_dir).resolve().name
        path = write_run_json(args.run_dir, method, efficiency=efficiency_from_report(report))
        print(f"efficiency added to {path}")
