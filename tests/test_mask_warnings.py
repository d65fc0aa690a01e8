"""Label-mask warnings from DataLoader workers name each file once per run, at most a few."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from pmgsam.data import io, mask_warnings
from pmgsam.utils.messages import FilesNamedOnce


@pytest.fixture
def fresh_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new run's record of named files (earlier tests of this process may have named some)."""
    monkeypatch.setattr(mask_warnings, "_NAMED", FilesNamedOnce())


class Masks(Dataset):
    """Reads one mask per item through load_mask, as SegmentationDataset does."""

    def __init__(self, paths: List[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> int:
        return int(io.load_mask(self.paths[index]).max())


def _log_warnings_to(log: Path):
    """worker_init_fn: the worker's warnings go to ``log`` (pytest records them in-process)."""

    def init(worker_id: int) -> None:
        def show(message, category, filename, lineno, file=None, line=None):
            with open(log, "a") as f:
                f.write(f"{category.__name__}: {message}\n")

        warnings.simplefilter("always")  # Python's own once-per-process rule is not the test
        warnings.showwarning = show

    return init


class LogAndShare:
    """A worker_init_fn that spawned workers can receive: shares the named files, logs."""

    def __init__(self, log: Path) -> None:
        self.share = io.worker_warnings_init()
        self.log = log

    def __call__(self, worker_id: int) -> None:
        self.share(worker_id)
        _log_warnings_to(self.log)(worker_id)


def _label_masks(folder: Path, count: int) -> List[Path]:
    paths = []
    for i in range(count):  # 0/1 label masks: each one warns when read
        paths.append(folder / f"m{i}.png")
        cv2.imwrite(str(paths[-1]), (np.arange(64).reshape(8, 8) % (i + 2) == 0).astype(np.uint8))
    return paths


def test_workers_name_each_label_mask_once_per_run_and_stop_after_a_few(
    tmp_path, monkeypatch, fresh_run
):
    monkeypatch.setattr(mask_warnings, "NAMED_MASK_FILES", 3)
    paths = _label_masks(tmp_path, 5)
    log = tmp_path / "warnings.log"
    loader = DataLoader(
        Masks(paths), batch_size=1, num_workers=2, worker_init_fn=_log_warnings_to(log)
    )
    for _ in range(3):  # three epochs, each with two new worker processes
        assert sorted(int(b) for b in loader) == [255] * 5
    lines = log.read_text().splitlines()
    named = [ln.split("'")[1] for ln in lines]
    assert len(lines) == 3 and len(set(named)) == 3, lines  # once each, three files in all
    assert all(ln.startswith("MaskValueWarning: ") and "0/1 labels" in ln for ln in lines)
    assert sum("any later ones are read the same way" in ln for ln in lines) == 1
    # Outside workers every read still warns (evaluation collects and summarises them).
    with pytest.warns(io.MaskValueWarning, match="m0.png"):
        io.load_mask(paths[0])


def test_spawned_workers_share_the_named_files(tmp_path, fresh_run):
    # Workers started by "spawn" (macOS, Windows; Linux's forkserver from Python 3.14) import
    # the package afresh: without the shared state each one would name every file again.
    # One epoch of two workers (each spawn imports torch, seconds): they share the state
    # through this process's, which the next epoch's workers would receive the same way.
    paths = _label_masks(tmp_path, mask_warnings.NAMED_MASK_FILES + 2)
    log = tmp_path / "warnings.log"
    loader = DataLoader(
        Masks(paths),
        batch_size=1,
        num_workers=2,
        worker_init_fn=LogAndShare(log),
        multiprocessing_context="spawn",
    )
    assert sorted(int(b) for b in loader) == [255] * len(paths)
    lines = log.read_text().splitlines()
    named = [ln.split("'")[1] for ln in lines]
    assert len(lines) == mask_warnings.NAMED_MASK_FILES == len(set(named)), lines
    assert sum("any later ones are read the same way" in ln for ln in lines) == 1
    # The workers recorded every file read in this process's state: all named already.
    assert all(mask_warnings._NAMED.first(str(p)) is None for p in paths)
    assert mask_warnings._NAMED.first("unread.png") == len(paths)


def test_named_files_pickled_outside_a_process_start_arrive_empty_and_unshared():
    import copy
    import pickle

    named = FilesNamedOnce()
    assert named.first("a.png") == 0
    for other in (pickle.loads(pickle.dumps(named)), copy.deepcopy(named)):
        assert not other.inherited
        assert other.first("a.png") == 0 and other.first("b.png") == 1  # its own, empty state
    assert named.first("a.png") is None and named.first("c.png") == 1  # the original untouched
