"""What starting a command costs. hiera-transformer (with timm, torchvision and torch._dynamo,
~3 s) is imported only where a Hiera model is built: not by a command's --help, nor by what a
DataLoader worker imports; nor is segment-anything (torchvision, torch._dynamo) by the SAM
fine-tuning command's --help. The --help of the efficiency report and of inference, and listing
the model names, do not import torch at all; the lazy packages' names behave as attributes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A spawned worker imports the modules of the pickled dataset (pmgsam.data, or inference's
# SkipUnreadable), of the worker_init_fn (pmgsam.data.io) and the command's own script as
# __mp_main__ (train.py, evaluate.py): all imported here.
PROBE = """
import runpy, sys
import pmgsam.data.datasets, pmgsam.data.io, pmgsam.engine.predictor, pmgsam.engine.train_data
import pmgsam.engine.inference_inputs
for run, target in ((runpy.run_path, "evaluate.py"), (runpy.run_path, "train.py"),
                    (runpy.run_module, "pmgsam.baselines.finetune_sam")):
    sys.argv = [target, "--help"]
    try:
        run(target, run_name="__main__")
    except SystemExit:
        pass
heavy = ("hiera", "timm", "torchvision", "torch._dynamo", "segment_anything")
print(" ".join(m for m in heavy if m in sys.modules))
"""


def test_help_and_data_loading_modules_do_not_import_hiera_or_segment_anything() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for usage in ("usage: train.py", "usage: evaluate.py", "usage: python -m pmgsam.baselines"):
        assert usage in done.stdout
    assert done.stdout.splitlines()[-1] == "", done.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    "package, typo, name",
    [("pmgsam", "list_model", "list_models"), ("pmgsam.data", "load_imag", "load_image"),
     ("pmgsam.efficiency", "count_flop", "count_flops")],
)  # fmt: skip
def test_a_name_a_lazy_package_does_not_have_is_an_attribute_error(
    package: str, typo: str, name: str
) -> None:
    """Their lazy names must not turn a typo into another error (hasattr and ``from ... import``
    rely on AttributeError)."""
    import importlib

    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"^module '{package}' has no attribute '{typo}'$"):
        getattr(module, typo)
    assert not hasattr(module, typo) and name in dir(module)
    with pytest.raises(ImportError, match=f"cannot import name '{typo}'"):
        exec(f"from {package} import {typo}", {})
    assert getattr(module, name) is vars(module)[name]  # found once, then kept


def test_startup_benchmark_refuses_a_repeat_below_one() -> None:
    # No runs would leave no median to report: an argparse error naming the option instead.
    done = subprocess.run(
        [sys.executable, "benchmarks/startup_time.py", "--repeat", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--repeat must be at least 1" in done.stderr


# Run as `python -m` runs them; one process, so that a module imported by either is seen.
TORCH_FREE_HELP = """
import runpy, sys
for module in ("pmgsam.efficiency", "pmgsam.engine.inference"):
    sys.argv = [module, "--help"]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    print(f"{module} --help imported torch: {'torch' in sys.modules}")
"""


def test_help_of_efficiency_and_inference_does_not_import_torch() -> None:
    # torch takes seconds to import: --help and usage errors must not wait for it.
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE_HELP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    for module in ("pmgsam.efficiency", "pmgsam.engine.inference"):
        assert f"usage: python -m {module}" in done.stdout
        assert f"{module} --help imported torch: False" in lines, done.stdout


def test_listing_the_model_names_does_not_import_torch() -> None:
    probe = "import sys, pmgsam; print(*pmgsam.list_models(), 'torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    *names, imported = done.stdout.split()
    assert "pmgsam_tiny" in names and imported == "False", done.stdout
