"""Mutation audit of MapWriter (pmgsam.engine.map_writer): the queue's exact bound, when a
writer error surfaces and what it drops, which error a caller sees, the order of NaN notes
collected on an error exit, the inline path's notes, and the CPU split between loader workers
and writer threads.

Each test here failed against a plausible wrong implementation that the earlier tests passed.
"""

from __future__ import annotations

import threading
import time
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, List

import pytest
import torch

from pmgsam.engine import map_writer
from pmgsam.engine.map_writer import MapWriter, prediction_workers
from pmgsam.engine.prediction_maps import NaNPredictionWarning


def _patch_saves(monkeypatch, save: Callable[[object, Path], None]) -> None:
    monkeypatch.setattr(map_writer, "save_levels_png", save)


def _no_space(path: Path) -> OSError:
    return OSError(f"could not write prediction '{path}': No space left on device")


def test_max_pending_maps_are_handed_over_without_waiting(tmp_path, monkeypatch) -> None:
    # max_pending=3 with the one writer held: the third map is still taken at once (a bound
    # one short would make it wait for the first map's write).
    release = threading.Event()
    real = map_writer.save_levels_png

    def held(levels, path: Path) -> None:
        release.wait(5)
        real(levels, path)

    _patch_saves(monkeypatch, held)
    with MapWriter(1, max_pending=3) as maps:
        start = time.perf_counter()
        for name in "abc":
            maps.write(torch.zeros(3, 3), tmp_path / f"{name}.png")
        handed_over = time.perf_counter() - start
        release.set()
    assert handed_over < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]


def test_a_writer_error_is_raised_by_the_next_write_not_only_on_leaving(tmp_path, monkeypatch):
    # A full disk must stop the run at the next map, not after max_pending more predictions.
    b_started = threading.Event()
    real = map_writer.save_levels_png

    def save(levels, path: Path) -> None:
        if path.name == "a.png":
            raise _no_space(path)
        b_started.set()
        real(levels, path)

    _patch_saves(monkeypatch, save)
    went_on: List[str] = []
    with pytest.raises(OSError, match=r"a\.png': No space"):
        with MapWriter(1, max_pending=10) as maps:
            maps.write(torch.zeros(3, 3), tmp_path / "a.png")
            maps.write(torch.zeros(3, 3), tmp_path / "b.png")
            assert b_started.wait(10)  # one thread, in order: a's write has failed by now
            maps.write(torch.zeros(3, 3), tmp_path / "c.png")
            went_on.append("c")
    assert went_on == [] and not (tmp_path / "c.png").exists()


def test_a_writer_error_on_leaving_drops_the_maps_not_yet_started(tmp_path, monkeypatch):
    go = threading.Event()
    saved: List[str] = []
    queued: List[Future] = []  # c's and d's writes
    real = map_writer.save_levels_png

    def save(levels, path: Path) -> None:
        if path.name == "a.png":
            go.wait(10)
            raise _no_space(path)
        # Held until the caller has dropped c and d (or 10 s, when it never does): without
        # the hold, a caller slower than this write would see the thread start c.
        deadline = time.monotonic() + 10
        while not all(task.cancelled() for task in queued) and time.monotonic() < deadline:
            time.sleep(0.01)
        real(levels, path)
        saved.append(path.name)

    _patch_saves(monkeypatch, save)
    with pytest.raises(OSError, match=r"a\.png': No space"):
        with MapWriter(1, max_pending=10) as maps:
            for name in "abcd":
                maps.write(torch.zeros(3, 3), tmp_path / f"{name}.png")
            queued.extend(
                task for task, path, _ in maps._pending if path.name in ("c.png", "d.png")
            )
            assert len(queued) == 2
            go.set()
    # b may have started when a failed (then it finishes, whole); c and d had not.
    assert saved in ([], ["b.png"])
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "d.png").exists()


def test_the_callers_error_stays_the_one_raised_after_a_writer_error(tmp_path, monkeypatch):
    handed_over, b_started = threading.Event(), threading.Event()
    real = map_writer.save_levels_png

    def save(levels, path: Path) -> None:
        if path.name == "a.png":
            handed_over.wait(10)  # fail only once b is queued: no write() sees the error
            raise _no_space(path)
        b_started.set()
        real(levels, path)

    _patch_saves(monkeypatch, save)
    with pytest.raises(KeyError, match="stop"):
        with MapWriter(1, max_pending=10) as maps:
            maps.write(torch.zeros(3, 3), tmp_path / "a.png")
            maps.write(torch.zeros(3, 3), tmp_path / "b.png")
            handed_over.set()
            assert b_started.wait(10)
            raise KeyError("stop")
    assert (tmp_path / "b.png").exists() and not (tmp_path / "a.png").exists()


def test_nan_notes_collected_on_an_error_exit_keep_the_prediction_order(tmp_path, monkeypatch):
    # Overlapped copies (as on a GPU): the NaN counts come back with the writes. Both writes
    # are still running when the second map is handed over, so both notes are collected on
    # leaving.
    monkeypatch.setattr(map_writer, "_overlaps", lambda prob: True)
    real = map_writer.save_levels_png

    def slow(levels, path: Path) -> None:
        time.sleep(0.3)
        real(levels, path)

    _patch_saves(monkeypatch, slow)
    first, second = torch.zeros(3, 3), torch.zeros(2, 5)
    first[0, 0] = float("nan")
    second[1, 1:4] = float("nan")
    noted: List[str] = []
    with pytest.raises(KeyError, match="stop"):
        with MapWriter(2, noted, max_pending=10) as maps:
            maps.write(first, tmp_path / "x1.png")
            maps.write(second, tmp_path / "x2.png")
            deadline = time.monotonic() + 30
            while len(list(tmp_path.glob("x*.png"))) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyError("stop")
    assert noted == [
        f"'{tmp_path / 'x1.png'}' (NaN at 1 of its 9 pixels)",
        f"'{tmp_path / 'x2.png'}' (NaN at 3 of its 10 pixels)",
    ]


def test_inline_writes_note_nan_maps_in_the_callers_list(tmp_path) -> None:
    prob = torch.full((2, 3), 0.4)
    prob[1, 2] = float("nan")
    noted: List[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", NaNPredictionWarning)  # the caller warns once, later
        with MapWriter(0, noted) as maps:
            maps.write(prob, tmp_path / "i.png")
    assert noted == [f"'{tmp_path / 'i.png'}' (NaN at 1 of its 6 pixels)"]


def test_negative_writer_threads_are_refused_naming_the_option() -> None:
    with pytest.raises(ValueError, match="threads must be 0 or more, got -1"):
        MapWriter(-1)


def test_a_quarter_of_the_cpus_is_kept_for_the_writer(monkeypatch) -> None:
    # 12 CPUs: 12 // 4 = 3 writer threads, 1 for the process, 12 - 1 - 3 = 8 loader workers.
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 12)
    assert prediction_workers(torch.device("cuda")) == 8
