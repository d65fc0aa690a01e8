"""Reruns into a folder whose maps only had their modification time moved (``touch``, a backup
tool, ``cp -r`` without ``-p``): the bytes are the ones pmgsam wrote, so the maps are still
the tool's (no refusal, ``--skip-existing`` keeps them), while a map of other bytes of the same
size is refused as before, and a manifest of an older pmgsam (no digests) keeps the rule of
size and time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from map_cases import PRODUCER_A, replace_by_hand, run_into, touch_later

from pmgsam.utils.outputs import (
    DIGESTS,
    OutputError,
    changed_maps,
    check_output_dir,
    finished_maps,
    read_manifest,
    write_manifest,
)

NAMES = ["a.png", "b.png"]


@pytest.fixture
def settled(tmp_path) -> Path:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    return out


def test_a_touched_map_is_still_the_tools(settled) -> None:
    touch_later(settled / "b.png")
    assert changed_maps(settled) == []
    check_output_dir(settled, NAMES)  # a plain rerun: not refused
    assert finished_maps(settled, PRODUCER_A, warn=True) == set(NAMES)  # --skip-existing


def test_a_folder_copied_without_its_times_is_rerun_into(settled, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(settled, copy, copy_function=shutil.copy)  # cp -r: times not kept
    assert (copy / "a.png").stat().st_mtime_ns != (settled / "a.png").stat().st_mtime_ns
    check_output_dir(copy, NAMES)
    assert finished_maps(copy, PRODUCER_A, warn=True) == set(NAMES)
    run_into(copy, NAMES, PRODUCER_A)  # the rerun replaces its own maps and records them
    assert changed_maps(copy) == []


def test_a_map_of_other_bytes_and_the_same_size_is_still_refused(settled) -> None:
    replace_by_hand(settled / "b.png")
    assert changed_maps(settled) == ["b.png"]
    with pytest.raises(OutputError, match=r"1 map\(s\) changed since pmgsam wrote them"):
        check_output_dir(settled, NAMES)


def test_a_touched_map_of_an_older_manifest_is_still_refused(settled) -> None:
    record = read_manifest(settled)
    del record[DIGESTS]  # as a pmgsam before digests wrote it: nothing shows the bytes
    write_manifest(settled, record)
    touch_later(settled / "b.png")
    assert changed_maps(settled) == ["b.png"]
