"""Cold start and steady state of torch.compile: none vs whole model vs regional (one run).

    python benchmarks/compile_cold_start.py [--model pmgsam_tiny] [--size 64] [--batch 1]
        [--iters 5] [--device cpu|cuda] [--dtype fp32|bf16] [--variants none,model,regional]

Each variant runs in a fresh process with an empty inductor cache (so no variant reuses code
another one compiled) on the same seeded model and input; each process first computes the
eager outputs, then times the first call of the variant (the compilation a user waits for) and
the median of ``--iters`` further calls, and prints the largest difference from eager.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import torch

from pmgsam.efficiency.timing import amp_dtype
from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.engine.performance import maybe_compile, prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.build import build_model, list_models

VARIANTS = ("none", "model", "regional")


def measure(args: argparse.Namespace, variant: str) -> Dict[str, float]:
    """One variant in this process: first-call and steady-state ms, max |diff| from eager."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.model, image_size=args.size).to(device).eval()
    perf = PerformanceConfig(compile=variant != "none", compile_scope=variant)
    prepare_model(model, perf)
    images = torch.rand(args.batch, 3, args.size, args.size, device=device)

    def call(net) -> Dict[str, torch.Tensor]:
        with torch.inference_mode(), autocast(device, amp_dtype(args.dtype)):
            out = net(images)
        synchronize(device)
        return out

    reference = call(model)
    net = maybe_compile(model, perf)
    start = time.perf_counter()
    out = call(net)
    first = time.perf_counter() - start
    times: List[float] = []
    for _ in range(args.iters):
        start = time.perf_counter()
        call(net)
        times.append(time.perf_counter() - start)
    diff = max((out[k].float() - reference[k].float()).abs().max().item() for k in reference)
    return {
        "first_call_ms": 1000 * first,
        "steady_ms": 1000 * statistics.median(times),
        "max_abs_diff": diff,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pmgsam_tiny", choices=list_models())
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args, args.one)))
        return
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    base = [
        f"--{k}={getattr(args, k)}" for k in ("model", "size", "batch", "iters", "device", "dtype")
    ]
    print(
        f"{args.model} S={args.size} batch={args.batch} device={args.device} dtype={args.dtype} "
        f"torch={torch.__version__} threads={torch.get_num_threads()}"
    )
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix="inductor_") as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            cmd = [sys.executable, os.path.abspath(__file__), *base, "--one", variant]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            print(f"  {variant:9s} failed:\n{out.stderr[-3000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  compile={variant:9s} first call {r['first_call_ms']:9.1f} ms | steady "
            f"{r['steady_ms']:8.1f} ms | max |diff| vs eager {r['max_abs_diff']:.2e}"
        )


if __name__ == "__main__":
    main()
