"""Plain helpers of the CLI tests: run a command's ``main`` as ``python -m`` runs it, and find
its one error line (test_cli_errors_inference.py, test_cli_errors_train_evaluate.py); every
command's parser, for the --help tests (test_help_defaults.py, test_help_text_shown.py);
:func:`script_module`, a fresh copy of a script such as ``train.py`` (:func:`benchmark_module`, of
one of benchmarks/); :func:`evaluate_main` and
:func:`train_main`, those scripts' main on any arguments."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, List, Sequence

from pmgsam.utils.cli import exit_status

ROOT = Path(__file__).resolve().parents[1]


def cli(main: Callable, argv: List, capsys) -> tuple:
    """(exit status, stderr) of ``main(argv)`` run the way ``python -m`` runs it."""
    code = exit_status(main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_error_line(err: str) -> str:
    """The single error line (progress bars may precede it on stderr, nothing may follow)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    # On a line of its own: not glued to a progress bar that the failure left open.
    assert re.match(r"[\w. -]+: error: ", errors[0]), err
    return errors[0]


def command_parsers() -> Iterator[argparse.ArgumentParser]:
    """Every command's parser (from its ``build_parser``), each subcommand's after its own."""
    import evaluate
    import train
    from pmgsam import ablate, report
    from pmgsam.analysis import __main__ as analysis
    from pmgsam.baselines import finetune_sam
    from pmgsam.data import synthetic
    from pmgsam.efficiency import cli as efficiency
    from pmgsam.engine import inference
    from pmgsam.evaluation import export_cos_gt

    modules = (train, evaluate, inference, report, efficiency, synthetic, ablate, analysis)
    others = [finetune_sam.build_parser(), export_cos_gt.build_parser()]
    for parser in [m.build_parser() for m in modules] + others:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield from action.choices.values()


def script_module(name: str) -> ModuleType:
    """A fresh copy of the repository's ``{name}.py`` script (train.py and evaluate.py run
    ``pmgsam.{name}`` under their own names), loaded as the module ``{name}_cli``."""
    spec = importlib.util.spec_from_file_location(f"{name}_cli", ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_module(name: str) -> ModuleType:
    """A fresh copy of the script ``benchmarks/{name}.py``, loaded as ``{name}_benchmark``."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate_main(argv: Sequence[object]) -> int:
    """``evaluate.py``'s ``main`` on ``argv`` (each item made a string), from a fresh copy of
    the script."""
    return script_module("evaluate").main([str(a) for a in argv])


def train_main(argv: Sequence[object]) -> int:
    """``train.py``'s ``main`` on ``argv`` (each item made a string), from a fresh copy of the
    script."""
    return script_module("train").main([str(a) for a in argv])


def figures_args(runs: Sequence[object], out: object, **given: object) -> argparse.Namespace:
    """The namespace ``python -m pmgsam.analysis figures`` parses for ``runs`` into ``out``:
    split ``S`` of a config the tests replace (``split_images`` patched), one image, a
    one-image sheet, small and quiet; ``given`` changes any field."""
    args = dict(
        config="unused.yaml", split="S", runs=[str(r) for r in runs], out=str(out),
        images=None, num=1, worst=1, by="iou", width=2.0, dpi=30, overwrite=False,
        quiet=True, resize_pred=False,
    )  # fmt: skip
    return argparse.Namespace(**{**args, **given})
