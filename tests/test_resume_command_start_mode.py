"""The resume command a stopped run names is started as the run was: ``python -m
pmgsam.train`` for a run started as the installed module (which has no train.py beside it),
``python train.py`` from the source folder; torchrun's form alike."""

from __future__ import annotations

import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

from pmgsam.engine.resume_checks import resume_command


def _main_module(monkeypatch, spec_name):
    main = types.ModuleType("__main__")
    main.__spec__ = ModuleSpec(spec_name, None) if spec_name else None
    monkeypatch.setitem(sys.modules, "__main__", main)


def test_a_run_started_as_the_module_resumes_as_the_module(monkeypatch):
    _main_module(monkeypatch, "pmgsam.train")
    run = Path("runs/a")
    assert resume_command(run, 1) == f"python -m pmgsam.train --resume {run}"
    assert resume_command(run, 4) == f"torchrun --nproc_per_node 4 -m pmgsam.train --resume {run}"


def test_a_run_started_as_the_script_resumes_as_the_script(monkeypatch):
    _main_module(monkeypatch, None)  # python train.py: __main__ has no spec
    run = Path("runs/a")
    assert resume_command(run, 1) == f"python train.py --resume {run}"
    assert resume_command(run, 2) == f"torchrun --nproc_per_node 2 train.py --resume {run}"
