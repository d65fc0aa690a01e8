"""Start-up time of the commands: wall clock of ``--help`` in a fresh process, and which heavy
packages each imports.

    python benchmarks/startup_time.py [--repeat 3]

Each command runs ``--repeat`` times in turn (interleaved, so a burst of load on a shared
machine hits all of them alike); the median is reported. The imported packages come from one
more run under ``python -X importtime``. ``python -c pass`` is the interpreter's own floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    ["-c", "pass"],
    ["evaluate.py", "--help"],
    ["train.py", "--help"],
    ["-m", "pmgsam.analysis", "--help"],
    ["-m", "pmgsam.report", "--help"],
    ["-m", "pmgsam.ablate", "--help"],
    ["-m", "pmgsam.data.synthetic", "--help"],
    ["-m", "pmgsam.efficiency", "--help"],
    ["-m", "pmgsam.engine.inference", "--help"],
    ["-m", "pmgsam.baselines.finetune_sam", "--help"],
)
HEAVY = (
    "torch",
    "torch._dynamo",
    "torchvision",
    "timm",
    "hiera",
    "segment_anything",
    "sam2",
    "cv2",
    "scipy",
    "albumentations",
)


def wall_seconds(args: Sequence[str]) -> float:
    """Wall-clock seconds of ``python args`` in a fresh process, from the repository root."""
    tic = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - tic


def heavy_imports(args: Sequence[str]) -> List[str]:
    """The packages of :data:`HEAVY` that ``python args`` imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], cwd=ROOT, capture_output=True, text=True
    )
    names = {ln.rsplit("|", 1)[-1].strip() for ln in done.stderr.splitlines() if "|" in ln}
    return [name for name in HEAVY if name in names]


def main() -> None:
    """Time every command of :data:`COMMANDS` and print the table (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command")
    repeat = parser.parse_args().repeat
    if repeat < 1:  # no runs, no median
        parser.error(f"--repeat must be at least 1 (runs per command), got {repeat}")
    times: Dict[str, List[float]] = {" ".join(c): [] for c in COMMANDS}
    for _ in range(repeat):
        for command in COMMANDS:
            times[" ".join(command)].append(wall_seconds(command))
    print("| command | median (s) | runs (s) | heavy imports |")
    print("|---|---:|---|---|")
    for command in COMMANDS:
        runs = times[" ".join(command)]
        shown = ", ".join(f"{t:.2f}" for t in runs)
        imports = ", ".join(heavy_imports(command)) or "none"
        median = statistics.median(runs)
        print(f"| `python {' '.join(command)}` | {median:.2f} | {shown} | {imports} |")


if __name__ == "__main__":
    main()
