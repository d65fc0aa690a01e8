"""Two commands writing one run.json at once keep each other's entries (the folder lock).

Each writer is held, right after it read the old run.json, until the other has read it too
(or, when the lock makes the other wait, for a short timeout): unlocked, both merge into the
same old file and the second rename drops the first's entry.
"""

from __future__ import annotations

import argparse
import errno
import json
import multiprocessing
import os

import pytest

import pmgsam.evaluation.run_json as run_json
from pmgsam.evaluation.folder_row import add_to_run
from pmgsam.utils import folder_lock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the writers are forked")
# How long a writer that has read waits for the other to read too: the other is blocked on
# the lock for that long when there is one.
HOLD_S = 0.5


def _hold_after_read(mine, other):
    real = run_json.read_run_file

    def read_and_wait(path):
        data = real(path)
        mine.set()
        other.wait(HOLD_S)
        return data

    run_json.read_run_file = read_and_wait


def _write_split(run, split, mine, other):
    _hold_after_read(mine, other)
    run_json.write_run_json(run, None, dis={split: {"maxFm": 0.5}})


def _score_folder_split(run, split, mine, other, pred):
    _hold_after_read(mine, other)
    args = argparse.Namespace(
        run=str(run), method="Other", split=split, pred_dir=str(pred), gt_dir=str(pred)
    )
    add_to_run(args, "dis", {"maxFm": 0.5})


def _race(target, run, *extra):
    ctx = multiprocessing.get_context("fork")
    first, second = ctx.Event(), ctx.Event()
    writers = [
        ctx.Process(target=target, args=(run, "DIS-TE1", first, second, *extra)),
        ctx.Process(target=target, args=(run, "DIS-TE2", second, first, *extra)),
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(30)
        assert w.exitcode == 0
    return json.loads((run / "run.json").read_text(encoding="utf-8"))


def test_two_writers_keep_both_splits(tmp_path):
    run = tmp_path / "row"
    run_json.write_run_json(run, "PMG-SAM", dis={"DIS-VD": {"maxFm": 0.1}})
    data = _race(_write_split, run)
    assert sorted(data["dis"]) == ["DIS-TE1", "DIS-TE2", "DIS-VD"]
    assert data["method"] == "PMG-SAM"


def test_two_folder_scorings_keep_both_records(tmp_path):
    # evaluate.py --run: the record of the maps each entry was scored from is merged under
    # the lock too, not read before it.
    pred = tmp_path / "maps"
    pred.mkdir()
    data = _race(_score_folder_split, tmp_path / "row", pred)
    assert sorted(data["dis"]) == ["DIS-TE1", "DIS-TE2"]
    assert sorted(data["meta"]["scored_maps"]) == ["dis/DIS-TE1", "dis/DIS-TE2"]


def test_lock_is_on_the_folder_and_leaves_no_file(tmp_path):
    run_json.write_run_json(tmp_path, "M", dis={"DIS-VD": {"maxFm": 0.1}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


@pytest.mark.parametrize("unlockable", ["no fcntl", "ENOLCK"])
def test_writes_unlocked_where_the_folder_cannot_be_locked(tmp_path, monkeypatch, unlockable):
    # Windows has no fcntl; an NFS mount without a lock daemon refuses flock: the scores are
    # written all the same.
    if unlockable == "no fcntl":
        monkeypatch.setattr(folder_lock, "fcntl", None)
    else:

        class NoLocks:
            LOCK_EX = 2

            @staticmethod
            def flock(fd, op):
                raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(folder_lock, "fcntl", NoLocks)
    run_json.write_run_json(tmp_path / "row", "M", dis={"DIS-VD": {"maxFm": 0.1}})
    run_json.write_run_json(tmp_path / "row", None, cos={"NC4K": {"AP": 0.2}})
    data = json.loads((tmp_path / "row" / "run.json").read_text(encoding="utf-8"))
    assert (sorted(data["dis"]), sorted(data["cos"])) == (["DIS-VD"], ["NC4K"])
