"""A run trained by another pmgsam module started with ``-m`` (``python -m pmgsam.ablate``'s
variants, in-process) names a resume command that exists where it ran: an installed package
has no train.py, and ``python -m pmgsam.train`` works from the source folder too."""

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
