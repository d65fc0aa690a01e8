"""The resume command a stopped run names is started as the run was: ``python -m
pmgsam.train`` for a run started as the installed module (which has no train.py beside it) or by
another pmgsam module run with ``-m`` (``python -m pmgsam.ablate``'s variants, in-process),
``python train.py`` from the source folder; torchrun's form alike."""

from __future__ import annotations

import re
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from pmgsam.engine.resume_checks import check_world_size, resume_command
from pmgsam.utils.config import ConfigError


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


def test_an_ablation_variant_resumes_as_the_module(monkeypatch):
    _main_module(monkeypatch, "pmgsam.ablate")
    run = Path("runs/abl/v1/train")
    assert resume_command(run, 1) == f"python -m pmgsam.train --resume {run}"
    assert resume_command(run, 2) == f"torchrun --nproc_per_node 2 -m pmgsam.train --resume {run}"


def test_another_program_run_with_m_keeps_the_script_form(monkeypatch):
    # python -m pytest, or a user's own module calling the trainer from the source folder.
    for name in ("pytest", "pmgsamx.train", "mylab.pmgsam"):
        _main_module(monkeypatch, name)
        assert resume_command(Path("runs/a"), 1) == "python train.py --resume runs/a"


def test_the_world_size_refusal_names_the_module_form(monkeypatch):
    _main_module(monkeypatch, "pmgsam.train")
    resumed = {"path": "runs/a/checkpoints/last/state.pt", "world_size": 2}
    expected = "resume with torchrun --nproc_per_node 2 -m pmgsam.train --resume runs/a,"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_world_size(resumed, 1)
