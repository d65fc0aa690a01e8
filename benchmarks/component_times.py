"""Where a PMG-SAM forward (or training step) spends its time, component by component.

    python benchmarks/component_times.py [--model pmgsam_hiera_b+] [--size S] [--batch 1]
        [--iters 5] [--warmup 2] [--threads N] [--device cpu|cuda] [--dtype fp32|bf16]
        [--channels-last] [--bf16-group-norm] [--train] [--kernels N]

The model is built and timed as ``python -m pmgsam.efficiency`` does it (same build, memory
format, ``measure_speed`` / ``measure_training`` steps, so the same autocast, inference mode,
loss and AdamW), with the package's other speed defaults (:class:`PerformanceConfig`: cuDNN's
algorithm timing on a GPU, the U²-Net's BatchNorms folded), as the efficiency report's
``--cudnn-benchmark`` would run it; each top-level component's call (the names of the report's
FLOPs "by component" line), and each fusion level's (rows under ``fusion``, by stride, out of
the sums), is bracketed by timestamps: CUDA events on a GPU (no synchronisation
inside the forward), ``time.perf_counter`` on a CPU. Printed per row: the median over the timed
calls in ms per batch and per image, its share of the whole forward (or step), the forward
GFLOPs per image and the rate they run at; the sum of the components against the whole, the
remainder being the glue between them (normalisation, concatenations, the top-level forward
itself).
With ``--train`` the step splits into the frozen branches' forward, the trainable parts'
forward, loss + backward + gradient clipping, and the AdamW step.
With ``--kernels N`` the same call (or step) then runs :data:`KERNEL_CALLS` more times under
``torch.profiler``, and the N largest kernels (operators on a CPU) and operators by input shape
are listed (:mod:`pmgsam.efficiency.kernel_table`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch

from pmgsam.efficiency.alternating import ab_parser, prepare
from pmgsam.efficiency.flops import count_flops
from pmgsam.efficiency.kernel_table import kernel_tables, profile_calls
from pmgsam.efficiency.method_wraps import wrapped_method
from pmgsam.efficiency.report import git_commit
from pmgsam.efficiency.timing import (
    inference_step,
    measure_speed,
    measure_training,
    training_step,
)
from pmgsam.engine.distributed import make_current
from pmgsam.engine.performance import configure_backends, prepare_model, to_memory_format
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.build import build_model
from pmgsam.modeling.fusion import LEVEL_STRIDES
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES
from pmgsam.modeling.registry import list_models
from pmgsam.utils.cli import non_negative_int

DEFAULT_MODEL = "pmgsam_hiera_b+"
#: (attribute of PMGSAM, method the forward calls), in the order the forward calls them. The
#: U²-Net branch is entered through ``features``, which no forward hook would see.
COMPONENTS = (
    ("hiera", "forward"),
    ("u2net", "features"),
    ("neck", "forward"),
    ("fusion", "forward"),
    ("refiner", "forward"),
    ("decoder", "forward"),
)
#: Calls profiled for ``--kernels`` (after one unprofiled call).
KERNEL_CALLS = 3
#: Row-name prefix of the fusion's levels (``  fusion stride 1`` ... ``32``), indented under it.
FUSION_LEVEL = "  fusion stride "


def build_parser() -> argparse.ArgumentParser:
    parser = ab_parser(__doc__.split("\n\n")[0], list_models(), DEFAULT_MODEL, None, "--model")
    parser.add_argument("--warmup", type=non_negative_int, default=2, help="untimed calls first")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--bf16-group-norm",
        action="store_true",
        help="the fusion's GroupNorms in bf16 under autocast (performance.bf16_group_norm)",
    )
    parser.add_argument("--train", action="store_true", help="time training steps (AdamW)")
    parser.add_argument(
        "--kernels",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="then profile the call and list its N largest kernels (operators on a CPU) and "
        "operators by input shape (default 0: not profiled)",
    )
    return parser


class Stamps:
    """Named timestamps, one dict of lists per forward call (a round)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.rounds: List[Dict[str, List[Any]]] = []

    def stamp(self, key: str) -> None:
        if self.cuda:  # recorded on the stream: the GPU's time, the host not held up
            now: Any = torch.cuda.Event(enable_timing=True)
            now.record()
        else:
            now = time.perf_counter()
        self.rounds[-1].setdefault(key, []).append(now)

    def ms(self, first: Any, last: Any) -> float:
        return first.elapsed_time(last) if self.cuda else 1000 * (last - first)

    def span(self, rnd: Dict[str, List[Any]], name: str) -> float:
        """Milliseconds between ``name:start`` and ``name:end``, summed over its calls."""
        starts, ends = rnd.get(f"{name}:start", []), rnd.get(f"{name}:end", [])
        if len(starts) != len(ends) or not starts:
            raise RuntimeError(f"{name}: {len(starts)} starts and {len(ends)} ends in a round")
        return sum(self.ms(a, b) for a, b in zip(starts, ends))


def fusion_levels(model: torch.nn.Module) -> List[Tuple[str, torch.nn.Module]]:
    """The fusion's per-level modules, named by stride: rows inside the ``fusion`` row (the
    finest levels hold the full-resolution work), left out of the sums."""
    levels = getattr(getattr(model, "fusion", None), "levels", None) or []
    return [(f"{FUSION_LEVEL}{s}", level) for s, level in zip(LEVEL_STRIDES, levels)]


@contextmanager
def stamped_components(model: torch.nn.Module, stamps: Stamps) -> Iterator[List[str]]:
    """Bracket every component's call, and each fusion level's, with timestamps; yields the
    components' names, then the levels'."""
    targets = [(name, getattr(model, name, None), method) for name, method in COMPONENTS]
    targets += [(name, level, "forward") for name, level in fusion_levels(model)]

    def timed(name: str, original: Callable, *args: Any, **kw: Any) -> Any:
        stamps.stamp(f"{name}:start")
        out = original(*args, **kw)
        stamps.stamp(f"{name}:end")
        return out

    with ExitStack() as wrapped:
        for name, module, method in targets:
            wrapped.enter_context(wrapped_method(module, method, partial(timed, name)))
        yield [name for name, module, _ in targets if module is not None]


def stamped_forward(model: torch.nn.Module, stamps: Stamps) -> Callable:
    """The model's call, starting a new round and bracketed by ``forward`` timestamps."""

    def call(images: torch.Tensor) -> Any:
        stamps.rounds.append({})
        stamps.stamp("forward:start")
        out = model(images)
        stamps.stamp("forward:end")
        return out

    return call


@contextmanager
def stamped_optimizer_steps(stamps: Stamps) -> Iterator[None]:
    """Timestamps around every optimizer step: the backward ends where the step starts."""
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    def before(*_: Any) -> None:
        stamps.stamp("optimizer:start")

    def after(*_: Any) -> None:
        stamps.stamp("optimizer:end")

    handles = [register_optimizer_step_pre_hook(before), register_optimizer_step_post_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def split_rounds(stamps: Stamps, timed: List[str], train: bool) -> Dict[str, List[float]]:
    """Milliseconds of every row in every round: components (each fusion level after the
    fusion), their sums, the glue, the whole."""
    names = [n for n in timed if not n.startswith(FUSION_LEVEL)]
    levels = [n for n in timed if n.startswith(FUSION_LEVEL)]
    frozen = [n for n in names if n in FROZEN_BRANCHES]
    trainable = [n for n in names if n not in FROZEN_BRANCHES]
    rows: Dict[str, List[float]] = {}
    for rnd in stamps.rounds:
        values = {}
        for n in names:
            values[n] = stamps.span(rnd, n)
            if n == "fusion":
                values.update((level, stamps.span(rnd, level)) for level in levels)
        forward = stamps.span(rnd, "forward")
        if train:
            values["frozen branches' forward"] = sum(values[n] for n in frozen)
            values["trainable parts' forward"] = sum(values[n] for n in trainable)
        values["sum of components"] = sum(values[n] for n in names)
        values["glue (forward - components)"] = forward - values["sum of components"]
        values["whole forward"] = forward
        if train:
            # The outermost pair: a step wrapped twice (as a patched step is) fires both twice.
            opt_start, opt_end = rnd["optimizer:start"][0], rnd["optimizer:end"][-1]
            values["loss + backward + clip"] = stamps.ms(rnd["forward:end"][-1], opt_start)
            values["AdamW step"] = stamps.ms(opt_start, opt_end)
            values["whole step"] = stamps.ms(rnd["forward:start"][0], opt_end)
        for key, value in values.items():
            rows.setdefault(key, []).append(value)
    return rows


def format_table(
    medians: Dict[str, float], whole: str, batch: int, gflops: Dict[str, float]
) -> List[str]:
    """One line per row: ms per batch and per image, share of ``whole``, GFLOPs and rate."""
    width = max(len(k) for k in medians)
    lines = [
        f"  {'component':{width}s}  {'ms/batch':>9s}  {'ms/image':>9s}  {'share':>6s}  "
        f"{'GFLOP/img':>9s}  {'TFLOP/s':>7s}"
    ]
    for name, ms in medians.items():
        share = 100 * ms / medians[whole] if medians[whole] > 0 else float("nan")
        line = f"  {name:{width}s}  {ms:9.2f}  {ms / batch:9.3f}  {share:5.1f}%"
        if name in gflops:
            rate = gflops[name] * batch / ms if ms > 0 else float("nan")
            line += f"  {gflops[name]:9.2f}  {rate:7.2f}"
        lines.append(line)
    return lines


def main(argv=None) -> Dict[str, Any]:
    """Print the table; returns the medians (ms per batch) and the synchronised whole."""
    args = build_parser().parse_args(argv)
    device = prepare(args)
    make_current(device)  # cuda:N: the events are recorded on the current device's stream
    perf = PerformanceConfig(channels_last=args.channels_last, bf16_group_norm=args.bf16_group_norm)
    configure_backends(perf, device)
    overrides = {"image_size": args.size} if args.size else {}
    model = prepare_model(build_model(args.model, **overrides).to(device).eval(), perf)
    s = model.config.image_size
    images = to_memory_format(torch.rand(args.batch, 3, s, s, device=device), perf)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    mode = "train" if args.train else "inference"
    print(
        f"{args.model} {mode} S={s} batch={args.batch} device={gpu} dtype={args.dtype} "
        f"channels_last={args.channels_last} bf16_group_norm={args.bf16_group_norm} "
        f"threads={torch.get_num_threads()} "
        f"torch={torch.__version__} commit={git_commit()} iters={args.iters} "
        f"warmup={args.warmup}"
    )
    # Counted before the timestamps go in: counting replaces u2net.features for a while too.
    flops = count_flops(model, images[:1], args.dtype)["components"]
    gflops = {k: v / 1e9 for k, v in flops.items()}
    stamps = Stamps(device)
    net = stamped_forward(model, stamps)
    with stamped_components(model, stamps) as names:
        if args.train:
            with stamped_optimizer_steps(stamps):
                speed = measure_training(
                    model, net, images, args.dtype, args.iters, args.warmup, perf
                )
        else:
            speed = measure_speed(net, images, args.dtype, args.iters, args.warmup)
    rows = split_rounds(stamps, names, args.train)
    names = [n for n in names if not n.startswith(FUSION_LEVEL)]
    medians = {k: statistics.median(v[-args.iters :]) for k, v in rows.items()}
    gflops["whole forward"] = sum(gflops.values())  # "other" included: the forward's own
    gflops["sum of components"] = sum(gflops[n] for n in names)
    if args.train:
        gflops["frozen branches' forward"] = sum(gflops[n] for n in names if n in FROZEN_BRANCHES)
        gflops["trainable parts' forward"] = (
            gflops["sum of components"] - gflops["frozen branches' forward"]
        )
    whole = "whole step" if args.train else "whole forward"
    print("\n".join(format_table(medians, whole, args.batch, gflops)))
    synced = speed["latency_ms_median"]
    print(
        f"  {whole} as the efficiency report times it (host-synchronised around each call, "
        "timestamps included): "
        f"{synced:.2f} ms per batch, {speed['images_per_s']:.2f} images/s"
    )
    if args.kernels:
        if args.train:
            step = training_step(model, model, images, args.dtype, perf)
        else:
            step = inference_step(model, images, args.dtype)
        prof = profile_calls(step, device, KERNEL_CALLS)
        print("\n".join(kernel_tables(prof, device, KERNEL_CALLS, args.kernels)))
    return {"medians": medians, "synchronised_ms": synced, "components": names}


if __name__ == "__main__":
    main()
