"""Audit of the maps' recorded SHA-256 (``map_digests``): the digest a later run records
replaces the earlier one, a map that cannot be read when hashed is never vouched for by an
older digest, and :func:`map_digest` hashes the whole file. Expected digests come from
:mod:`hashlib`, and each case is one where a stale or missing digest gives another answer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from map_cases import PRODUCER_A, replace_by_hand, run_into, touch_later

from pmgsam.baselines.resume import RECORDS
from pmgsam.utils import outputs
from pmgsam.utils.map_producers import map_digest
from pmgsam.utils.outputs import (
    DIGESTS,
    OutputError,
    changed_maps,
    check_output_dir,
    finished_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
    write_manifest,
)

NAMES = ["a.png", "b.png"]


def _unhashable(monkeypatch, name: str) -> None:
    """``name`` cannot be read when hashed (a permission or I/O error; root reads any mode)."""
    real = outputs.map_digest
    monkeypatch.setattr(
        outputs, "map_digest", lambda path: None if Path(path).name == name else real(path)
    )


def test_a_rerun_records_its_own_digest_so_its_touched_map_stays_the_tools(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A, content="1")
    run_into(out, NAMES, PRODUCER_A, content="2")  # same sizes, other bytes
    assert read_manifest(out)[DIGESTS]["b.png"] == hashlib.sha256(b"2 b.png").hexdigest()
    touch_later(out / "b.png")
    assert changed_maps(out) == []  # a stale digest (run 1's) would refuse run 2's own map
    check_output_dir(out, NAMES)
    assert finished_maps(out, PRODUCER_A, warn=True) == set(NAMES)


def test_each_map_gets_the_digest_of_its_own_file(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    digests = read_manifest(out)[DIGESTS]
    assert digests == {n: hashlib.sha256(f"a {n}".encode()).hexdigest() for n in NAMES}


def test_the_earlier_maps_bytes_put_back_are_no_longer_the_tools(tmp_path) -> None:
    # Run 2 rewrites b.png; the user then puts run 1's b.png (same size) back, newer.
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A, content="1")
    old = (out / "b.png").read_bytes()
    run_into(out, NAMES, PRODUCER_A, content="2")
    (out / "b.png").write_bytes(old)
    touch_later(out / "b.png")
    assert changed_maps(out) == ["b.png"]


def test_a_map_unreadable_when_settled_drops_the_earlier_digest(tmp_path, monkeypatch) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A, content="1")
    old = (out / "b.png").read_bytes()
    with monkeypatch.context() as patch:
        _unhashable(patch, "b.png")
        run_into(out, NAMES, PRODUCER_A, content="2")
    assert "b.png" not in read_manifest(out)[DIGESTS]
    # Run 1's bytes put back (same size, newer): run 1's digest must not vouch for them.
    (out / "b.png").write_bytes(old)
    touch_later(out / "b.png")
    assert changed_maps(out) == ["b.png"]


def test_a_touched_map_unreadable_when_checked_is_not_taken_for_the_tools(
    tmp_path, monkeypatch
) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    touch_later(out / "b.png")
    _unhashable(monkeypatch, "b.png")
    assert changed_maps(out) == ["b.png"]  # its bytes cannot show it is the map written
    record = read_manifest(out)
    del record[DIGESTS]  # an older manifest: no digest and none read must not count as equal
    write_manifest(out, record)
    assert changed_maps(out) == ["b.png"]
    with pytest.raises(OutputError, match=r"1 map\(s\) changed since pmgsam wrote them \(b\.png"):
        check_output_dir(out, NAMES)


def test_an_untouched_map_is_not_read_to_be_checked(tmp_path, monkeypatch) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    _unhashable(monkeypatch, "b.png")  # its size and time match: no need to hash it
    assert changed_maps(out) == []


def test_map_digest_hashes_the_whole_file_and_names_no_digest_for_an_unreadable_one(
    tmp_path,
) -> None:
    head = os.urandom(1 << 20)
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(head + b"\x00" * 10)
    second.write_bytes(head + b"\x01" * 10)  # differs only past the first MiB
    assert map_digest(first) == hashlib.sha256(first.read_bytes()).hexdigest()
    assert map_digest(first) != map_digest(second)
    assert map_digest(tmp_path / "missing.png") is None
    assert map_digest(tmp_path) is None  # a folder where a map should be


def test_a_rerun_of_fewer_maps_keeps_the_digests_of_those_it_does_not_write(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    run_into(out, ["a.png"], PRODUCER_A, warns=True)  # b.png stays, as an earlier run's
    touch_later(out / "b.png")
    assert changed_maps(out) == []  # b.png's bytes are still the ones recorded


def _overwrite_run(out: Path, content: str) -> None:
    """An ``--overwrite`` run writing NAMES (a replaced map keeps its record until settled)."""
    prepare_output_dir(out, NAMES, overwrite=True, tool="inference", producer=PRODUCER_A)
    for name in NAMES:
        (out / name).write_text(f"{content} {name}")
    settle_output_dir(out, NAMES)


def test_an_overwrite_run_replaces_the_digest_of_a_hand_edited_map(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A, content="1")
    replace_by_hand(out / "b.png")
    _overwrite_run(out, "2")
    touch_later(out / "b.png")
    assert changed_maps(out) == []  # run 1's digest kept would refuse run 2's own map


def test_an_overwrite_run_unable_to_hash_a_map_keeps_no_earlier_digest(
    tmp_path, monkeypatch
) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A, content="1")
    old = (out / "b.png").read_bytes()
    replace_by_hand(out / "b.png")
    with monkeypatch.context() as patch:
        _unhashable(patch, "b.png")
        _overwrite_run(out, "2")
    (out / "b.png").write_bytes(old)  # run 1's map put back, newer: not run 2's
    touch_later(out / "b.png")
    assert changed_maps(out) == ["b.png"]


def test_a_hidden_records_file_of_other_bytes_is_no_edited_map(tmp_path) -> None:
    # A baseline's records file is rewritten by each run (and touch alone no longer shows it).
    out = tmp_path / "pred"
    names = [*NAMES, RECORDS]
    run_into(out, names, PRODUCER_A)
    replace_by_hand(out / RECORDS)
    assert changed_maps(out) == [RECORDS]
    check_output_dir(out, names)  # not refused: it is the tool's bookkeeping, no map
