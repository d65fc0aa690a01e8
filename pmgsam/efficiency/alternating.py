"""A/B timing of two forms of one computation, alternating in one process (benchmarks/).

Machine load then affects both forms alike, and the ratio of their medians holds where the
absolute times do not; the outputs of the last round are compared too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.utils.cli import positive_int


def ab_parser(
    description: str,
    variants: Sequence[str],
    default: str,
    size: Optional[int],
    option: str = "--variant",
) -> argparse.ArgumentParser:
    """The options every benchmark of benchmarks/ takes: which model variant (``option``),
    input size (``size`` None: the model's own), batch, rounds, threads, device and dtype."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(option, default=default, choices=sorted(variants))
    parser.add_argument("--size", type=positive_int, default=size)
    parser.add_argument(
        "--batch", "--batch-size", type=positive_int, default=1, help="images per call"
    )
    parser.add_argument("--iters", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    return parser


def prepare(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads``, seed torch (same weights and input on every run); the device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return torch.device(args.device)


def time_alternating(
    forms: Dict[str, Callable[[], Any]], args: argparse.Namespace
) -> Dict[str, List[float]]:
    """Seconds per call of each form over ``args.iters`` rounds after one warm-up round,
    under inference mode and ``args.dtype`` autocast; prints the comparison of the first two
    forms (median ratio, largest difference of their outputs, sequences of tensors)."""
    device = torch.device(args.device)
    amp = torch.bfloat16 if args.dtype == "bf16" else None
    times: Dict[str, List[float]] = {name: [] for name in forms}
    outputs: Dict[str, Any] = {}
    with torch.inference_mode(), autocast(device, amp):
        for i in range(args.iters + 1):
            for name, call in forms.items():
                synchronize(device)
                start = time.perf_counter()
                outputs[name] = call()
                synchronize(device)
                if i:
                    times[name].append(time.perf_counter() - start)
    first, second = list(forms)[:2]
    diff = largest_difference(outputs[first], outputs[second], first, second)
    medians = {k: statistics.median(v) for k, v in times.items()}
    width = max(len(k) for k in forms)
    for name, med in medians.items():
        runs = ", ".join(f"{1000 * t:.0f}" for t in times[name])
        print(f"  {name:{width}s}  median {1000 * med:9.1f} ms  (runs: {runs})")
    print(
        f"  speed-up {first} / {second}: {medians[first] / medians[second]:.2f}x | "
        f"max |diff| of the outputs {diff:.2e}"
    )
    return times


def largest_difference(
    first: Sequence[torch.Tensor], second: Sequence[torch.Tensor], first_name: str, second_name: str
) -> float:
    """The largest absolute difference between two forms' outputs (sequences of tensors; the
    names are the forms', for the error); NaN when either output holds a NaN (or both an inf).

    Python's ``max`` over floats keeps a NaN only in the first place (``nan > x`` is False), so
    a NaN in a later stage map would have reported the others' small difference. Outputs of
    different number or shape (broadcasting would still give a number) raise ValueError, and so
    do two empty outputs (nothing to compare).
    """
    shapes = [tuple(t.shape) for t in first], [tuple(t.shape) for t in second]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"the forms' outputs differ in shape: {first_name} gives {shapes[0]}, "
            f"{second_name} {shapes[1]}"
        )
    if not shapes[0]:  # torch.stack would fail with its own message, naming neither form
        raise ValueError(
            f"the forms gave no outputs to compare: {first_name} and {second_name} each "
            "returned an empty sequence (return the tensors each form computes)"
        )
    diffs = [(a.float() - b.float()).abs().max() for a, b in zip(first, second)]
    return torch.stack(diffs).max().item()
