"""Plain helpers of the ``--skip-existing`` tests (inference, benchmark mode, baselines; pytest's
default import mode puts tests/ on the path): :func:`tree`, what a folder holds, to compare a
resumed run's files with a straight run's; :func:`count_reads`, which images a run opened;
:func:`load_as` and :func:`with_other_frozen_weights`, for checkpoints saved before their frozen
branches' SHA-256 were recorded (the loaded model's branches stand in)."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Iterable

import pytest
import torch

from pmgsam.engine import inference


def tree(root: Path) -> Dict[str, str]:
    """sha256 of every file under ``root`` (hidden ones included), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def count_reads(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    names: Iterable[str],
    key: Callable[[Path], str] = lambda path: path.stem,
) -> Counter:
    """Wrap each function ``names`` of ``module`` (each takes the file's path first) so that
    every call counts ``key(path)`` (default: the file's stem) in the returned counter."""
    counts: Counter = Counter()

    def counted(function: Callable) -> Callable:
        def wrapper(path, *args, **kwargs):
            counts[key(Path(path))] += 1
            return function(path, *args, **kwargs)

        return wrapper

    for name in names:
        monkeypatch.setattr(module, name, counted(getattr(module, name)))
    return counts


def load_as(monkeypatch: pytest.MonkeyPatch, model: torch.nn.Module) -> None:
    """Every checkpoint inference and benchmark mode load gives a copy of ``model``."""
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(model))


def with_other_frozen_weights(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the PMG-SAM ``model`` whose frozen U²-Net branch holds other weights."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.u2net.parameters()).add_(1.0)
    return other
